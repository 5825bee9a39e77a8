"""The built-in ``http`` service: a service task that calls a URL.

A step names it with ``service_name: "http"``; its input variables say what to call::

    {"id": "notify_shop", "type": "service_task",
     "config": {"service_name": "http", "method": "post", "timeout": "10s",
                "input": {"url": "https://shop.example/hooks/order", "json": {"id": "${order_id}"}},
                "output": {"shop_status": "${result.status}"}}}

- ``url`` (required, http or https); ``method``: the variable, else the step's ``method`` when
  it is an HTTP verb, else GET.
- ``headers``, ``params`` (query string): objects of strings.
- ``json`` (any value) or ``body`` (a string) is the request body; with neither, a POST, PUT or
  PATCH sends the other input variables as JSON.

The result is ``{"status": <code>, "body": <JSON, or text>}``. A 5xx, 408 or 429 answer, or a
connection error, is a technical failure: retried by the step's policy. Any other 4xx is a
business error with the code ``HTTP_<status>`` (``HTTP_404``): never retried, an ``error_event``
with that code can route it. The step's timeout applies to the whole call (``invoke`` cancels it),
so the client itself has none. Every request carries ``Idempotency-Key`` (the attempt's key),
so a server can recognise a call delivered twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import httpx

from server.handlers import BusinessError, HandlerRegistry, TaskContext, service

SERVICE_NAME: Final = "http"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
CONFIG_KEYS: Final = frozenset({"url", "method", "headers", "params", "json", "body"})
RETRYABLE_4XX: Final = frozenset({408, 429})
MAX_RESPONSE_BYTES: Final = 1024 * 1024  # the body becomes a variable: stored, sent to clients


class HttpCallFailed(Exception):
    """A technical failure of the call (retryable): its message names the request."""


class HttpService:
    """The handler of ``http``: one shared ``httpx.AsyncClient``, opened on first use (nothing
    connects when handlers are registered), closed by ``aclose``."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self._owns_client = client is None
        service(SERVICE_NAME)(self)  # the handler of every method of "http"

    async def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        method, url, request = _request(ctx)
        headers = request.setdefault("headers", {})
        if not any(name.lower() == "idempotency-key" for name in headers):
            headers["Idempotency-Key"] = ctx.idempotency_key
        where = f"{method} {url}"
        try:
            async with self.client.stream(method, url, **request) as response:
                content = await _read(response, where)
        except httpx.TransportError as error:
            raise HttpCallFailed(f"{where}: {type(error).__name__}: {error}") from error
        status = response.status_code
        if status >= 500 or status in RETRYABLE_4XX:
            raise HttpCallFailed(f"{where} answered {status} {response.reason_phrase}")
        if status >= 400:
            raise BusinessError(
                f"HTTP_{status}", f"{where} answered {status} {response.reason_phrase}"
            )
        return {"status": status, "body": _body(response, content)}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # no client timeout: the step's timeout bounds the whole call
            self._client = httpx.AsyncClient(timeout=None, follow_redirects=True)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None


def handler_registry(
    modules: Iterable[str] = (), *, http: HttpService | None = None
) -> HandlerRegistry:
    """A registry with the built-in services (``http``) and the handlers of ``modules``: what
    every composition root (the API's in-process runner, an arq worker) builds."""
    registry = HandlerRegistry()
    registry.add(http or HttpService())
    registry.load_modules(modules)
    return registry


async def close_builtins(registry: HandlerRegistry) -> None:
    """Close the built-in services' resources (the http client) of ``registry``."""
    handler = registry.resolve(SERVICE_NAME, None)
    if isinstance(handler, HttpService):
        await handler.aclose()


# --- the request ------------------------------------------------------------------------------


def _invalid(message: str) -> BusinessError:
    return BusinessError("HTTP_INVALID_REQUEST", message)


def _request(ctx: TaskContext) -> tuple[str, str, dict[str, Any]]:
    """(method, url, keyword arguments of ``httpx.AsyncClient.stream``) from the input."""
    variables = ctx.variables
    url = variables.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _invalid(f"the input variable 'url' must be an http(s) URL, got {url!r}")
    chosen = variables.get("method")
    if chosen is None:
        step_method = (ctx.method or "").upper()
        chosen = step_method if step_method in METHODS else "GET"
    if not isinstance(chosen, str) or chosen.upper() not in METHODS:
        raise _invalid(f"'method' must be one of {', '.join(sorted(METHODS))}, got {chosen!r}")
    method = chosen.upper()
    request: dict[str, Any] = {}
    for name in ("headers", "params"):
        value = variables.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _invalid(f"the input variable {name!r} must be an object")
        request[name] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    request.setdefault("headers", {})
    if "json" in variables:
        request["json"] = variables["json"]
    elif "body" in variables:
        body = variables["body"]
        if not isinstance(body, str):
            raise _invalid("the input variable 'body' must be a string (use 'json' for a value)")
        request["content"] = body.encode()
    elif method in WITH_BODY:
        request["json"] = {k: v for k, v in variables.items() if k not in CONFIG_KEYS}
    return method, url, request


# --- the response -----------------------------------------------------------------------------


async def _read(response: httpx.Response, where: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BusinessError(
                "HTTP_RESPONSE_TOO_LARGE",
                f"{where}: the response is larger than {MAX_RESPONSE_BYTES} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _body(response: httpx.Response, content: bytes) -> Any:
    """JSON when the response says so (or looks like it), else text; ``None`` when empty."""
    if not content:
        return None
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if "json" in response.headers.get("content-type", "") or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text
