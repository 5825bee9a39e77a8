"""Graceful shutdown of real processes (server/shutdown.py, workers/settings.py drain_on_signal).

- ``workflow-engine serve`` gets SIGTERM with a request in flight (its body still arriving) and a
  graphql-transport-ws subscription open: readiness answers 503 at once, the request completes,
  the websocket client receives close code 1001, the process exits.
- ``workflow-engine worker`` gets SIGTERM while handlers run: with the grace period, they finish
  on it and the next steps go to another worker; with a grace period shorter than the handler,
  the job is cancelled, handed back, and run by another worker. Either way every instance
  completes and every step is in the history exactly once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support.auth import create_user, http_login
from support.fault_handlers import DRILL
from support.processes import Process, cluster, free_port

from server import migrations
from server.db import Database

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ORDER = json.loads((ROOT / "examples" / "order-processing.json").read_text(encoding="utf-8"))
DRILL_STEPS = ("one", "two", "three")
WAIT = 120.0  # bounds, not benchmarks: worker processes start slowly on a busy machine


async def wait_exit(process: Process, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while process.alive():
        assert time.monotonic() < deadline, f"{process.name} still running:\n{process.output()}"
        await asyncio.sleep(0.1)
    code = process.popen.returncode
    assert code is not None
    return code


# --- the API --------------------------------------------------------------------------------------


async def subscribe(ws_url: str, headers: dict[str, str]) -> Any:
    """A graphql-transport-ws client with an acknowledged connection and one subscription."""
    socket = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]  # a str is a Subprotocol
    await socket.send(json.dumps({"type": "connection_init", "payload": headers}))
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    query = (ROOT / "frontend-contract" / "operations" / "InstanceChanges.graphql").read_text()
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return socket


async def test_serve_drains_on_sigterm(tmp_path: Path) -> None:
    sqlite = tmp_path / "serve.db"
    url = f"sqlite+aiosqlite:///{sqlite}"
    await migrations.upgrade(url)
    await create_user(url, "alice", "admin")
    env = {
        "SQLITE_PATH": str(sqlite),
        "SHUTDOWN_DELAY_SECONDS": "1.5",  # unready but still serving, then stop accepting
        "SHUTDOWN_GRACE_SECONDS": "20",
    }
    with cluster(env, tmp_path / "logs") as running:
        api = running.api()
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            headers = await http_login(client)
            socket = await subscribe(api.ws_url, headers)

            rest_of_body = asyncio.Event()
            body = json.dumps(ORDER).encode()

            async def slow_body() -> AsyncIterator[bytes]:
                yield body[:100]
                await rest_of_body.wait()
                yield body[100:]

            upload = asyncio.create_task(
                client.post(
                    "/api/v1/process-definitions",
                    content=slow_body(),
                    headers={**headers, "Content-Type": "application/json"},
                )
            )
            await asyncio.sleep(0.5)  # the request is in the server, waiting for its body
            assert not upload.done()
            api.popen.send_signal(signal.SIGTERM)

            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=api.url, timeout=5) as probe:
                ready = await probe.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["shutdown"]["status"] == "failed"

            # past the delay: the websocket is closed with 1001 "going away"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await socket.recv()
            assert closed.value.rcvd is not None, "no close frame was received"
            assert closed.value.rcvd.code == 1001
            # and no new connection is accepted
            with pytest.raises(httpx.TransportError):
                async with httpx.AsyncClient(base_url=api.url, timeout=2) as late:
                    await late.get("/health/live")

            assert not upload.done(), "the in-flight request was cut"
            rest_of_body.set()
            response = await asyncio.wait_for(upload, 15)
            assert response.status_code == 201, response.text
            assert response.json()["key"] == "order-processing"

        code = await wait_exit(api)
        assert code in (0, -signal.SIGTERM), api.output()
        log = api.output(200)
        assert "closing 1 websockets (1001)" in log


# --- the worker -----------------------------------------------------------------------------------


@pytest.fixture
async def database(fresh_postgres_url: str) -> str:
    await migrations.upgrade(fresh_postgres_url)
    await create_user(fresh_postgres_url, "alice", "admin")
    return fresh_postgres_url


def cluster_env(database: str, redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    plain = make_url(database).set(drivername="postgresql")
    return {
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "HANDLER_MODULES": "support.fault_handlers",
        "FAULT_LOG": str(tmp_path / "handler-calls.log"),
        "WORKER_JOB_TIMEOUT": "12",
    }


def handler_calls(log: Path) -> Counter[tuple[int, str]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return Counter((int(line.split()[0]), line.split()[1]) for line in lines)


async def history(database: str) -> tuple[dict[int, str], Counter[tuple[int, str]]]:
    """Each drill instance's status, and how often each (instance, step) completed."""
    db = Database(database)
    try:
        async with db.engine.connect() as connection:
            statuses = (
                await connection.execute(
                    text("SELECT id, status FROM instances WHERE definition_key = 'fault-drill'")
                )
            ).all()
            done = (
                await connection.execute(
                    text("SELECT instance_id, step_id FROM history WHERE type = 'job_completed'")
                )
            ).all()
    finally:
        await db.close()
    return (
        {int(r[0]): str(r[1]) for r in statuses},
        Counter((int(r[0]), str(r[1])) for r in done if r[1] in DRILL_STEPS),
    )


