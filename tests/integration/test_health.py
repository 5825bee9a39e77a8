"""Health with levels (server/health.py) on real databases and Redis.

Each level on SQLite and PostgreSQL; the details need an operator's token; readiness turns
unready when PostgreSQL, then Redis, goes away and ready again when each comes back. The shared
servers are never stopped: the app talks to them through a TCP proxy (tests/support/tcp_proxy.py)
that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from support.auth import TEST_AUTH, bearer_headers
from support.processes import cluster, free_port
from support.tcp_proxy import TcpProxy, proxy_to

from server import health, migrations
from server.app import create_app
from server.db import Database
from server.settings import Settings
from server.shutdown import Draining
from workers.ops_http import OpsServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
WAIT = 20.0
STARTUP_WAIT = 90.0  # a worker process imports a lot: slow to start on a busy machine


def settings_for(db_url: str, **extra: Any) -> Settings:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return Settings(
            database_url=None, sqlite_path=Path(url.database), redis_url=None, **TEST_AUTH
        )
    return Settings(**{"database_url": db_url, "redis_url": None, **TEST_AUTH, **extra})


@pytest.fixture
async def app(migrated_db: Database) -> AsyncIterator[Starlette]:
    application = create_app(settings_for(migrated_db.url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def wait_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """Poll ``path`` until it answers ``status`` (the checks are cached about a second)."""
    deadline = time.monotonic() + WAIT
    while True:
        response = await client.get(path)
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, f"{path}: still {response.status_code} {response.text}"
        await asyncio.sleep(0.2)


# --- each level, on both databases ----------------------------------------------------------------


async def test_each_level(app: Starlette, client: httpx.AsyncClient, database_url: str) -> None:
    live = await client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})

    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "migrations": {"status": "ok"}},
    }
    seed = await client.get("/health")  # the seed's `curl http://localhost:8080/health`
    assert (seed.status_code, seed.json()) == (200, {"status": "ok", "database": "ok"})

    operator = await bearer_headers(app.state.auth, "olga", "operator")
    details = await client.get("/health/details", headers=operator)
    assert details.status_code == 200, details.text
    body = details.json()
    embedded = make_url(database_url).get_backend_name() == "sqlite"
    assert body["status"] == "ok"
    assert body["mode"] == ("embedded" if embedded else "production")
    assert body["shutting_down"] is False
    assert body["version"] == metadata.version("workflow-engine")
    assert body["uptime_seconds"] >= 0
    assert set(body["checks"]) == {"database", "migrations"}
    assert all(c["status"] == "ok" and c["latency_ms"] >= 0 for c in body["checks"].values())
    assert body["checks"]["migrations"]["revision"] == migrations.head()
    assert body["outbox"]["pending"] >= 0 and body["outbox"]["lag_seconds"] >= 0
    pool = body["database_pool"]  # as database_connections counts it
    assert set(pool) == {"in_use", "idle", "max"} and pool["max"] >= pool["in_use"] + pool["idle"]
    assert body["queue"] == {"mode": "in-process (no REDIS_URL)"}


async def test_details_need_an_operator_token(app: Starlette, client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/health/details")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_token"
    bad = await client.get("/health/details", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    user = await bearer_headers(app.state.auth, "uma", "user")
    refused = await client.get("/health/details", headers=user)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    designer = await bearer_headers(app.state.auth, "dora", "designer")
    assert (await client.get("/health/details", headers=designer)).status_code == 403
    admin = await bearer_headers(app.state.auth, "ada", "admin")
    assert (await client.get("/health/details", headers=admin)).status_code == 200
    # the probes need no token
    assert (await client.get("/health/ready")).status_code == 200
    assert (await client.get("/health/live")).status_code == 200


async def test_unready_when_the_schema_is_behind(
    app: Starlette, client: httpx.AsyncClient, empty_database_url: str
) -> None:
    working = app.state.db
    app.state.db = Database(empty_database_url)  # reachable, never migrated
    try:
        ready = await client.get("/health/ready")
        seed = await client.get("/health")
    finally:
        await app.state.db.close()
        app.state.db = working
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["migrations"]["status"] == "failed"
    assert "workflow-engine migrate" in checks["migrations"]["error"]
    assert seed.status_code == 503
    assert seed.json()["database"] == "unavailable"
    assert "migrations" in seed.json()["detail"]
    assert (await client.get("/health/ready")).status_code == 200  # its own database again


async def test_unready_at_once_when_shutting_down(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    await app.state.draining.begin()  # what serve's SIGTERM does first
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "shutdown": {"status": "failed", "error": "the process is shutting down"}
    }
    assert (await client.get("/health")).status_code == 503
    assert (await client.get("/health/live")).status_code == 200  # alive: do not restart it


async def test_probes_are_cached(app: Starlette, client: httpx.AsyncClient) -> None:
    """Probes every few seconds from many callers cost one round of checks per second."""
    checks: health.HealthChecks = app.state.health
    runs = 0
    run = checks._run

    async def counted(db: Database) -> list[health.Check]:
        nonlocal runs
        runs += 1
        return await run(db)

    checks._run = counted  # type: ignore[method-assign]  # counting the real checks
    checks._cached = None
    responses = await asyncio.gather(*(client.get("/health/ready") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert runs == 1


# --- readiness follows PostgreSQL and Redis -------------------------------------------------------


@pytest.fixture
async def proxied(
    fresh_postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Starlette, TcpProxy, TcpProxy]]:
    """An app on PostgreSQL and Redis, each through a proxy the test can cut."""
    await migrations.upgrade(fresh_postgres_url)
    async with (
        proxy_to(fresh_postgres_url, 5432) as (pg, pg_url),
        proxy_to(redis_url, 6379) as (redis, via_redis),
    ):
        settings = settings_for(pg_url, redis_url=via_redis, redis_prefix=redis_prefix)
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application, pg, redis


async def test_readiness_follows_postgresql_and_redis(
    proxied: tuple[Starlette, TcpProxy, TcpProxy], redis_prefix: str
) -> None:
    app, pg, redis = proxied
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        ready = await wait_status(client, "/health/ready", 200)
        assert set(ready.json()["checks"]) == {"database", "migrations", "redis"}
        seed = await client.get("/health")
        assert seed.json() == {"status": "ok", "database": "ok", "redis": "ok"}

        await pg.cut()  # PostgreSQL stops
        down = (await wait_status(client, "/health/ready", 503)).json()["checks"]
        assert down["database"]["status"] == "failed" and down["database"]["error"]
        assert down["migrations"] == {"status": "failed", "error": "the database is unavailable"}
        assert down["redis"] == {"status": "ok"}
        seed = await client.get("/health")
        assert seed.status_code == 503
        assert seed.json()["database"] == "unavailable" and seed.json()["redis"] == "ok"
        assert (await client.get("/health/live")).status_code == 200

        await pg.start()  # and comes back
        await wait_status(client, "/health/ready", 200)

        await redis.cut()  # Redis stops
        down = (await wait_status(client, "/health/ready", 503)).json()["checks"]
        assert down["redis"]["status"] == "failed" and down["redis"]["error"]
        assert down["database"] == {"status": "ok"}
        assert (await client.get("/health")).json()["redis"] == "unavailable"

        await redis.start()  # and comes back
        ready = await wait_status(client, "/health/ready", 200)
        assert all(c == {"status": "ok"} for c in ready.json()["checks"].values())

        admin = await bearer_headers(app.state.auth, "ada", "admin")
        details = (await client.get("/health/details", headers=admin)).json()
        assert details["checks"]["redis"]["status"] == "ok"
        assert details["queue"]["name"] == f"{redis_prefix}:queue"
        assert details["queue"]["length"] >= 0
        assert details["queue"]["workers_alive"] == []  # no worker runs here


# --- the worker's ops HTTP server -----------------------------------------------------------------


async def test_worker_serves_health_and_metrics(
    fresh_postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Any
) -> None:
    await migrations.upgrade(fresh_postgres_url)
    port = free_port()
    env = {
        "DATABASE_URL": make_url(fresh_postgres_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "WORKER_METRICS_PORT": str(port),
    }
    with cluster(env, tmp_path / "logs") as running:
        worker = running.worker("worker")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + STARTUP_WAIT
            while True:
                assert worker.alive(), worker.output()
                try:
                    ready = await client.get("/health/ready")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, worker.output()
                    await asyncio.sleep(0.2)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "database": {"status": "ok"},
                "redis": {"status": "ok"},
            }
            assert (await client.get("/health/live")).json() == {"status": "ok"}
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "# TYPE" in metrics.text
        api_app = create_app(
            settings_for(fresh_postgres_url, redis_url=redis_url, redis_prefix=redis_prefix)
        )
        async with api_app.router.lifespan_context(api_app):
            admin = await bearer_headers(api_app.state.auth, "ada", "admin")
            transport = httpx.ASGITransport(app=api_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
                deadline = time.monotonic() + WAIT
                while True:  # arq records the worker's health key on its first poll
                    queue = (await api.get("/health/details", headers=admin)).json()["queue"]
                    if queue["workers_alive"]:
                        break
                    assert time.monotonic() < deadline, queue
                    await asyncio.sleep(0.2)
        assert "j_complete=" in queue["workers_alive"][0]["report"]


async def test_worker_ops_port_taken_is_not_fatal(
    migrated_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Several workers on one host: the first serves the port, the others say so and work on."""
    checks = health.HealthChecks(
        lambda: migrated_db, lambda: None, Draining(), check_migrations=False
    )
    port = free_port()
    first = OpsServer(checks, port, host="127.0.0.1")
    await first.start()
    try:
        second = OpsServer(checks, port, host="127.0.0.1")
        await second.start()  # no exception: a warning
        await second.stop()
        assert f"no ops HTTP server on WORKER_METRICS_PORT {port}" in caplog.text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await client.get("/health/ready")
            assert ready.json() == {"status": "ok", "checks": {"database": {"status": "ok"}}}
            checks.draining.started = True  # the worker got SIGTERM
            assert (await client.get("/health/ready")).status_code == 503
            assert (await client.get("/health/live")).status_code == 200
    finally:
        await first.stop()
