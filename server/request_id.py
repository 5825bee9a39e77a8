"""Request ids: one id per HTTP request or websocket connection, to find its log lines.

``RequestIdMiddleware`` keeps a well-formed incoming ``X-Request-ID`` (a proxy or the client
may set one, so a call can be followed across services), or makes one; it is then

- the ``X-Request-ID`` header of the response (and of the websocket handshake's accept),
- ``current_request_id()``, a context variable that tasks started by the request inherit,
- ``scope["state"]["request_id"]``: Starlette's outermost error handler runs outside this
  middleware, after the context variable is reset, but sees the same scope,
- ``record.request_id`` of every log record, through ``RequestIdFilter`` on a handler
  (``server.logs`` configures the handlers).

A job carries the id of the request that started it (``server.telemetry``): the worker runs
it under ``bound_request_id``, so that its log lines carry the same id.

An incoming id is kept only when short and of a safe charset: it goes into log lines, where
newlines or control characters would let a client forge entries.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
MAX_LENGTH = 128
NO_REQUEST = "-"  # in log records made outside any request
_SAFE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or websocket connection) this code runs for, if any."""
    return _current.get()


def valid_request_id(value: str) -> bool:
    return _SAFE.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Run the block as part of the request ``request_id`` (a job it started); an id that is
    not well formed (a carrier is data from Redis) or None leaves the current one."""
    if request_id is None or not valid_request_id(request_id):
        yield
        return
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def scope_request_id(scope: Scope) -> str | None:
    """The id this middleware gave the request of ``scope`` (None before it ran)."""
    state: dict[str, Any] = scope.get("state") or {}
    found = state.get("request_id")
    return found if isinstance(found, str) else None


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): streaming responses and websockets pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, HEADER.encode())
        request_id = incoming if incoming and valid_request_id(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = _current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                text: str = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text
    return None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record through the handler it is attached to (a filter
    on a handler sees the records of every logger, a filter on a logger only its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or NO_REQUEST
        return True
