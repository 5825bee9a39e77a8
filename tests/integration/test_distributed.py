"""The production shape, with real processes: two API processes, two arq workers, one
PostgreSQL database, one Redis key prefix.

- A mutation on API process A produces subscription messages on a websocket client of API
  process B (gql, graphql-transport-ws), and the seed's order process runs to completion with
  its service tasks on the workers.
- Fault drills: a worker killed with SIGKILL in the middle of a handler, and Redis flushed
  mid-run. Every instance still completes, and each step's transition is applied once (a
  handler may have run twice: that is what its idempotency key is for).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support.auth import ENV as AUTH_ENV
from support.auth import create_user, http_login
from support.contract import operation_text
from support.fault_handlers import DRILL
from support.processes import Cluster, cluster

from server import migrations
from server.db import Database

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "frontend-contract" / "operations"
ORDER = json.loads((ROOT / "examples" / "order-processing.json").read_text(encoding="utf-8"))
SERVICE_STEPS = ("validate_order", "inventory_check", "credit_check", "fraud_check", "ship_order")
DRILL_STEPS = ("one", "two", "three")
WAIT_SECONDS = 120.0


@pytest.fixture
async def database(fresh_postgres_url: str) -> str:
    """A fresh PostgreSQL database at head, for one test (its processes share it)."""
    await migrations.upgrade(fresh_postgres_url)
    await create_user(fresh_postgres_url, "alice", "admin")  # who the tests act as
    return fresh_postgres_url


@pytest.fixture
def env(database: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    plain = make_url(database).set(drivername="postgresql")
    return {
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "HANDLER_MODULES": "server.demo_services,support.fault_handlers",
        "FAULT_LOG": str(tmp_path / "handler-calls.log"),
        "LOG_LEVEL": "info",
        # a killed worker's job goes to another worker after this + 10 s (arq's in-progress
        # key); above the drill's step timeout (5 s) plus the 5 s kept for reporting
        "WORKER_JOB_TIMEOUT": "12",
        "WORKER_SWEEP_INTERVAL": "1",
        **AUTH_ENV,
    }


@pytest.fixture
def processes(env: dict[str, str], tmp_path: Path) -> Iterator[Cluster]:
    with cluster(env, tmp_path / "logs") as running:
        yield running


_tokens: dict[str, dict[str, str]] = {}  # bearer headers by API URL: one login each


async def bearer(api: str) -> dict[str, str]:
    if api not in _tokens:
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            _tokens[api] = await http_login(client, "alice")
    return _tokens[api]


async def graphql(api: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    headers = await bearer(api)
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        response = await client.post(
            f"{api}/graphql", json={"query": query, "variables": variables or {}}
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def deploy(api: str, definition: dict[str, Any]) -> None:
    data = await graphql(
        api,
        "mutation D($d: JSON!) { deployDefinition(definition: $d) { __typename } }",
        {"d": definition},
    )
    assert data["deployDefinition"]["__typename"] == "DeployDefinitionSuccess", data


async def start(api: str, key: str, variables: dict[str, Any]) -> int:
    data = await graphql(
        api,
        "mutation S($k: String!, $v: JSON) { startInstance(key: $k, variables: $v) "
        "{ __typename ... on InstanceSuccess { instance { id } } } }",
        {"k": key, "v": variables},
    )
    assert data["startInstance"]["__typename"] == "InstanceSuccess", data
    instance_id: int = data["startInstance"]["instance"]["id"]
    return instance_id


def operation(name: str, variables: dict[str, Any]) -> GraphQLRequest:
    document = gql(operation_text(name))
    return GraphQLRequest(document, variable_values=variables)


def websocket_client(api_ws_url: str, headers: dict[str, str]) -> Client:
    transport = WebsocketsTransport(
        url=api_ws_url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload=headers,  # {"Authorization": "Bearer ..."}: connection_init's token
    )
    return Client(transport=transport)


async def wait_all_ended(database: str, key: str, count: int) -> dict[int, str]:
    db = Database(database)
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                async with db.engine.connect() as connection:
                    rows = (
                        await connection.execute(
                            text("SELECT id, status FROM instances WHERE definition_key = :k"),
                            {"k": key},
                        )
                    ).all()
                statuses = {int(r[0]): str(r[1]) for r in rows}
                if len(statuses) >= count and "running" not in statuses.values():
                    return statuses
                await asyncio.sleep(0.2)
    finally:
        await db.close()


async def completions(database: str, steps: tuple[str, ...]) -> Counter[tuple[int, str]]:
    """How often each (instance, step) recorded its job as completed, from the history."""
    db = Database(database)
    try:
        async with db.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT instance_id, step_id FROM history WHERE type = 'job_completed'")
                )
            ).all()
    finally:
        await db.close()
    return Counter((int(r[0]), str(r[1])) for r in rows if r[1] in steps)


def handler_calls(log: Path) -> Counter[tuple[int, str]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return Counter((int(line.split()[0]), line.split()[1]) for line in lines)


# --- two API processes, two workers -----------------------------------------------------------


async def test_a_mutation_on_one_api_reaches_a_subscriber_of_the_other(
    processes: Cluster, database: str
) -> None:
    api_a, api_b = processes.api("api-a"), processes.api("api-b")
    processes.worker("worker-1")
    processes.worker("worker-2")
    await deploy(api_a.url, ORDER)

    seen: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def watch() -> None:
        async with websocket_client(api_b.ws_url, await bearer(api_b.url)) as session:
            feed = session.subscribe(
                operation("InstanceChanges", {"filter": {"definitionKey": "order-processing"}})
            )
            subscribed.set()
            async for message in feed:
                seen.append(message["instanceChanges"])
                if message["instanceChanges"]["status"] == "COMPLETED":
                    return

    watcher = asyncio.create_task(watch())
    await subscribed.wait()
    await asyncio.sleep(0.5)  # the subscription reaches B's hub
    instance_id = await start(
        api_a.url, "order-processing", {"order_id": "D-1", "total_amount": 320}
    )
    async with asyncio.timeout(WAIT_SECONDS):
        await watcher

    assert {change["instanceId"] for change in seen} == {instance_id}
    assert seen[-1]["status"] == "COMPLETED"
    seqs = [change["seq"] for change in seen]
    assert seqs == sorted(seqs), "changes arrive in the instance's order"
    done = await completions(database, SERVICE_STEPS)
    assert done == Counter({(instance_id, step): 1 for step in SERVICE_STEPS})

    # B replays the whole history of the instance to a late subscriber, then completes
    async with websocket_client(api_b.ws_url, await bearer(api_b.url)) as session:
        events = [
            message["instanceEvents"]
            async for message in session.subscribe(
                operation("InstanceEvents", {"instanceId": instance_id, "afterSeq": 0})
            )
        ]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "instance_completed"


# --- fault drills --------------------------------------------------------------------------------


async def test_a_worker_killed_mid_handler_loses_nothing(
    processes: Cluster, database: str, env: dict[str, str]
) -> None:
    api = processes.api()
    victim = processes.worker("victim")
    await deploy(api.url, DRILL)
    started = [await start(api.url, "fault-drill", {"sleep": 0.8}) for _ in range(8)]
    calls_log = Path(env["FAULT_LOG"])
    async with asyncio.timeout(30):
        while not handler_calls(calls_log):  # the victim is inside a handler now
            await asyncio.sleep(0.05)
    victim.kill()
    processes.worker("survivor")

    statuses = await wait_all_ended(database, "fault-drill", len(started))
    assert set(statuses.values()) == {"completed"}, statuses
    done = await completions(database, DRILL_STEPS)
    assert done == Counter({(i, step): 1 for i in started for step in DRILL_STEPS})
    calls = handler_calls(calls_log)
    assert all(calls[key] >= 1 for key in done)
    assert sum(calls.values()) > len(done), "the killed worker's handlers ran again elsewhere"


async def test_redis_flushed_mid_run_loses_nothing(
    processes: Cluster, database: str, env: dict[str, str], redis_url: str
) -> None:
    api = processes.api()
    processes.worker()
    await deploy(api.url, DRILL)
    started = [await start(api.url, "fault-drill", {"sleep": 0.3}) for _ in range(10)]
    calls_log = Path(env["FAULT_LOG"])
    async with asyncio.timeout(30):
        while len(handler_calls(calls_log)) < 3:
            await asyncio.sleep(0.05)
    client = aioredis.Redis.from_url(redis_url)
    try:  # every key of this run (queue, jobs, in-progress marks): as FLUSHALL, for us alone
        keys = [key async for key in client.scan_iter(match=f"*{env['REDIS_PREFIX']}*")]
        assert keys, "the run's jobs were in Redis"
        await client.delete(*keys)
    finally:
        await client.aclose()
    flushed_at = time.monotonic()

    statuses = await wait_all_ended(database, "fault-drill", len(started))
    assert set(statuses.values()) == {"completed"}, statuses
    assert time.monotonic() - flushed_at < WAIT_SECONDS
    done = await completions(database, DRILL_STEPS)
    assert done == Counter({(i, step): 1 for i in started for step in DRILL_STEPS})
