"""GET /metrics after real work, on SQLite and PostgreSQL: the seed's order process through the
app, then each seed metric (and jobs, incidents, timers, requests, GraphQL operations) with the
value the run implies; labels stay bounded; several processes share one multiprocess exposition
(counters summed, DB-sampled gauges not); a real arq worker's numbers reach it.

Counters are process-wide and other tests run in this process too: they are read as the
difference between two scrapes. Gauges sampled from the database are absolute (each test has
the database to itself)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from support.auth import TEST_AUTH, bearer_headers, create_user, http_login
from support.processes import Cluster, cluster

from server import metrics, migrations, request_metrics
from server.app import create_app
from server.db import Database
from server.services.workflow import Workflow
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
ORDER: dict[str, Any] = json.loads((ROOT / "examples" / "order-processing.json").read_text())
KEY = "order-processing"
SAMPLE_INTERVAL = 0.1
ME = "query Me { me { username } }"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return get(after, name, **labels) - get(before, name, **labels)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def scrape_until(
    client: httpx.AsyncClient, check: Callable[[Samples], bool], timeout: float = 20.0
) -> Samples:
    """Scrape until ``check`` holds (the sampler reads the database every SAMPLE_INTERVAL)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(client)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, sorted(
            (k, v) for k, v in samples.items() if k[0].startswith(("workflow_", "database"))
        )
        await asyncio.sleep(0.1)


def settings_for(db: Database) -> Settings:
    url = make_url(db.url)
    common: dict[str, Any] = {
        "handler_modules": ["server.demo_services"],
        "redis_url": None,
        "metrics_sample_interval": SAMPLE_INTERVAL,
        **TEST_AUTH,
    }
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return Settings(database_url=None, sqlite_path=Path(url.database), **common)
    return Settings(database_url=db.url, **common)


