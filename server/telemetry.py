"""OpenTelemetry tracing: the process's tracer provider, the HTTP server span, and the trace
context a job carries from the request that enqueued it to the worker that runs it.

``setup_tracing(service)`` (``serve``, ``worker``) always installs a tracer provider, so that
every request and job has a trace id (its log lines carry it, ``server.logs``). Spans are
exported over OTLP/HTTP only when the standard variables say where to
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``); otherwise nothing
is recorded (the sampler drops every span: ids without the cost of spans), no exporter exists
and no exporter thread runs. ``OTEL_SDK_DISABLED=true`` turns tracing off entirely (no trace
ids either), ``OTEL_TRACES_EXPORTER=none`` keeps the ids but exports nothing,
``OTEL_SERVICE_NAME`` renames the service.

When exporting, the database (``instrument_engine``, per engine) and Redis are instrumented
too. A database or Redis call outside any request or job (an arq poll, the sweeper, the outbox
relay) would start a trace of its own many times a second: such root client spans are dropped.

A job carries ``job_carrier()`` (W3C ``traceparent``, ``tracestate`` and the request id) in its
arq arguments; the worker runs it ``continued(carrier)``, inside ``job_span``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from server.request_id import bound_request_id, current_request_id

log = logging.getLogger(__name__)

SERVICE_API: Final = "workflow-engine-api"
SERVICE_WORKER: Final = "workflow-engine-worker"
CARRIER_REQUEST_ID: Final = "x-request-id"  # beside traceparent in a job's carrier
_PROPAGATED: Final = (b"traceparent", b"tracestate", b"baggage")
_NUMBER: Final = re.compile(r"/\d+(?=/|$)")
_SCOPE_KEY: Final = "otel_span"  # the request's span in scope["state"]

_tracer = trace.get_tracer(__name__)  # a proxy: the provider set later is the one used
_exporting = False  # set by setup_tracing: whether to instrument engines and Redis
_http_span: ContextVar[Span | None] = ContextVar("http_span", default=None)


# --- the provider -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tracing:
    """What ``setup_tracing`` installed: ``provider`` None when the SDK is disabled."""

    provider: TracerProvider | None
    exporting: bool

    def shutdown(self) -> None:
        """Export what is buffered and stop (also done at exit by the provider itself)."""
        if self.provider is not None:
            self.provider.shutdown()


def export_endpoint(environ: Mapping[str, str]) -> str | None:
    """The URL spans are posted to, from the standard variables (the signal's own as it is,
    the general one with ``/v1/traces`` added); None: they are not exported."""
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    general = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{general.rstrip('/')}/v1/traces" if general else None


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


class _NoBareClientCalls(Sampler):
    """Samples root spans except client calls (database, Redis) made outside any trace."""

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        sampler = ALWAYS_OFF if kind == SpanKind.CLIENT else ALWAYS_ON
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "NoBareClientCalls"


def build_provider(service: str, environ: Mapping[str, str]) -> Tracing:
    """The provider for ``service`` (OTEL_SERVICE_NAME wins), exporting when configured."""
    if sdk_disabled(environ):
        return Tracing(None, exporting=False)
    # OTEL_RESOURCE_ATTRIBUTES (deployment.environment=..., even service.name=...) is kept;
    # the service's own name replaces only the SDK's "unknown_service"
    detected = Resource.create()
    named = str(detected.attributes.get(SERVICE_NAME, ""))
    if named.startswith("unknown_service"):
        named = service
    resource = detected.merge(Resource({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or named}))
    endpoint = export_endpoint(environ)
    if endpoint is None:
        # ids only: a dropped span costs a third of a recorded one (docs/logging-and-tracing.md)
        return Tracing(TracerProvider(resource=resource, sampler=ALWAYS_OFF), exporting=False)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=resource, sampler=ParentBased(root=_NoBareClientCalls()))
    # headers, timeout, compression, certificates: from the standard variables
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider, exporting=True)


def setup_tracing(service: str, environ: Mapping[str, str] | None = None) -> Tracing:
    """Install the process's tracer provider (once: OpenTelemetry refuses a second one)."""
    global _exporting
    env = os.environ if environ is None else environ
    tracing = build_provider(service, env)
    if tracing.provider is None:
        return tracing
    trace.set_tracer_provider(tracing.provider)
    if tracing.exporting:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=tracing.provider)
        _exporting = True
        service_name = tracing.provider.resource.attributes.get(SERVICE_NAME)
        log.info("tracing: spans of %s exported to %s", service_name, export_endpoint(env))
    return tracing


def instrument_engine(engine: AsyncEngine) -> None:
    """Database spans for the statements of ``engine``, when spans are exported."""
    if not _exporting:
        return  # not exporting: no listener on the hot path
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.connections")
    EngineTracer(_tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]  # untyped


# --- HTTP and websocket server spans ------------------------------------------------------------


