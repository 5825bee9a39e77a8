"""Logs and traces across processes (server.logs, server.telemetry).

- With real processes (an API and an arq worker on PostgreSQL and Redis), a start-instance
  request with a known W3C ``traceparent`` and ``X-Request-ID``: the worker's JSON log lines
  for its jobs carry that trace id and request id; so do the embedded server's (the
  in-process runner).
- With no OTLP endpoint, nothing is recorded or exported and no exporter thread runs; with
  one (a small OTLP/HTTP receiver on 127.0.0.1 here), the spans of the request, its database
  statements, its Redis calls, the worker's job and its handler arrive, in one trace.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import propagate, trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import SERVICE_NAME
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.auth import ENV as AUTH_ENV
from support.auth import create_user, http_login
from support.processes import Process, cluster

from server import migrations, telemetry
from server.app import _internal_error
from server.logs import make_handler
from server.request_id import RequestIdMiddleware, bound_request_id, current_request_id
from server.telemetry import (
    SERVICE_API,
    SERVICE_WORKER,
    TracingMiddleware,
    build_provider,
    continued,
    export_endpoint,
    job_carrier,
    job_span,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ORDER = json.loads((ROOT / "examples" / "order-processing.json").read_text(encoding="utf-8"))
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
WAIT_SECONDS = 60.0


# --- an OTLP/HTTP receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Receiver:
    """Accepts ``POST /v1/traces`` (protobuf, as the OTLP/HTTP exporter sends) and keeps the
    spans."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(attributes.get(SERVICE_NAME))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.posts += 1
            self.spans.extend(found)

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind is not None else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


# --- the provider, in this process --------------------------------------------------------------


def exporter_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("OtelBatch")]


def test_without_an_endpoint_nothing_is_recorded_nor_exported() -> None:
    before = exporter_threads()
    tracing = build_provider(SERVICE_API, {})
    assert tracing.provider is not None and not tracing.exporting
    span = tracing.provider.get_tracer("tests").start_span("request")
    # ids for the log lines, nothing recorded, no exporter and no thread to send anything
    assert span.get_span_context().is_valid
    assert not span.is_recording()
    assert exporter_threads() == before
    tracing.shutdown()


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, "http://jaeger:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}, "http://jaeger:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/x"}, "http://c:4318/x"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_TRACES_EXPORTER": "none"},
            None,
        ),
    ],
)
def test_the_endpoint_comes_from_the_standard_variables(
    environ: dict[str, str], endpoint: str | None
) -> None:
    assert export_endpoint(environ) == endpoint


def test_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    tracing = build_provider(SERVICE_WORKER, {})
    assert tracing.provider is not None
    attributes = tracing.provider.resource.attributes
    assert attributes[SERVICE_NAME] == "workflow-engine-worker"
    assert attributes["deployment.environment"] == "test"  # the variable's attributes are kept
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed")
    renamed = build_provider(SERVICE_WORKER, {"OTEL_SERVICE_NAME": "renamed"}).provider
    assert renamed is not None and renamed.resource.attributes[SERVICE_NAME] == "renamed"


def test_sdk_disabled_means_no_provider() -> None:
    environ = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1"}
    tracing = build_provider(SERVICE_API, environ)
    assert tracing.provider is None and not tracing.exporting


def test_with_an_endpoint_spans_are_exported(receiver: Receiver) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "renamed"}
    tracing = build_provider(SERVICE_API, environ)
    assert tracing.provider is not None and tracing.exporting
    try:
        with tracing.provider.get_tracer("tests").start_as_current_span("work") as span:
            assert span.is_recording()
        tracing.provider.force_flush()
        [received] = receiver.spans
        assert (received.service, received.name) == ("renamed", "work")
    finally:
        tracing.shutdown()


