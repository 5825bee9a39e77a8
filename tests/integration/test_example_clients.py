"""The example clients (examples/clients/) run against a real server, as a user would run them.

A real ``workflow-engine serve --demo`` (the demo's admin/password123, examples deployed) and a
worker (``worker --demo``: the demo's service handlers) share a fresh PostgreSQL database and a
Redis prefix, as production runs. The TypeScript example (with the generated
``@workflow-engine/client``, built from frontend-contract/typescript) and the Python example
(with the generated ``workflow_engine_client``) each log in, start an order over 1000, follow
its events live, approve the manager task, and wait for the order to complete; the test checks
their exit status and output, then asks the server itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy.engine import make_url
from support.auth import ENV as AUTH_ENV
from support.processes import Cluster, cluster

from server import migrations

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "frontend-contract" / "typescript"
TS_EXAMPLE = ROOT / "examples" / "clients" / "typescript"
PY_EXAMPLE = ROOT / "examples" / "clients" / "python" / "order.py"
RUN_SECONDS = 120.0
DEMO_USER, DEMO_PASSWORD = "admin", "password123"

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def npm(folder: Path, *args: str) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "Node.js and npm are needed (CI has them): the clients are built"
    done = subprocess.run(
        [npm, *args], cwd=folder, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"npm {' '.join(args)} in {folder}:\n{done.stdout}{done.stderr}"


def installed(folder: Path) -> bool:
    """node_modules matches the lock file (npm writes node_modules/.package-lock.json)."""
    marker = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="module")
def tsx() -> Path:
    """The TypeScript example, ready to run: the client built (dist/), the example's packages
    installed (the client linked from frontend-contract/typescript)."""
    if not installed(CLIENT):
        npm(CLIENT, "ci", "--no-audit", "--no-fund")
    npm(CLIENT, "run", "build")
    if not installed(TS_EXAMPLE):
        npm(TS_EXAMPLE, "ci", "--no-audit", "--no-fund")
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
