"""The dashboard end to end, in headless Chromium, against the production shape: an API process
serving the built dashboard at ``/``, an arq worker, PostgreSQL and Redis (real processes).

The browser (tests/e2e/order_flow.mjs) logs in, deploys the order process from its file (after
an invalid one whose problems show at their paths), starts an order over 1000, and watches the
instance page: the order waits at its first service task because no worker runs yet. The test
then crashes the API process and starts it again on its port, and starts the worker: the open
page must reconnect by itself (its connection badge goes through "reconnecting"), resume its
feed from the last seq, and move to the manager's approval without a reload. The task is
claimed and completed in the task list with its form, and the instance page shows the order
completed. A second order (-5) raises an incident: seen, its variables corrected on its page,
retried from the incident list, completed. The overview's live counters count both. Any error
in the page's console (outside the outage) fails the test. Screenshots go to the test's output
folder (``tmp_path/screenshots``).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy.engine import make_url
from support.auth import ENV as AUTH_ENV
from support.auth import PASSWORD, create_user, http_login_sync
from support.browser import browser_or_skip
from support.processes import Cluster, cluster

from server import migrations

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ORDER = ROOT / "examples" / "order-processing.json"
SCENARIO = Path(__file__).with_name("order_flow.mjs")
STEP_SECONDS = 180.0  # a bound on one conversation step of the scenario, never a benchmark
USER = "mia"


@pytest.fixture
async def database(fresh_postgres_url: str) -> str:
    await migrations.upgrade(fresh_postgres_url)
    # a manager who may deploy: the order's approval is for the group "managers"
    await create_user(fresh_postgres_url, USER, "admin", groups=["managers"])
    return fresh_postgres_url


@pytest.fixture
def processes(
    database: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Cluster]:
    plain = make_url(database).set(drivername="postgresql")
    env = {
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "HANDLER_MODULES": "server.demo_services",
        "LOG_LEVEL": "info",
        **AUTH_ENV,
    }
    with cluster(env, tmp_path / "logs") as running:
        yield running


def reader(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put("")  # end of output


def expect(lines: queue.Queue[str], prefix: str, seen: list[str]) -> str:
    """The next line of the scenario that starts with ``prefix`` (others are kept as log)."""
    while True:
        try:
            line = lines.get(timeout=STEP_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no {prefix!r} in {STEP_SECONDS}s:\n" + "\n".join(seen)) from None
        if not line:
            raise AssertionError(f"the scenario ended before {prefix!r}:\n" + "\n".join(seen))
        seen.append(line)
        if line.startswith(prefix):
            return line


async def test_order_flow_in_the_browser(processes: Cluster, tmp_path: Path) -> None:
    browser = browser_or_skip()
    api = processes.api("api")
    page = httpx.get(f"{api.url}/", timeout=10)
    assert page.status_code == 200 and '<div id="app">' in page.text, page.text[:300]

    screenshots = tmp_path / "screenshots"
    screenshots.mkdir()
    scenario = browser.popen(SCENARIO, api.url, str(screenshots), USER, PASSWORD, str(ORDER))
    assert scenario.stdout is not None and scenario.stdin is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=reader, args=(scenario.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        # the scenario's steps are waited for in a thread: this loop has nothing else to run
        waiting = await asyncio.to_thread(expect, lines, "WAITING_FOR_WORKER", seen)
        instance_id = int(waiting.split()[1])
        api = processes.restart(api)  # a crash: the page reconnects to the new process
        processes.worker("worker")  # now the order can move: the open page must follow
        scenario.stdin.write("go\n")
        scenario.stdin.flush()
        await asyncio.to_thread(expect, lines, "DONE", seen)
        assert await asyncio.to_thread(scenario.wait, STEP_SECONDS) == 0
    finally:
        if scenario.poll() is None:
            scenario.kill()
        scenario.wait(STEP_SECONDS)
        errors = scenario.stderr.read() if scenario.stderr else ""
        for pipe in (scenario.stdin, scenario.stdout, scenario.stderr):
            if pipe is not None:
                pipe.close()
        print("\n".join(seen), errors, f"screenshots: {screenshots}", sep="\n")

    # what the browser saw is what the server holds
    headers = http_login_sync(api.url, USER)
    query = "query Q($id: Int!) { instance(id: $id) { status tasks { status completedBy } } }"
    body = httpx.post(
        f"{api.url}/graphql",
        json={"query": query, "variables": {"id": instance_id}},
        headers=headers,
        timeout=10,
    ).json()
    instance = body["data"]["instance"]
    assert instance["status"] == "COMPLETED", json.dumps(body)
    assert [t["completedBy"] for t in instance["tasks"]] == [USER]
    shots = sorted(p.name for p in screenshots.glob("*.png"))
    assert len(shots) >= 8 and any("manager-approval" in s for s in shots), shots
