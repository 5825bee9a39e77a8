"""The example clients (examples/clients/) run against a real server, as a user would run them;
and the generated clients' live feeds resume from their cursor when the API under them crashes.

A real ``workflow-engine serve --demo`` (the demo's admin/password123, examples deployed) and a
worker (``worker --demo``: the demo's service handlers) share a fresh PostgreSQL database and a
Redis prefix, as production runs. The TypeScript example (with the generated
``@workflow-engine/client``, built from frontend-contract/typescript) and the Python example
(with the generated ``workflow_engine_client``) each log in, start an order over 1000, follow
its events live, approve the manager task, and wait for the order to complete; the test checks
their exit status and output, then asks the server itself. The resume tests kill the API while
a feed follows an order waiting for approval, start it again on the same port, approve the
order, and check that the feed delivered every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy.engine import make_url
from support.auth import ENV as AUTH_ENV
from support.node import CLIENT, install, npm, tool
from support.processes import Cluster, cluster
from workflow_engine_client.feeds import instance_events
from workflow_engine_client.session import Session

from server import migrations

ROOT = Path(__file__).resolve().parents[2]
TS_EXAMPLE = ROOT / "examples" / "clients" / "typescript"
PY_EXAMPLE = ROOT / "examples" / "clients" / "python" / "order.py"
RUN_SECONDS = 120.0
DEMO_USER, DEMO_PASSWORD = "admin", "password123"

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(scope="module")
def tsx() -> Path:
    """The TypeScript example, ready to run: the client built (dist/), the example's packages
    installed (the client linked from frontend-contract/typescript)."""
    install(CLIENT)
    npm(CLIENT, "run", "build")  # dist/: what the example and test/follow.mjs import
    install(TS_EXAMPLE)
    return TS_EXAMPLE / "node_modules" / ".bin" / "tsx"


@pytest.fixture
async def database(fresh_postgres_url: str) -> str:
    await migrations.upgrade(fresh_postgres_url)
    return fresh_postgres_url


@pytest.fixture
def demo(database: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[Cluster]:
    """``serve --demo`` and ``worker --demo`` on PostgreSQL + Redis."""
    env = {
        "DATABASE_URL": make_url(database)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "WORKER_POLL_DELAY": "0.05",
        **AUTH_ENV,
    }
    with cluster(env, tmp_path / "logs") as running:
        running.api("api", "--demo")
        running.worker("worker", "--demo")
        yield running


def run(command: list[str], url: str, cwd: Path) -> str:
    """Run an example against ``url``; its output, after checking it did an order's job."""
    env = {**os.environ, "WORKFLOW_URL": url}
    env.pop("WORKFLOW_USER", None)
    env.pop("WORKFLOW_PASSWORD", None)  # the demo's admin (the examples' defaults)
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_SECONDS
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"logged in as {DEMO_USER}" in done.stdout, output
    assert re.search(r"^event \d+ step_entered manager_approval$", done.stdout, re.M), output
    assert re.search(r"^completed task \d+ \(manager_approval\) as admin$", done.stdout, re.M)
    assert re.search(r"^event \d+ instance_completed$", done.stdout, re.M), output
    return done.stdout


def completed_instance(stdout: str) -> int:
    found = re.search(r"^completed instance (\d+) \((ORDER-\w+-\d+)\)$", stdout, re.M)
    assert found, stdout
    return int(found.group(1))


