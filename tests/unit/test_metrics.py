"""server.metrics without a server: the catalogue's names, bounded labels, the request
middleware's route templates, the job outcome rule, and what the sampler sets.

Metrics are process-wide: every check reads a difference, or a label no other test uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from server import metrics, metrics_sampler, request_metrics
from server.metrics import REGISTRY, Observations, render
from server.request_metrics import MetricsMiddleware
from server.services.operations_stats import OperationsStats

ROOT = Path(__file__).parents[2]
OPERATIONS = ROOT / "frontend-contract" / "operations"

#: docs/metrics.md: every name, its type and its labels (the contract dashboards use)
CATALOGUE: dict[str, tuple[str, tuple[str, ...]]] = {
    "workflow_instances_total": ("counter", ("definition",)),
    "workflow_instances_active": ("gauge", ("definition",)),
    "task_completion_time": ("histogram", ("definition", "kind")),
    "api_request_duration": ("histogram", ("method", "route", "status")),
    "database_connections": ("gauge", ("state",)),
    "http_requests_total": ("counter", ("method", "route", "status")),
    "graphql_operations_total": ("counter", ("operation_type", "operation", "outcome")),
    "workflow_instances_ended_total": ("counter", ("definition", "status")),
    "workflow_jobs_total": ("counter", ("service", "outcome")),
    "workflow_job_duration_seconds": ("histogram", ("service",)),
    "workflow_job_queue_seconds": ("histogram", ()),
    "workflow_job_retries_total": ("counter", ("service",)),
    "workflow_incidents_open": ("gauge", ("definition",)),
    "workflow_incidents_total": ("counter", ("definition",)),
    "workflow_user_tasks_open": ("gauge", ("definition",)),
    "workflow_timers_pending": ("gauge", ()),
    "workflow_timer_lateness_seconds": ("histogram", ()),
    "workflow_subscriptions_connected": ("gauge", ("feed",)),
    "workflow_websockets_connected": ("gauge", ()),
    "workflow_events_published_total": ("counter", ()),
    "workflow_outbox_pending": ("gauge", ()),
    "workflow_outbox_lag_seconds": ("gauge", ()),
    "workflow_history_deleted_total": ("counter", ()),
    "workflow_retention_instances_purged_total": ("counter", ()),
    "workflow_retention_last_run_timestamp_seconds": ("gauge", ()),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_catalogue_metric_is_declared_with_its_exact_name_type_and_labels() -> None:
    # prometheus_client keeps a metric's name, type and label names in private attributes
    declared = {
        m._name: (m._type, tuple(m._labelnames))
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    }
    for name, (kind, labels) in CATALOGUE.items():
        family_name = name.removesuffix("_total") if kind == "counter" else name
        assert declared.get(family_name) == (kind, labels), name
    assert len(declared) == len(CATALOGUE)
    exposed = {s.name for f in text_string_to_metric_families(render().decode()) for s in f.samples}
    # a counter's sample is the catalogue's name; a histogram's are _bucket/_sum/_count
    for name in ("workflow_job_queue_seconds_bucket", "workflow_events_published_total"):
        assert name in exposed
    assert "process_cpu_seconds_total" in exposed  # single-process mode: the defaults too
    assert not any(name.endswith("_created") for name in exposed)


def test_the_contracts_operations_are_the_bounded_operation_names() -> None:
    pattern = re.compile(r"^\s*(query|mutation|subscription)\s+(\w+)", re.MULTILINE)
    found = {
        name: kind
        for path in OPERATIONS.glob("*.graphql")
        for kind, name in pattern.findall(path.read_text(encoding="utf-8"))
    }
    assert found, "no operations found in the frontend contract"
    missing = {n: k for n, k in found.items() if request_metrics.CONTRACT_OPERATIONS.get(n) != k}
    assert not missing, f"add to server.request_metrics.CONTRACT_OPERATIONS: {missing}"


@pytest.mark.parametrize(
    ("query", "name", "expected"),
    [
        ("mutation StartInstance($k: String!) { x }", "StartInstance", "mutation"),
        ("query A { a } mutation B { b }", "B", "mutation"),
        ("query A { a } subscription B { b }", "B", "subscription"),
        ("  # a comment\n mutation { a }", None, "mutation"),
        ("{ definitions { key } }", None, "query"),
        ("subscription{ taskChanges { id } }", None, "subscription"),
        (None, None, "query"),
    ],
)
def test_operation_type(query: str | None, name: str | None, expected: str) -> None:
    assert request_metrics.operation_type(query, name) == expected


def test_unknown_operation_names_become_other() -> None:
    assert request_metrics.operation_label("MyTasks") == "MyTasks"
    assert request_metrics.operation_label("MyTasks2") == "other"
    assert request_metrics.operation_label(None) == "other"
    before = value(
        "graphql_operations_total", operation_type="query", operation="other", outcome="ok"
    )
    for i in range(50):
        request_metrics.graphql_operation(f"query Probe{i} {{ a }}", f"Probe{i}", ok=True)
    after = value(
        "graphql_operations_total", operation_type="query", operation="other", outcome="ok"
    )
    assert after - before == 50
    assert "Probe1" not in render().decode()
    me = {"operation_type": "query", "operation": "Me", "outcome": "error"}
    before = value("graphql_operations_total", **me)
    request_metrics.graphql_operation("# no operationName sent\nquery Me { x }", None, ok=False)
    assert value("graphql_operations_total", **me) == before + 1


def test_bounded_values_cap_distinct_labels() -> None:
    bounded = metrics._BoundedValues(2)
    assert [bounded(v) for v in ("a", "b", "a", "c", "b")] == ["a", "b", "a", "other", "b"]
    assert bounded("") == "other"
    assert bounded(None) == "other"
    assert bounded("x" * 101) == "other"
    assert bounded('a"b\n') == "other"


@pytest.mark.parametrize(
    ("failure", "retried", "outcome"),
    [
        (None, False, "completed"),
        (None, True, "completed"),  # the next step's job: not a retry of this one
        (("CREDIT_DENIED: no", "CREDIT_DENIED", False), False, "bpmn_error"),
        (("timed out after 10s", None, True), True, "timeout"),
        (("timed out after 0.5s", None, True), False, "timeout"),
        (("RuntimeError: boom", None, True), True, "retried"),
        (("RuntimeError: boom", None, True), False, "failed"),
        (("no handler", None, False), False, "failed"),
        (("RuntimeError: timed out after 1s", None, True), False, "failed"),
    ],
)
def test_job_outcome_takes_the_retry_from_the_engines_decision(
    failure: tuple[str, str | None, bool] | None, retried: bool, outcome: str
) -> None:
    assert metrics.job_outcome(failure, retried=retried) == outcome


def test_observations_count_only_once_recorded() -> None:
    key = "unit-observed"
    now = datetime.now(UTC)
    rolled_back = Observations()
    rolled_back.instance_started(key)
    del rolled_back  # the transaction raised: never recorded
    assert value("workflow_instances_total", definition=key) == 0
    committed = Observations()
    committed.instance_started(key)
    committed.instance_ended(key, "terminated")
    committed.instance_ended(key, "weird")
    committed.incident_raised(key)
    committed.task_completed(key, "user", now - timedelta(seconds=90), now)
    committed.job_finished("UnitService", "retried")
    committed.job_finished("UnitService", "completed")
    committed.record()
    committed.record()  # recording twice counts once
    assert value("workflow_instances_total", definition=key) == 1
    assert value("workflow_instances_ended_total", definition=key, status="terminated") == 1
    assert value("workflow_instances_ended_total", definition=key, status="other") == 1
    assert value("workflow_incidents_total", definition=key) == 1
    assert value("task_completion_time_count", definition=key, kind="user") == 1
    assert value("task_completion_time_sum", definition=key, kind="user") == pytest.approx(90)
    assert value("workflow_jobs_total", service="UnitService", outcome="retried") == 1
    assert value("workflow_jobs_total", service="UnitService", outcome="completed") == 1
    assert value("workflow_job_retries_total", service="UnitService") == 1


@pytest.mark.anyio
async def test_request_metrics_use_route_templates() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/unit/items/{item_id:int}", ok, methods=["GET"]),
            Route("/unit/boom", boom),
            WebSocketRoute("/unit/ws", socket),
            Mount("/unit/static", app=PlainTextResponse("file")),
        ],
        middleware=[Middleware(MetricsMiddleware)],
    )
    item = {"method": "GET", "route": "/unit/items/{item_id}", "status": "200"}
    before = value("http_requests_total", **item)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for i in range(3):
            assert (await client.get(f"/unit/items/{1000 + i}")).status_code == 200
        assert (await client.post("/unit/items/7")).status_code == 405
        assert (await client.get("/unit/nothing/4242")).status_code == 404
        assert (await client.get("/unit/boom")).status_code == 500
        assert (await client.get("/unit/static/a/b.css")).status_code == 200
    assert value("http_requests_total", **item) - before == 3
    assert value("api_request_duration_count", **item) >= 3
    assert value("http_requests_total", method="POST", route="/unit/items/{item_id}", status="405")
    assert value("http_requests_total", method="GET", route="other", status="404")
    assert value("http_requests_total", method="GET", route="/unit/boom", status="500")
    assert value("http_requests_total", method="GET", route="/unit/static/{path}", status="200")
    # in label values only: a sample's value (a process's start time...) may hold any digits
    labels = re.findall(r'="([^"]*)"', render().decode())
    assert not [v for v in labels if "4242" in v or "1001" in v]


def test_sampled_gauges_drop_to_zero_and_the_lag_is_the_oldest_rows_age() -> None:
    now = datetime.now(UTC)

    stats = OperationsStats(
        definitions=["unit-a", "unit-b"],
        instances_active={"unit-a": 3},
        incidents_open={"unit-b": 1},
        timers_pending=4,
        outbox_pending=2,
        outbox_oldest=now - timedelta(seconds=12),
    )
    metrics_sampler.set_sampled(stats, now)
    assert value("workflow_instances_active", definition="unit-a") == 3
    assert value("workflow_instances_active", definition="unit-b") == 0
    assert value("workflow_incidents_open", definition="unit-b") == 1
    assert REGISTRY.get_sample_value("workflow_user_tasks_open", {"definition": "unit-a"}) == 0
    assert value("workflow_timers_pending") == 4
    assert value("workflow_outbox_lag_seconds") == pytest.approx(12)
    metrics_sampler.set_sampled(OperationsStats(definitions=["unit-a"]), now)
    assert REGISTRY.get_sample_value("workflow_instances_active", {"definition": "unit-a"}) == 0
    assert value("workflow_outbox_lag_seconds") == 0


@pytest.mark.anyio
async def test_pool_connections_of_a_real_engine(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            held = metrics_sampler.pool_connections(engine)
        released = metrics_sampler.pool_connections(engine)
    finally:
        await engine.dispose()
    assert held["in_use"] == 1
    assert released == {"in_use": 0, "idle": 1, "max": held["max"]}
    assert held["max"] >= 1


def test_subscriptions_are_connected_while_they_run() -> None:
    feed = {"feed": "taskChanges"}
    errors = {"operation_type": "subscription", "operation": "TaskChanges", "outcome": "error"}
    before, errors_before = (
        value("workflow_subscriptions_connected", **feed),
        value("graphql_operations_total", **errors),
    )
    with request_metrics.subscription_running("taskChanges", "TaskChanges"):
        assert value("workflow_subscriptions_connected", **feed) == before + 1
    with (
        pytest.raises(ValueError),
        request_metrics.subscription_running("taskChanges", "TaskChanges"),
    ):
        raise ValueError("feed failed")
    assert value("workflow_subscriptions_connected", **feed) == before
    assert value("graphql_operations_total", **errors) == errors_before + 1