@pytest.fixture
async def app(migrated_db: Database) -> AsyncIterator[Starlette]:
    application = create_app(settings_for(migrated_db))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    headers = await bearer_headers(app.state.auth, "alice", groups=["managers"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as http:
        yield http


async def start(client: httpx.AsyncClient, definition_id: int, order: str, amount: float) -> int:
    body = {
        "process_definition_id": definition_id,
        "business_key": order,
        "variables": {"order_id": order, "customer_id": "CUST-456", "total_amount": amount},
    }
    response = await client.post("/api/v1/process-instances", json=body)
    assert response.status_code == 201, response.text
    instance_id: int = response.json()["id"]
    return instance_id


async def open_task(client: httpx.AsyncClient, instance_id: int) -> int:
    response = await client.get("/api/v1/tasks", params={"candidate_group": "managers"})
    found = [t for t in response.json()["items"] if t["process_instance_id"] == instance_id]
    assert len(found) == 1, response.json()
    task_id: int = found[0]["id"]
    return task_id


async def status_of(client: httpx.AsyncClient, order: str) -> str:
    response = await client.get("/api/v1/process-instances", params={"business_key": order})
    status: str = response.json()["items"][0]["status"]
    return status


async def test_the_order_process_shows_in_every_seed_metric(
    app: Starlette, client: httpx.AsyncClient, migrated_db: Database
) -> None:
    before = await scrape(client)
    deployed = await client.post("/api/v1/process-definitions", json=ORDER)
    assert deployed.status_code == 201, deployed.text
    definition_id = deployed.json()["id"]

    approved = await start(client, definition_id, "ORDER-A", 1999.99)  # a manager approves
    await start(client, definition_id, "ORDER-B", 500)  # approved automatically, shipped
    denied = await start(client, definition_id, "ORDER-C", 60_000)  # CREDIT_DENIED: terminated
    await start(client, definition_id, "ORDER-D", -5)  # ORDER_INVALID, uncaught: an incident

    d = {"definition": KEY}
    waiting = await scrape_until(
        client,
        lambda s: (
            get(s, "workflow_user_tasks_open", **d) == 2
            and get(s, "workflow_incidents_open", **d) == 1
            and get(s, "workflow_instances_active", **d) == 3
            and get(s, "workflow_timers_pending") == 2
        ),  # the 2 h escalation of each approval
    )
    assert get(waiting, "workflow_instances_active", **d) == 3  # A, C, D (B has completed)
    for instance_id in (approved, denied):
        task_id = await open_task(client, instance_id)
        done = await client.put(
            f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": True}}
        )
        assert done.status_code == 200, done.text
    graphql = await client.post("/graphql", json={"query": ME, "operationName": "Me"})
    assert graphql.json()["data"]["me"]["username"] == "alice"
    bad = await client.post("/graphql", json={"query": "query Me { nothing }"})
    assert bad.json()["errors"]

    after = await scrape_until(
        client,
        lambda s: (
            get(s, "workflow_instances_active", **d) == 1  # D, with its incident
            and get(s, "workflow_user_tasks_open", **d) == 0
            and get(s, "workflow_timers_pending") == 0
            and get(s, "workflow_outbox_pending") == 0
            and delta(s, before, "workflow_instances_ended_total", **d, status="completed") == 2
        ),
    )
    assert await status_of(client, "ORDER-C") == "completed"  # a terminate end completes it

    # workflow_instances_total, and how they ended
    assert delta(after, before, "workflow_instances_total", **d) == 4
    assert delta(after, before, "workflow_instances_ended_total", **d, status="completed") == 2
    assert delta(after, before, "workflow_instances_ended_total", **d, status="terminated") == 1
    assert delta(after, before, "workflow_instances_ended_total", **d, status="failed") == 0
    assert get(after, "workflow_incidents_open", **d) == 1
    assert delta(after, before, "workflow_incidents_total", **d) == 1
    assert get(after, "workflow_outbox_lag_seconds") == 0
    assert delta(after, before, "workflow_events_published_total") > 0

    # task_completion_time: two approvals; A and B ran 5 service tasks each, C at least 2
    user = {**d, "kind": "user"}
    service = {**d, "kind": "service"}
    assert delta(after, before, "task_completion_time_count", **user) == 2
    assert delta(after, before, "task_completion_time_sum", **user) > 0
    assert 12 <= delta(after, before, "task_completion_time_count", **service) <= 14
    inf = {**user, "le": "+Inf"}
    assert delta(after, before, "task_completion_time_bucket", **inf) == 2

    # jobs by outcome
    jobs = "workflow_jobs_total"
    validation = {"service": "OrderValidationService"}
    assert delta(after, before, jobs, **validation, outcome="completed") == 3
    assert delta(after, before, jobs, **validation, outcome="bpmn_error") == 1
    assert delta(after, before, jobs, service="CreditService", outcome="bpmn_error") == 1
    assert delta(after, before, jobs, service="ShippingService", outcome="completed") == 2
    assert delta(after, before, jobs, service="NotificationService", outcome="completed") == 1
    shipping = {"service": "ShippingService"}
    assert delta(after, before, "workflow_job_duration_seconds_count", **shipping) == 2
    assert delta(after, before, "workflow_job_queue_seconds_count") >= 13

    # api_request_duration and http_requests_total, by route template
    started = {"method": "POST", "route": "/api/v1/process-instances", "status": "201"}
    completed = {"method": "PUT", "route": "/api/v1/tasks/{task_id}/complete", "status": "200"}
    for name in ("api_request_duration_count", "http_requests_total"):
        assert delta(after, before, name, **started) == 4
        assert delta(after, before, name, **completed) == 2
    assert delta(after, before, "api_request_duration_sum", **started) > 0

    # GraphQL operations
    ops = "graphql_operations_total"
    assert delta(after, before, ops, operation_type="query", operation="Me", outcome="ok") == 1
    assert delta(after, before, ops, operation_type="query", operation="Me", outcome="error") == 1

    # database_connections, from the pool
    pool_max = get(after, "database_connections", state="max")
    if migrated_db.is_sqlite:
        assert pool_max >= 1
    else:  # DATABASE_POOL_SIZE (10) plus as many overflow connections
        assert pool_max == 20
    in_use = get(after, "database_connections", state="in_use")
    idle = get(after, "database_connections", state="idle")
    assert 0 <= in_use <= pool_max
    assert 1 <= in_use + idle <= pool_max  # the sampler itself has used one


TIMER_KEY = "metrics-timer"
TIMER = {
    "key": TIMER_KEY,
    "name": "a short wait",
    "version": "1",
    "steps": [
        {
            "id": "wait",
            "name": "wait",
            "type": "timer_event",
            "config": {"duration": "1s"},
            "next": ["done"],
        },
        {"id": "done", "name": "done", "type": "end_event"},
    ],
}


async def test_a_fired_timer_is_measured(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    deployed = await client.post("/api/v1/process-definitions", json=TIMER)
    assert deployed.status_code == 201, deployed.text
    started = await client.post(
        "/api/v1/process-instances", json={"process_definition_id": deployed.json()["id"]}
    )
    assert started.status_code == 201, started.text
    assert await scrape_until(client, lambda s: get(s, "workflow_timers_pending") == 1)
    after = await scrape_until(
        client,
        lambda s: (
            delta(
                s,
                before,
                "workflow_instances_ended_total",
                definition=TIMER_KEY,
                status="completed",
            )
            == 1
        ),
    )
    assert delta(after, before, "workflow_timer_lateness_seconds_count") == 1
    assert 0 <= delta(after, before, "workflow_timer_lateness_seconds_sum") < 5


async def test_labels_stay_bounded(client: httpx.AsyncClient, app: Starlette) -> None:
    probe = "987654321"
    before = await scrape(client)  # other tests of this process may have left labels of theirs
    responses = [
        await client.put(f"/api/v1/tasks/{probe}/complete", json={"variables": {}}),
        await client.get(f"/api/v1/tasks/{probe}/complete"),
        await client.get(f"/api/v1/nowhere/{probe}"),
        await client.get(f"/{probe}"),
    ]
    assert [r.status_code for r in responses] == [404, 405, 404, 404]
    for i in range(40):
        name = f"Unique{probe}x{i}"
        body = {"query": f"query {name} {{ me {{ username }} }}", "operationName": name}
        assert (await client.post("/graphql", json=body)).status_code == 200
    samples = await scrape(client)

    templates = {getattr(route, "path", "") for route in app.routes}
    allowed_routes = {request_metrics._template(t, False) for t in templates} | {
        "other",
        "/assets/{path}",
    }
    allowed_operations = set(request_metrics.CONTRACT_OPERATIONS) | {"other"}
    moved = [key for key, count in samples.items() if before.get(key) != count]
    for name, labels in moved:
        for label, label_value in labels:
            assert probe not in label_value, (name, label, label_value)
            assert "ORDER-" not in label_value, (name, label, label_value)
            if label == "route":
                assert label_value in allowed_routes, label_value
            if label == "operation":
                assert label_value in allowed_operations, label_value
    other = {"operation_type": "query", "operation": "other", "outcome": "ok"}
    assert get(samples, "graphql_operations_total", **other) >= 40
    missing = {"method": "PUT", "route": "/api/v1/tasks/{task_id}/complete", "status": "404"}
    assert get(samples, "http_requests_total", **missing) >= 1
    assert get(samples, "http_requests_total", method="GET", route="other", status="404") >= 1


# --- several processes, one exposition ------------------------------------------------------

SAMPLER_PROCESS = """
import asyncio, sys
from functools import partial
from server import metrics, metrics_sampler
from server.db import Database
from server.services import operations_stats

async def main() -> None:
    db = Database(sys.argv[1])
    try:
        await metrics_sampler.Sampler(partial(operations_stats.read, db), db.engine).sample()
    finally:
        await db.close()

asyncio.run(main())
metrics.INSTANCES_STARTED.labels("order-processing").inc(int(sys.argv[2]))
metrics.WEBSOCKETS_CONNECTED.inc()
print("sampled", flush=True)
sys.stdin.readline()  # alive until the test closes stdin
"""

ONE_TASK = {
    "key": "metrics-task",
    "name": "one task",
    "version": "1",
    "steps": [
        {"id": "review", "name": "review", "type": "user_task", "next": ["done"]},
        {"id": "done", "name": "done", "type": "end_event"},
    ],
}


class _Idle:
    """Jobs and timers stay in the database (this test starts instances that need none)."""

    async def submit(self, jobs: Any) -> None:
        pass

    async def schedule(self, timers: Any) -> None:
        pass


def sampler_process(url: str, started: int, directory: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    process = subprocess.Popen(
        [sys.executable, "-c", SAMPLER_PROCESS, url, str(started)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "sampled", "the sampler process failed"
    return process


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_multiprocess_counters_are_summed_and_sampled_gauges_are_not(
    migrated_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = Workflow(migrated_db, _Idle())
    await workflow.deploy(ONE_TASK)
    for _ in range(2):
        await workflow.start(key="metrics-task")
    first = sampler_process(migrated_db.url, 3, tmp_path)  # sees 2 active instances
    await workflow.start(key="metrics-task")
    second = sampler_process(migrated_db.url, 4, tmp_path)  # sees 3, later

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        both = parse(metrics.render().decode())
    finally:
        for process in (first, second):
            assert process.stdin is not None
            process.stdin.close()
            process.wait(30)
            assert process.stdout is not None
            process.stdout.close()
    gone = parse(metrics.render().decode())

    d = {"definition": "metrics-task"}
    assert get(both, "workflow_instances_total", definition=KEY) == 7  # 3 + 4: summed
    assert get(both, "workflow_instances_active", **d) == 3  # the latest sample, not 2 + 3
    assert get(both, "workflow_user_tasks_open", **d) == 3
    assert get(both, "database_connections", state="max") == 40  # 2 pools of 10 + 10
    assert get(both, "workflow_websockets_connected") == 2  # live processes summed
    assert "process_cpu_seconds_total" not in {name for name, _ in both}
    # exited processes leave the live gauges; counters and the last samples stay
    assert get(gone, "workflow_websockets_connected") == 0
    assert get(gone, "database_connections", state="max") == 0
    assert get(gone, "workflow_instances_total", definition=KEY) == 7
    assert get(gone, "workflow_instances_active", **d) == 3


# --- a real arq worker ----------------------------------------------------------------------


@pytest.fixture
async def shared_database(fresh_postgres_url: str) -> str:
    await migrations.upgrade(fresh_postgres_url)
    await create_user(fresh_postgres_url, "alice", "admin", groups=["managers"])
    return fresh_postgres_url


@pytest.fixture
def processes(
    shared_database: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Cluster]:
    plain = make_url(shared_database).set(drivername="postgresql")
    env: Mapping[str, str] = {
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "HANDLER_MODULES": "server.demo_services",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "METRICS_SAMPLE_INTERVAL": "0.2",
        "WORKER_METRICS_PORT": "0",  # the shared directory is what this test reads
        "WORKER_SWEEP_INTERVAL": "1",
    }
    (tmp_path / "prometheus").mkdir()
    with cluster(env, tmp_path / "logs") as running:
        yield running


async def test_a_workers_numbers_reach_the_shared_exposition(processes: Cluster) -> None:
    api = processes.api()
    processes.worker()
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        client.headers.update(await http_login(client, "alice"))
        before = await scrape(client)
        deployed = await client.post("/api/v1/process-definitions", json=ORDER)
        assert deployed.status_code == 201, deployed.text
        definition_id = deployed.json()["id"]
        for i in range(3):
            await start(client, definition_id, f"SHIP-{i}", 500)  # the worker runs all steps
        for i in range(2):
            await start(client, definition_id, f"WAIT-{i}", 1999.99)  # waits for a manager

        d = {"definition": KEY}
        after = await scrape_until(
            client,
            lambda s: (
                delta(s, before, "workflow_instances_ended_total", **d, status="completed") == 3
                and get(s, "workflow_instances_active", **d) == 2
                and get(s, "database_connections", state="max") == 40
            ),
            timeout=60,
        )
    # the API started them; the worker ran the jobs and ended the instances
    assert delta(after, before, "workflow_instances_total", **d) == 5
    shipping = {"service": "ShippingService"}
    assert delta(after, before, "workflow_jobs_total", **shipping, outcome="completed") == 3
    assert delta(after, before, "workflow_job_duration_seconds_count", **shipping) >= 3
    service = {**d, "kind": "service"}
    assert delta(after, before, "task_completion_time_count", **service) == 3 * 5 + 2
    # two processes sample the same database: 2 waiting instances, not 4
    assert get(after, "workflow_instances_active", **d) == 2
    assert get(after, "workflow_user_tasks_open", **d) == 2