async def server_says(api: str, instance_id: int) -> dict[str, object]:
    """The instance as the server has it (asked apart from the example's own client)."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}
        )
        token = login.json()["access_token"]
        query = "query($id: Int!) { instance(id: $id) { status tasks { stepId status } } }"
        answer = await http.post(
            "/graphql",
            json={"query": query, "variables": {"id": instance_id}},
            headers={"Authorization": f"Bearer {token}"},
        )
    instance: dict[str, object] = answer.json()["data"]["instance"]
    return instance


async def test_the_typescript_example_completes_an_order(tsx: Path, demo: Cluster) -> None:
    api = demo.apis[0].url
    stdout = await anyio.to_thread.run_sync(
        run, [str(tsx), "order.ts"], f"{api}/graphql", TS_EXAMPLE
    )
    instance = await server_says(api, completed_instance(stdout))
    assert instance["status"] == "COMPLETED"
    assert instance["tasks"] == [{"stepId": "manager_approval", "status": "completed"}]


async def test_the_python_example_completes_an_order(demo: Cluster) -> None:
    api = demo.apis[0].url
    command = [sys.executable, str(PY_EXAMPLE)]
    stdout = await anyio.to_thread.run_sync(run, command, f"{api}/graphql", ROOT)
    instance = await server_says(api, completed_instance(stdout))
    assert instance["status"] == "COMPLETED"
    assert instance["tasks"] == [{"stepId": "manager_approval", "status": "completed"}]


# --- resuming after a crash of the API ----------------------------------------------------------

ORDER = {"order_id": "ORDER-R", "customer_id": "CUST-456", "total_amount": 1999.99}


@asynccontextmanager
async def admin(api: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}
        )
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield http


async def graphql(http: httpx.AsyncClient, query: str, **variables: object) -> Any:
    """The ``data`` of a query (JSON, as the server sent it)."""
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


async def order_waiting_for_approval(api: str) -> tuple[int, int]:
    """An order started and waiting at manager_approval: its id and its last history seq."""
    async with admin(api) as http:
        started = await graphql(
            http,
            'mutation($v: JSON) { startInstance(key: "order-processing", variables: $v) '
            "{ ... on InstanceSuccess { instance { id } } } }",
            v=ORDER,
        )
        instance_id = started["startInstance"]["instance"]["id"]
        query = "query($id: Int!) { instance(id: $id) { currentSteps history { seq } } }"
        with anyio.fail_after(RUN_SECONDS):
            while True:
                found = (await graphql(http, query, id=instance_id))["instance"]
                if found["currentSteps"] == ["manager_approval"]:
                    return instance_id, found["history"][-1]["seq"]
                await anyio.sleep(0.1)


async def approve(api: str, instance_id: int) -> None:
    async with admin(api) as http:
        detail = await graphql(
            http, "query($id: Int!) { instance(id: $id) { tasks { id } } }", id=instance_id
        )
        [task] = detail["instance"]["tasks"]
        claim = "mutation($id: Int!) { claimTask(id: $id) { __typename } }"
        assert (await graphql(http, claim, id=task["id"]))["claimTask"] == {
            "__typename": "TaskSuccess"
        }
        response = await http.put(
            f"/api/v1/tasks/{task['id']}/complete", json={"variables": {"approved": True}}
        )
        assert response.status_code == 200, response.text


def every_seq_once_in_order(seqs: list[int]) -> None:
    assert seqs == list(range(1, len(seqs) + 1)), seqs


async def test_the_typescript_feed_resumes_after_the_api_crashed(tsx: Path, demo: Cluster) -> None:
    api = demo.apis[0]
    instance_id, last_seq = await order_waiting_for_approval(api.url)
    follower = await asyncio.create_subprocess_exec(
        tool("node"),
        str(CLIENT / "test" / "follow.mjs"),
        f"{api.url}/graphql",
        DEMO_USER,
        DEMO_PASSWORD,
        str(instance_id),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert follower.stdout is not None
    lines: list[dict[str, object]] = []

    async def read_until(condition: str) -> None:
        assert follower.stdout is not None
        while True:
            raw = await follower.stdout.readline()
            assert raw, f"the follower ended before {condition}: {lines}"
            text = raw.decode().strip()
            lines.append(json.loads(text) if text.startswith("{") else {"output": text})
            if condition == "replayed" and lines[-1].get("seq") == last_seq:
                return
            if condition == "reconnected" and lines[-1].get("status") == "connected":
                return
            if condition == "completed" and lines[-1].get("completed"):
                return

    try:
        with anyio.fail_after(RUN_SECONDS):
            await read_until("replayed")  # the history so far, up to the approval step
            await anyio.to_thread.run_sync(demo.restart, api)  # a crash; the same port again
            await read_until("reconnected")
            await approve(api.url, instance_id)
            await read_until("completed")
            assert await follower.wait() == 0, lines
    finally:
        if follower.returncode is None:
            follower.kill()
            await follower.wait()
    statuses = [line["status"] for line in lines if "status" in line]
    assert "reconnecting" in statuses, lines
    events = [line for line in lines if "seq" in line]
    every_seq_once_in_order([int(str(event["seq"])) for event in events])
    assert events[-1]["type"] == "instance_completed", lines


async def test_the_python_feed_resumes_after_the_api_crashed(demo: Cluster) -> None:
    api = demo.apis[0]
    instance_id, last_seq = await order_waiting_for_approval(api.url)
    session = await Session.login(f"{api.url}/graphql", DEMO_USER, DEMO_PASSWORD)
    seqs: list[int] = []
    types: list[str] = []
    replayed = anyio.Event()

    async def follow() -> None:
        async for event in instance_events(session, instance_id, retries=100):
            seqs.append(event.seq)
            types.append(event.type_)
            if event.seq == last_seq:
                replayed.set()

    with anyio.fail_after(RUN_SECONDS):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow)
            await replayed.wait()
            await anyio.to_thread.run_sync(demo.restart, api)
            await approve(api.url, instance_id)
    every_seq_once_in_order(seqs)
    assert types[-1] == "instance_completed", types
    assert len(seqs) > last_seq  # events after the crash came through the resumed feed