async def all_completed(database: str, count: int) -> Counter[tuple[int, str]]:
    async with asyncio.timeout(WAIT):
        while True:
            statuses, done = await history(database)
            if len(statuses) == count and set(statuses.values()) == {"completed"}:
                return done
            await asyncio.sleep(0.3)


async def start_drills(api: str, count: int, sleep: float) -> list[int]:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        headers = await http_login(client)
        deployed = await client.post("/api/v1/process-definitions", json=DRILL, headers=headers)
        assert deployed.status_code in (200, 201), deployed.text
        started = []
        for _ in range(count):
            response = await client.post(
                "/api/v1/process-instances",
                json={"process_definition_key": "fault-drill", "variables": {"sleep": sleep}},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            started.append(int(response.json()["id"]))
        return started


@pytest.mark.parametrize(
    ("grace", "sleep"),
    [
        pytest.param("20", 2.0, id="finishes-within-grace"),
        pytest.param("1", 4.0, id="hands-back-after-grace"),
    ],
)
async def test_worker_sigterm_loses_nothing(
    database: str, redis_url: str, redis_prefix: str, tmp_path: Path, grace: str, sleep: float
) -> None:
    env = cluster_env(database, redis_url, redis_prefix, tmp_path)
    calls_log = Path(env["FAULT_LOG"])
    ops_port = free_port()
    with cluster(env, tmp_path / "logs") as running:
        api = running.api()
        # the first worker's own settings: its ops port and grace period
        running.env = {**env, "WORKER_METRICS_PORT": str(ops_port), "SHUTDOWN_GRACE_SECONDS": grace}
        first = running.worker("first")
        running.env = {**env, "WORKER_METRICS_PORT": "0"}

        started = await start_drills(api.url, 3, sleep)
        async with asyncio.timeout(WAIT):
            while not handler_calls(calls_log):  # the first worker is inside a handler now
                await asyncio.sleep(0.05)
        first.popen.send_signal(signal.SIGTERM)

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}", timeout=5) as ops:
            ready = await ops.get("/health/ready")
            assert ready.status_code == 503, ready.text  # draining: unready at once
            assert (await ops.get("/health/live")).status_code == 200

        running.worker("second")  # takes what the first one hands back
        code = await wait_exit(first, timeout=30)
        assert code == 0, first.output()  # a clean exit, not a kill
        done = await all_completed(database, len(started))

    assert done == Counter({(i, step): 1 for i in started for step in DRILL_STEPS})
    calls = handler_calls(calls_log)
    assert all(calls[key] >= 1 for key in done)
    if grace == "20":  # finished on the first worker: no handler ran twice
        assert calls == done, calls
    else:  # cut after a second: what ran was handed back and ran again on the second worker
        assert sum(calls.values()) > len(done), calls