def test_a_carrier_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the API puts in a job is what the worker continues; a job without a carrier (or
    with a damaged one: it is data from Redis) runs in a context of its own."""
    tracing = build_provider(SERVICE_API, {})
    assert tracing.provider is not None
    tracer = tracing.provider.get_tracer("tests")
    monkeypatch.setattr(telemetry, "_tracer", tracer)
    parent = propagate.extract({"traceparent": TRACEPARENT})
    with bound_request_id("req-5"), tracer.start_as_current_span("request", context=parent):
        carrier = job_carrier()
    assert carrier is not None and carrier["x-request-id"] == "req-5"
    assert job_carrier() is None  # outside any request and span: nothing to carry

    def seen() -> tuple[str | None, str | None]:
        context = trace.get_current_span().get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else None
        return current_request_id(), trace_id

    with continued(carrier), job_span("job X"):
        assert seen() == ("req-5", TRACE_ID)
    for damaged in (None, {}, "junk", {"traceparent": "00-zz", "x-request-id": "a\nFAKE"}):
        with continued(damaged):
            assert seen() == (None, None)
    assert seen() == (None, None)


async def test_an_unhandled_errors_line_keeps_the_requests_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starlette's 500 handler runs after the middlewares have returned (the span ended, the
    request id reset): its line still carries both."""
    tracing = build_provider(SERVICE_API, {})
    assert tracing.provider is not None
    monkeypatch.setattr(telemetry, "_tracer", tracing.provider.get_tracer("tests"))

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/crash", crash)],
        exception_handlers={Exception: _internal_error},
        middleware=[Middleware(RequestIdMiddleware), Middleware(TracingMiddleware)],
    )
    stream = io.StringIO()
    logger = logging.getLogger("server.app")
    monkeypatch.setattr(logger, "handlers", [make_handler("json", stream)])
    monkeypatch.setattr(logger, "propagate", False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(
            "/crash", headers={"traceparent": TRACEPARENT, "x-request-id": "crash-1"}
        )
    assert response.status_code == 500
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["request_id"], line["trace_id"]) == ("crash-1", TRACE_ID)
    assert "RuntimeError: boom" in line["exception"]


# --- real processes -----------------------------------------------------------------------------


@pytest.fixture
async def database(fresh_postgres_url: str) -> str:
    await migrations.upgrade(fresh_postgres_url)
    await create_user(fresh_postgres_url, "alice", "admin")
    return fresh_postgres_url