class TracingMiddleware:
    """One server span per HTTP request or websocket connection, in the trace of an incoming
    W3C ``traceparent`` (a new trace without one). Pure ASGI, a few microseconds when spans
    are not recorded: OpenTelemetry's ASGI instrumentation cost several times more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", ())
            if key.lower() in _PROPAGATED
        }
        parent = propagate.extract(carrier) if carrier else None
        path = _NUMBER.sub("/{id}", scope.get("path", ""))  # span names stay few
        name = f"{scope.get('method', 'GET')} {path}" if kind == "http" else f"websocket {path}"
        with _tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            # for Starlette's outermost error handler, which runs after this span has ended
            scope.setdefault("state", {})[_SCOPE_KEY] = span
            if not span.is_recording():
                await self.app(scope, receive, send)
                return
            span.set_attribute("url.path", scope.get("path", ""))
            if kind == "http":
                span.set_attribute("http.request.method", scope.get("method", ""))

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            token = _http_span.set(span if kind == "http" else None)
            try:
                await self.app(scope, receive, send_status)
            finally:
                _http_span.reset(token)


def in_span_of(scope: Scope) -> AbstractContextManager[object]:
    """Make the (ended) span of the request of ``scope`` current, for a last log line."""
    state: dict[str, Any] = scope.get("state") or {}
    span = state.get(_SCOPE_KEY)
    if not isinstance(span, Span):
        return nullcontext()
    return trace.use_span(span, end_on_exit=False)


class GraphQLOperationOnSpan(SchemaExtension):
    """Names the HTTP request's span after its GraphQL operation (``POST /graphql mutation
    StartInstance``), with ``graphql.operation.name`` and ``.type``. A websocket's operations
    share one connection span: they are not named on it."""

    def on_execute(self) -> Iterator[None]:
        span = _http_span.get()
        if span is not None:
            found = _operation(self.execution_context)
            if found is not None:
                kind, name = found
                span.set_attribute("graphql.operation.type", kind)
                span.set_attribute("graphql.operation.name", name)
                span.update_name(f"POST /graphql {kind} {name}")
        yield


def _operation(execution: Any) -> tuple[str, str] | None:
    """(type, name) of the operation that runs, read from the document (a name the client
    sent that the document does not define is not put on a span)."""
    document = getattr(execution, "graphql_document", None)
    wanted = execution.operation_name
    for definition in getattr(document, "definitions", ()):
        operation = getattr(definition, "operation", None)
        if operation is None:
            continue
        name = definition.name.value if definition.name is not None else None
        if wanted is None or name == wanted:
            return str(operation.value), (name or "anonymous")[:100]
    return None


# --- jobs ---------------------------------------------------------------------------------------


def job_carrier() -> dict[str, str] | None:
    """The current trace context and request id, for a job to carry; None when neither."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    request_id = current_request_id()
    if request_id is not None:
        carrier[CARRIER_REQUEST_ID] = request_id
    return carrier or None


@contextmanager
def continued(carrier: object) -> Iterator[None]:
    """Run the block in the trace and request of ``carrier`` (``job_carrier`` of whoever
    enqueued the job); a job without one (queued by an older version, or by the sweeper) runs
    in a trace of its own."""
    if not isinstance(carrier, Mapping) or not carrier:
        yield
        return
    strings = {str(k): str(v) for k, v in carrier.items()}
    token = otel_context.attach(propagate.extract(strings))
    try:
        with bound_request_id(strings.get(CARRIER_REQUEST_ID)):
            yield
    finally:
        otel_context.detach(token)


def linked(carrier: object) -> list[Link]:
    """A link to the trace of ``carrier``, for work done for several traces at once."""
    if not isinstance(carrier, Mapping) or not carrier:
        return []
    strings = {str(k): str(v) for k, v in carrier.items()}
    found = trace.get_current_span(propagate.extract(strings)).get_span_context()
    return [Link(found)] if found.is_valid else []


def job_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Attributes = None,
    links: Sequence[Link] = (),
) -> AbstractContextManager[Span]:
    """A span for a job (``job <service>``, a timer), a child of the current context."""
    return _tracer.start_as_current_span(name, kind=kind, attributes=attributes, links=links)


def handler_span(service: str, method: str | None) -> AbstractContextManager[Span]:
    """The span around one handler call."""
    where = service if method is None else f"{service}.{method}"
    return _tracer.start_as_current_span(f"handler {where}", kind=SpanKind.INTERNAL)


class _Task(Protocol):
    """What a job's span says of it (``server.handlers.TaskContext`` has it)."""

    @property
    def instance_id(self) -> int: ...
    @property
    def step_id(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def attempt(self) -> int: ...


def job_attributes(job_id: int, task: _Task) -> dict[str, str | int]:
    return {
        "workflow.job.id": job_id,
        "workflow.instance.id": task.instance_id,
        "workflow.step.id": task.step_id,
        "workflow.service": task.service_name,
        "workflow.job.attempt": task.attempt,
    }


def mark_failed(span: Span, message: str) -> None:
    """The handler failed (a business error or an exception): the span says so."""
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, message[:300]))
