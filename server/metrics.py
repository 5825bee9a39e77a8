"""Prometheus metrics: the catalogue of docs/metrics.md, declared once, and their exposition.

Where they are measured lives beside it: ``server.request_metrics`` (HTTP requests, GraphQL
operations, websockets and subscriptions) and ``server.metrics_sampler`` (the gauges read from
the database and the pool); the services count what a transaction did through
``Observations``.

Every metric of the contract (/docs/metrics.md) lives here, so dashboards and alerts have one
place to check names and labels against. Labels are bounded: definition keys and service names
pass through ``bounded()`` (a per-process cap, beyond which a value becomes "other"); ids
never become labels.

Multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set *before* this module (and so
prometheus_client) is imported, every process writes its samples to files in that directory
and one exposition merges them: counters and histograms are summed, gauges that count
something the process holds (websockets, pool connections) are summed over live processes,
and gauges sampled from the shared database use the "mostrecent" mode so that N processes
sampling the same count do not show N times it. The process_* / python_* collectors only
describe the scraping process, so they are exposed in single-process mode only.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

# The *_created companions double the series for nothing a dashboard uses.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

OTHER = "other"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, or None in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get("prometheus_multiproc_dir") or None


# One registry of our own: the default one is left to whatever else a process imports.
REGISTRY = CollectorRegistry(auto_describe=True)
if (_directory := multiprocess_dir()) is not None:
    # the metrics below write their files there at once: a missing directory would stop the
    # import with a bare FileNotFoundError
    os.makedirs(_directory, exist_ok=True)
else:
    for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        REGISTRY.register(_collector)


class _BoundedValues:
    """First ``limit`` distinct well-formed values pass; any other value becomes "other"."""

    _WELL_FORMED = re.compile(r"[A-Za-z0-9_.:/ -]{1,100}")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value or self._WELL_FORMED.fullmatch(value) is None:
            return OTHER
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(value)
        return value


# Definition keys and service names are chosen by whoever deploys; a cap keeps a runaway
# deployer (or a test suite) from growing the series without bound.
definition_label = _BoundedValues(200)
service_label = _BoundedValues(200)

_SECONDS_TASK = (0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
_SECONDS_HTTP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SECONDS_JOB = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_SECONDS_LATE = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# --- seed metrics ---------------------------------------------------------------------------
INSTANCES_STARTED = Counter(
    "workflow_instances_total",
    "Workflow instances started.",
    ["definition"],
    registry=REGISTRY,
)
INSTANCES_ACTIVE = Gauge(
    "workflow_instances_active",
    "Running (not ended) instances, sampled from the database.",
    ["definition"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
TASK_COMPLETION_TIME = Histogram(
    "task_completion_time",
    "Seconds from a task's creation to its completion (kind = user | service).",
    ["definition", "kind"],
    registry=REGISTRY,
    buckets=_SECONDS_TASK,
)
API_REQUEST_DURATION = Histogram(
    "api_request_duration",
    "Seconds per HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=_SECONDS_HTTP,
)
DATABASE_CONNECTIONS = Gauge(
    "database_connections",
    "SQLAlchemy pool connections (state = in_use | idle | max), summed over live processes.",
    ["state"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

# --- operator metrics -----------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
GRAPHQL_OPERATIONS = Counter(
    "graphql_operations_total",
    "GraphQL operations by type, contract operation name (else other) and outcome (ok | error).",
    ["operation_type", "operation", "outcome"],
    registry=REGISTRY,
)
INSTANCES_ENDED = Counter(
    "workflow_instances_ended_total",
    "Workflow instances ended (status = completed | failed | cancelled | terminated).",
    ["definition", "status"],
    registry=REGISTRY,
)
JOBS = Counter(
    "workflow_jobs_total",
    "Service-task jobs run, by outcome (completed | failed | retried | bpmn_error | timeout).",
    ["service", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "workflow_job_duration_seconds",
    "Service-task handler run time.",
    ["service"],
    registry=REGISTRY,
    buckets=_SECONDS_JOB,
)
JOB_QUEUE = Histogram(
    "workflow_job_queue_seconds",
    "Seconds from a job being due (or enqueued) to its handler starting.",
    registry=REGISTRY,
    buckets=_SECONDS_JOB,
)
JOB_RETRIES = Counter(
    "workflow_job_retries_total",
    "Service-task job attempts that failed and were scheduled again.",
    ["service"],
    registry=REGISTRY,
)
INCIDENTS_OPEN = Gauge(
    "workflow_incidents_open",
    "Open incidents, sampled from the database.",
    ["definition"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
INCIDENTS_RAISED = Counter(
    "workflow_incidents_total",
    "Incidents raised.",
    ["definition"],
    registry=REGISTRY,
)
USER_TASKS_OPEN = Gauge(
    "workflow_user_tasks_open",
    "Open user tasks, sampled from the database.",
    ["definition"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
TIMERS_PENDING = Gauge(
    "workflow_timers_pending",
    "Timers scheduled and not fired, sampled from the database.",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
TIMER_LATENESS = Histogram(
    "workflow_timer_lateness_seconds",
    "Seconds between a timer's due time and its firing.",
    registry=REGISTRY,
    buckets=_SECONDS_LATE,
)
SUBSCRIPTIONS_CONNECTED = Gauge(
    "workflow_subscriptions_connected",
    "GraphQL subscriptions running, by feed.",
    ["feed"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
WEBSOCKETS_CONNECTED = Gauge(
    "workflow_websockets_connected",
    "Websocket connections open.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
EVENTS_PUBLISHED = Counter(
    "workflow_events_published_total",
    "Outbox rows published on the bus.",
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "workflow_outbox_pending",
    "Unpublished outbox rows, sampled from the database.",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "workflow_outbox_lag_seconds",
    "Age of the oldest unpublished outbox row (0 if none), sampled from the database.",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
HISTORY_DELETED = Counter(
    "workflow_history_deleted_total",
    "History rows removed by the retention job.",
    registry=REGISTRY,
)
RETENTION_INSTANCES_PURGED = Counter(
    "workflow_retention_instances_purged_total",
    "Instances whose history the retention job purged.",
    registry=REGISTRY,
)
RETENTION_LAST_RUN = Gauge(
    "workflow_retention_last_run_timestamp_seconds",
    "Unix time of the last finished retention run.",
    registry=REGISTRY,
    multiprocess_mode="max",
)


def render() -> bytes:
    """The text exposition of this process, or of every process sharing the multiprocess dir."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]  # untyped upstream
    return generate_latest(merged)


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: the Prometheus text exposition (mounted by the API and the worker)."""
    # Merging the multiprocess files reads the disk: keep it off the event loop.
    body = await run_in_threadpool(render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def mark_process_dead() -> None:
    """On shutdown in multiprocess mode: drop this process from the live* gauges."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]  # untyped upstream