@pytest.fixture
def env(database: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    plain = make_url(database).set(drivername="postgresql")
    return {
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "HANDLER_MODULES": "server.demo_services",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        **AUTH_ENV,
    }


async def start_order(api: str, request_id: str) -> int:
    """Deploy the order process, then start an instance with a traceparent and request id."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        headers = await http_login(client, "alice")
        deployed = await client.post(
            "/graphql",
            headers=headers,
            json={
                "query": "mutation D($d: JSON!) { deployDefinition(definition: $d) "
                "{ __typename } }",
                "variables": {"d": ORDER},
            },
        )
        assert "errors" not in deployed.json(), deployed.text
        started = await client.post(
            "/graphql",
            headers={**headers, "traceparent": TRACEPARENT, "X-Request-ID": request_id},
            json={
                "query": "mutation StartOrder($k: String!, $v: JSON) { startInstance(key: $k, "
                "variables: $v) { __typename ... on InstanceSuccess { instance { id } } } }",
                "variables": {
                    "k": "order-processing",
                    "v": {"order_id": "ORDER-1", "total_amount": 500},
                },
            },
        )
    assert started.headers["x-request-id"] == request_id
    data = started.json()["data"]["startInstance"]
    assert data["__typename"] == "InstanceSuccess", started.text
    instance_id: int = data["instance"]["id"]
    return instance_id


def json_lines(process: Process) -> list[dict[str, Any]]:
    found = []
    for line in process.log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


async def job_lines(process: Process, instance_id: int, count: int) -> list[dict[str, Any]]:
    """The JSON lines of ``process`` saying a job of the instance completed (``count``)."""
    marker = f"of instance {instance_id}"
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            lines = [
                r
                for r in json_lines(process)
                if marker in str(r.get("message")) and "completed" in str(r.get("message"))
            ]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.2)


def assert_plain_json(process: Process) -> None:
    """Every line the process wrote is one JSON object (nothing bypassed the handler)."""
    text = process.log.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        record = json.loads(line)
        assert set(record) >= {"time", "level", "logger", "message", "request_id", "trace_id"}


async def test_the_workers_job_lines_carry_the_requests_trace_and_request_ids(
    env: dict[str, str], tmp_path: Path
) -> None:
    with cluster(env, tmp_path / "logs") as running:
        api = running.api()
        worker = running.worker()
        instance_id = await start_order(api.url, "order-req-1")
        # validate, three checks, ship: each a job of the worker (the first from the API's
        # enqueue, the rest inline in its chain or enqueued by the worker)
        lines = await job_lines(worker, instance_id, 5)
        for line in lines:
            assert line["logger"] == "workers.jobs"
            assert line["request_id"] == "order-req-1", line
            assert line["trace_id"] == TRACE_ID, line
            assert line["span_id"] not in (None, PARENT_ID)
        # the API's own lines of that request: its access line among them
        api_lines = [r for r in json_lines(api) if r["request_id"] == "order-req-1"]
        assert any(r["logger"] == "uvicorn.access" for r in api_lines), api_lines
        assert {r["trace_id"] for r in api_lines} == {TRACE_ID}
        # arq's and uvicorn's lines go through the same JSON handler
        assert any(r["logger"].startswith("arq") for r in json_lines(worker))
        running.stop()
        assert_plain_json(api)
        assert_plain_json(worker)


async def test_the_in_process_runner_keeps_the_requests_ids(tmp_path: Path) -> None:
    """Embedded (SQLite, no Redis): jobs run as tasks of the API process, in the context of
    the request that started them."""
    path = tmp_path / "embedded.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrations.upgrade(url)
    await create_user(url, "alice", "admin")
    env = {"SQLITE_PATH": str(path), "HANDLER_MODULES": "server.demo_services", **AUTH_ENV}
    with cluster(env, tmp_path / "logs") as running:
        api = running.api()
        instance_id = await start_order(api.url, "embedded-req-1")
        lines = await job_lines(api, instance_id, 5)
    for line in lines:
        assert line["logger"] == "server.runner"
        assert (line["request_id"], line["trace_id"]) == ("embedded-req-1", TRACE_ID), line


def _by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in spans}


async def test_spans_of_the_api_database_redis_worker_and_handler_share_one_trace(
    env: dict[str, str], tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        **env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms between exports (5 s by default)
    }
    with cluster(env, tmp_path / "logs") as running:
        api = running.api()
        running.worker()
        instance_id = await start_order(api.url, "traced-req-1")
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            spans = receiver.of_trace(TRACE_ID)
            handlers = [s for s in spans if s.name.startswith("handler ")]
            known = {PARENT_ID, *_by_id(spans)}
            whole = all(s.parent_id in known for s in spans)  # a job's span ends after its chain
            if (len(handlers) >= 5 and whole) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    assert len(handlers) >= 5, spans
    by_id = _by_id(spans)
    # the request: a server span continuing the client's traceparent, named after the operation
    [request] = [s for s in spans if s.parent_id == PARENT_ID]
    assert (request.service, request.kind) == (SERVICE_API, 2)  # SPAN_KIND_SERVER
    assert request.name == "POST /graphql mutation StartOrder"
    assert request.attributes["graphql.operation.name"] == "StartOrder"
    assert request.attributes["http.response.status_code"] == 200
    # its database statements and Redis calls (the enqueue), children of the request
    children = [s for s in spans if s.parent_id == request.span_id]
    assert any("db.system" in s.attributes or "db.system.name" in s.attributes for s in children)
    assert any(s.name.startswith(("EVAL", "WATCH", "MULTI", "ZADD", "PSETEX")) for s in children)
    # the worker's first job: a child of the request, in the worker's service
    [first] = [s for s in children if s.name.startswith("job ")]
    assert first.service == SERVICE_WORKER
    assert first.name == "job OrderValidationService"
    assert first.attributes["workflow.instance.id"] == instance_id
    # every handler span is a child of a job span of the worker, whose chain leads to the request
    for handler in handlers:
        job = by_id[handler.parent_id]
        assert job.name.startswith("job ") and job.service == "workflow-engine-worker"
        ancestor = job
        while ancestor.span_id != request.span_id:
            ancestor = by_id[ancestor.parent_id]
    [validate] = [h for h in handlers if h.parent_id == first.span_id]
    assert validate.name == "handler OrderValidationService.validate"
    # arq's polls, the sweeper and the outbox relay (database and Redis calls outside any
    # request or job) start no trace of their own
    assert not [s for s in receiver.spans if s.kind == 3 and not s.parent_id]  # CLIENT roots
