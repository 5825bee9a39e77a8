"""Metrics of the API's traffic: HTTP requests (``MetricsMiddleware``), GraphQL operations by
contract name, websockets and subscriptions connected. Labels stay bounded: a route is its
template, an operation outside the contract is "other"."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import (
    API_REQUEST_DURATION,
    GRAPHQL_OPERATIONS,
    HTTP_REQUESTS,
    OTHER,
    SUBSCRIPTIONS_CONNECTED,
    WEBSOCKETS_CONNECTED,
)

# --- HTTP requests --------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


@lru_cache(maxsize=256)
def _template(path: str, mount: bool) -> str:
    template = _CONVERTOR.sub(r"{\1}", path)  # "/tasks/{task_id:int}" -> "/tasks/{task_id}"
    return f"{template.rstrip('/')}/{{path}}" if mount else template or "/"


def route_label(scope: Scope) -> str:
    """The template of the route the router matched (set in ``scope["route"]``), else "other":
    a 404 never puts the path it was given into a label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return OTHER
    return _template(path, isinstance(route, Mount))


class MetricsMiddleware:
    """api_request_duration and http_requests_total for every HTTP request (pure ASGI, so
    streaming responses pass through; websockets are long-lived and not timed here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the outer error handler answers if the app raises before a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope.get("method", "GET")
            labels = (method if method in _METHODS else OTHER, route_label(scope), str(status))
            API_REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(*labels).inc()


# --- GraphQL operations ---------------------------------------------------------------------

#: The operations of the frontend contract (frontend-contract/operations/*.graphql) and their
#: types: the only names that become labels. tests/unit/test_metrics.py checks the files.
CONTRACT_OPERATIONS: Mapping[str, str] = {
    **dict.fromkeys(
        [
            "CancelInstance",
            "ClaimTask",
            "CompleteExternalTask",
            "CompleteTask",
            "DeployDefinition",
            "ExtendExternalTaskLock",
            "FailExternalTask",
            "FetchAndLockExternalTasks",
            "Login",
            "Logout",
            "RefreshToken",
            "ReportExternalTaskError",
            "ResumeInstance",
            "RetryIncident",
            "SendMessage",
            "SetVariables",
            "StartInstance",
            "SuspendInstance",
            "UnclaimTask",
        ],
        "mutation",
    ),
    **dict.fromkeys(
        [
            "DashboardInbox",
            "DashboardInstances",
            "DefinitionSource",
            "Definitions",
            "IncidentsPage",
            "InstanceDetail",
            "InstancesPage",
            "Me",
            "MyTasks",
            "TaskDetail",
        ],
        "query",
    ),
    **dict.fromkeys(
        ["DashboardCounters", "InstanceChanges", "InstanceEvents", "TaskChanges"], "subscription"
    ),
}
_OPERATION_TYPES = ("query", "mutation", "subscription")
_FIRST_KEYWORD = re.compile(r"(?:\s|,|#[^\n]*)*(query|mutation|subscription)\b")
_FIRST_NAME = re.compile(r"(?:\s|,|#[^\n]*)*(?:query|mutation|subscription)\s+(\w+)")


def operation_label(name: str | None) -> str:
    return name if name is not None and name in CONTRACT_OPERATIONS else OTHER


def operation_type(query: str | None, name: str | None) -> str:
    """query | mutation | subscription of the operation ``name`` of ``query`` (anonymous: the
    document's first), without parsing the document again."""
    if name is not None and name in CONTRACT_OPERATIONS:
        return CONTRACT_OPERATIONS[name]
    if not query:
        return "query"
    if name:
        found = re.search(rf"\b(query|mutation|subscription)\s+{re.escape(name)}\b", query)
    else:
        found = _FIRST_KEYWORD.match(query)
    return found.group(1) if found else "query"  # "{ ... }" is a query


def graphql_operation(query: str | None, name: str | None, *, ok: bool) -> None:
    """Counts one executed (or refused) operation; without ``operationName`` in the request,
    the name is that of the document's first operation."""
    if name is None and query:
        found = _FIRST_NAME.match(query)
        name = found.group(1) if found else None
    kind = operation_type(query, name)
    GRAPHQL_OPERATIONS.labels(kind, operation_label(name), "ok" if ok else "error").inc()


@contextmanager
def websocket_open() -> Iterator[None]:
    WEBSOCKETS_CONNECTED.inc()
    try:
        yield
    finally:
        WEBSOCKETS_CONNECTED.dec()


FEEDS = frozenset({"instanceEvents", "instanceChanges", "taskChanges", "dashboardCounters"})


@contextmanager
def subscription_running(feed: str, operation: str | None) -> Iterator[None]:
    """Around one subscription: connected while it runs; counted as a GraphQL operation when
    it ends (ok, or error when it raised)."""
    gauge = SUBSCRIPTIONS_CONNECTED.labels(feed if feed in FEEDS else OTHER)
    gauge.inc()
    outcome = "ok"
    try:
        yield
    except Exception:
        outcome = "error"
        raise
    finally:
        gauge.dec()
        GRAPHQL_OPERATIONS.labels("subscription", operation_label(operation), outcome).inc()