# --- what one transaction observed, recorded once it has committed ----------------------------

INSTANCE_END_STATUSES = frozenset({"completed", "failed", "cancelled", "terminated"})
TASK_KINDS = frozenset({"user", "service"})
# server.handlers.invoke reports a handler that ran out of time with exactly this message
_TIMED_OUT = re.compile(r"timed out after [0-9.e+-]+s")


def job_outcome(failure: tuple[str, str | None, bool] | None, *, retried: bool) -> str:
    """The outcome label of a job result. ``retried``: the engine's decision on it ran the job
    again (its retry policy is the engine's, not restated here); a failure it did not retry
    raised an incident. A timeout is its own label, retried or not."""
    if failure is None:
        return "completed"
    message, code, _retryable = failure
    if code is not None:
        return "bpmn_error"
    if _TIMED_OUT.fullmatch(message):
        return "timeout"
    return "retried" if retried else "failed"


class Observations:
    """Samples of one transaction, kept until it commits: a rolled-back change counts nothing.
    The services collect them next to the jobs and events they hand over after the commit."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        self._samples: list[tuple[Counter | Histogram, tuple[str, ...], float]] = []

    def instance_started(self, definition: str) -> None:
        self._samples.append((INSTANCES_STARTED, (definition_label(definition),), 1.0))

    def instance_ended(self, definition: str, status: str) -> None:
        status = status if status in INSTANCE_END_STATUSES else OTHER
        self._samples.append((INSTANCES_ENDED, (definition_label(definition), status), 1.0))

    def incident_raised(self, definition: str) -> None:
        self._samples.append((INCIDENTS_RAISED, (definition_label(definition),), 1.0))

    def task_completed(self, definition: str, kind: str, created: datetime, now: datetime) -> None:
        seconds = max((now - created).total_seconds(), 0.0)
        labels = (definition_label(definition), kind if kind in TASK_KINDS else OTHER)
        self._samples.append((TASK_COMPLETION_TIME, labels, seconds))

    def job_finished(self, service: str, outcome: str) -> None:
        name = service_label(service)
        self._samples.append((JOBS, (name, outcome), 1.0))
        if outcome in ("retried", "timeout"):  # a timeout is retried by the same rule
            self._samples.append((JOB_RETRIES, (name,), 1.0))

    def timer_fired(self, due: datetime, now: datetime) -> None:
        self._samples.append((TIMER_LATENESS, (), max((now - due).total_seconds(), 0.0)))

    def record(self) -> None:
        """Called once the transaction has committed."""
        for metric, labels, value in self._samples:
            child = metric.labels(*labels) if labels else metric
            if isinstance(child, Histogram):
                child.observe(value)
            else:
                child.inc(value)
        self._samples.clear()


def job_started(run_at: datetime, now: datetime) -> None:
    """A handler starts: how long its job waited since it was due (queue latency)."""
    JOB_QUEUE.observe(max((now - run_at).total_seconds(), 0.0))


@contextmanager
def handler_timer(service: str) -> Iterator[None]:
    """Times a handler run (workflow_job_duration_seconds)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        JOB_DURATION.labels(service_label(service)).observe(time.perf_counter() - started)


def events_published(count: int) -> None:
    EVENTS_PUBLISHED.inc(count)


if multiprocess_dir() is not None:
    # a process that exits leaves the live* gauges (websockets, pool connections) at once
    atexit.register(mark_process_dead)
