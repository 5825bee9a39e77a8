"""Benchmark of the dashboard's responsiveness in headless Chromium, under a burst of events.

    make bench-dashboard          # needs PostgreSQL, Redis, node, chromium, npm ci in the dashboard
    python tests/performance/bench_dashboard.py --instances 10000 --rate 1000 --seconds 10

The production shape: an API process (``workflow-engine serve``) on PostgreSQL + Redis serves the
dashboard; the database holds N instances (``--live`` of them real, started through the service
and waiting at a user task; the rest bulk-loaded by SQL). Then a burst of ``--rate`` events a
second for ``--seconds``, from ``--generators`` processes, each event one instance change with one
history entry (a ``setVariables``) on the live instances:
- ``--source bus`` (default): published on the Redis bus exactly as the outbox relay publishes a
  committed transition (its payload, the next seq), so the whole path to the screen is the real
  one (Redis, the API process's hub, the GraphQL subscriptions, the websocket, the browser)
  except the commit itself. On this 2-core machine a service process commits only some tens of
  transitions a second (``make bench`` measures that path): 1,000 a second cannot be committed
  here, and the dashboard's side is what this benchmark is about.
- ``--source service``: real ``setVariables`` transitions through the service (Workflow + outbox
  relay + Redis bus, composed as in an API process), at whatever rate the commits allow.

Two dashboard tabs watch: the instances list (every instance change reaches it: instanceChanges
without a filter) and one live instance's page (its timeline: instanceEvents). It prints:
- the rate of transitions actually committed;
- event to screen: from the transition's timestamp (the server's clock; same machine) to the
  frame after the dashboard drew it, p50/p99, per tab;
- responsiveness: real clicks (every 100 ms on the list tab during the burst), from the input
  event to the next frame, p50/p99/max; and the main thread's long tasks (> 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.auth import ENV as AUTH_ENV  # noqa: E402
from support.auth import PASSWORD, create_user  # noqa: E402
from support.browser import Browser, missing  # noqa: E402
from support.processes import cluster  # noqa: E402

from server import migrations  # noqa: E402
from server.db import Database  # noqa: E402
from server.models import Job, Timer  # noqa: E402
from server.outbox import OutboxRelay  # noqa: E402
from server.redis_bus import RedisBus  # noqa: E402
from server.services.workflow import Workflow  # noqa: E402

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCRIPT = Path(__file__).with_name("dashboard_burst.mjs")
USER = "bench"
KEY = "dashboard-bench"
DEFINITION = {
    "key": KEY,
    "name": "Dashboard bench",
    "version": "1",
    "variables": {"n": "number"},
    "steps": [
        {"id": "start", "type": "start_event", "next": ["review"]},
        {
            "id": "review",
            "name": "Review",
            "type": "user_task",
            "config": {"candidate_groups": ["reviewers"]},
            "next": ["done"],
        },
        {"id": "done", "type": "end_event"},
    ],
}
BULK = """
INSERT INTO instances (definition_id, definition_key, business_key, status, variables, state,
                       seq, lock_version, started_at, updated_at)
SELECT $1, $2, 'BULK-' || g, 'running', jsonb_build_object('n', g), '{}'::jsonb, 0, 0,
       now() - make_interval(secs => 3600 + g), now() - make_interval(secs => 3600 + g)
FROM generate_series(1, $3) AS g
"""
# the set-up starts the live instances before this, the burst runs while the tabs watch
STEP_SECONDS = 300.0
TICK = 0.01  # the bus source publishes a batch every 10 ms (the relay batches too)


class NoQueue:
    """No job ever runs in this benchmark (user tasks only)."""

    async def submit(self, jobs: Sequence[Job]) -> None:
        pass

    async def schedule(self, timers: Sequence[Timer]) -> None:
        pass


class Services:
    """What an API process composes to change instances and publish their events."""

    def __init__(self, url: str, prefix: str) -> None:
        self.db = Database(url)
        self.bus = RedisBus(REDIS_URL, prefix)
        self.relay = OutboxRelay(self.db, self.bus)
        self.workflow = Workflow(self.db, NoQueue(), publisher=self.relay)

    async def __aenter__(self) -> Workflow:
        await self.bus.start()
        await self.relay.start()
        return self.workflow

    async def __aexit__(self, *exc: object) -> None:
        await self.relay.stop()
        await self.bus.stop()
        await self.db.close()


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1) if ordered else 0.0


def figures(samples: Sequence[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0}
    return {
        "count": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": pct(samples, 0.99),
        "max_ms": round(max(samples), 1),
    }


# --- a generator process: its share of the burst --------------------------------------------


async def generate(
    url: str, prefix: str, ids: list[int], rate: float, seconds: float
) -> tuple[int, float]:
    """``rate`` setVariables a second over ``ids`` for ``seconds``, on a schedule (a late one is
    sent at once, not skipped); each in-flight call has its own instances (no lock waits)."""
    lanes = 16
    own = [ids[k::lanes] for k in range(lanes)]  # a lane's own instances: no lock waits
    done = 0
    async with Services(url, prefix) as workflow:
        await ready()
        started = time.perf_counter()
        total = int(rate * seconds)

        async def lane(k: int) -> None:
            nonlocal done
            for i in range(k, total, lanes):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                mine = own[k] or ids
                await workflow.set_variables(mine[(i // lanes) % len(mine)], {"n": i}, actor=USER)
                done += 1

        await asyncio.gather(*(lane(k) for k in range(lanes)))
        took = time.perf_counter() - started
        await asyncio.sleep(0.5)  # the relay publishes the last rows
    return done, took


SUMMARY = """
SELECT id, definition_id, definition_key, business_key, status, seq, parent_id, started_at,
       (SELECT coalesce(max(id), 0) FROM history) AS last_history
FROM instances WHERE id = ANY($1::bigint[]) ORDER BY id
"""


async def publish(
    url: str, prefix: str, ids: list[int], rate: float, seconds: float
) -> tuple[int, float]:
    """``rate`` events a second on the bus, as the outbox relay publishes a committed
    ``setVariables`` (the payload of server.services.changes: the instance's summary and its
    one new history entry, with the next seq), in batches every ``TICK`` seconds."""
    plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(plain)
    try:
        rows = await conn.fetch(SUMMARY, ids)
    finally:
        await conn.close()
    seqs = {r["id"]: r["seq"] for r in rows}
    history_id = rows[0]["last_history"] if rows else 0
    bus = RedisBus(REDIS_URL, prefix)
    await bus.start()
    sent = 0
    try:
        await ready()
        started = time.perf_counter()
        total = int(rate * seconds)
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * rate) + 1)
            batch = []
            for n in range(sent, due):
                row = rows[n % len(rows)]
                seqs[row["id"]] += 1
                history_id += 1
                now = datetime.now(UTC).isoformat()
                summary = {
                    "id": row["id"],
                    "definition_id": row["definition_id"],
                    "definition_key": row["definition_key"],
                    "business_key": row["business_key"],
                    "status": row["status"],
                    "seq": seqs[row["id"]],
                    "parent_id": row["parent_id"],
                    "started_at": row["started_at"].isoformat(),
                    "updated_at": now,
                    "ended_at": None,
                }
                event = {
                    "id": history_id,
                    "seq": seqs[row["id"]],
                    "type": "variables_set",
                    "step_id": None,
                    "token_id": None,
                    "actor": USER,
                    "at": now,
                    "data": {"variables": {"n": n}},
                }
                batch.append(
                    {
                        "instance_id": row["id"],
                        "instance": summary,
                        "events": [event],
                        "tasks": [],
                        "incidents": [],
                    }
                )
            await bus.publish(batch)
            sent = due
            if sent < total:
                await asyncio.sleep(TICK)
        took = time.perf_counter() - started
    finally:
        await bus.stop()
    return sent, took


async def ready() -> None:
    """Set up: say so, and start when the benchmark says go (a line on stdin)."""
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


def generator_main(args: argparse.Namespace) -> int:
    ids = [int(x) for x in args.ids.split(",")]
    make = publish if args.source == "bus" else generate
    count, seconds = asyncio.run(make(args.url, args.prefix, ids, args.rate, args.seconds))
    print(count, round(seconds, 3), flush=True)  # the seconds from "go" to the last event
    return 0


# --- the benchmark ----------------------------------------------------------------------------


async def prepare(url: str, prefix: str, instances: int, live: int) -> list[int]:
    async with Services(url, prefix) as workflow:
        definition = (await workflow.deploy(DEFINITION, actor=USER)).definition
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(BULK, definition.id, KEY, max(0, instances - live))
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        ids = []
        for n in range(live):
            started = await workflow.start(
                key=KEY, business_key=f"LIVE-{n}", variables={"n": 0}, actor=USER
            )
            assert started.id is not None
            ids.append(started.id)
    return ids


def expect(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            err = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"process {process.pid} ended before {prefix}:\n{err}")
        if line.startswith(prefix):
            return line.strip()
    raise TimeoutError(prefix)


def say(process: subprocess.Popen[str], word: str) -> None:
    assert process.stdin is not None
    process.stdin.write(word + "\n")
    process.stdin.flush()


def run(args: argparse.Namespace) -> dict[str, Any]:
    reason = missing()
    if reason is not None:
        raise SystemExit(f"bench-dashboard cannot run: {reason}")
    node = os.environ.get("NODE", "node")
    browser = Browser(node, os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    name = f"wf_dash_{secrets.token_hex(4)}"
    prefix = f"wfb_{secrets.token_hex(4)}"
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    async def create() -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        await migrations.upgrade(url)
        await create_user(url, USER, "admin", groups=["reviewers"])

    async def drop() -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    asyncio.run(create())
    out = Path(args.output or tempfile.mkdtemp(prefix="bench-dashboard-"))
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "DATABASE_URL": f"{base}/{name}",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        "LOG_LEVEL": "warning",
        **AUTH_ENV,
    }
    try:
        with cluster(env, out / "logs") as running:
            api = running.api("api")
            prepared = time.perf_counter()
            ids = asyncio.run(prepare(url, prefix, args.instances, args.live))
            print(f"{args.instances} instances ready in {time.perf_counter() - prepared:.1f}s")
            tabs = browser.popen(SCRIPT, api.url, USER, PASSWORD, str(ids[-1]), str(out))
            generators = [
                subprocess.Popen(
                    [
                        *(sys.executable, __file__, "--generator", "--url", url),
                        *("--prefix", prefix, "--source", args.source),
                        *("--ids", ",".join(map(str, ids[g :: args.generators]))),
                        *("--rate", str(args.rate / args.generators)),
                        *("--seconds", str(args.seconds)),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, **AUTH_ENV},
                )
                for g in range(args.generators)
            ]
            try:
                expect(tabs, "READY")
                for generator in generators:
                    expect(generator, "READY")
                say(tabs, "GO")  # the tabs measure from now
                for generator in generators:
                    say(generator, "go")
                outputs = [g.communicate(timeout=STEP_SECONDS)[0] for g in generators]
                committed = sum(int(o.split()[-2]) for o in outputs)
                elapsed = max(float(o.split()[-1]) for o in outputs)  # the slowest generator
                say(tabs, "STOP")
                result = json.loads(expect(tabs, "RESULT").removeprefix("RESULT "))
                tabs.wait(60)
            finally:
                for process in (tabs, *generators):
                    if process.poll() is None:
                        process.kill()
                for pipe in (tabs.stdin, tabs.stdout, tabs.stderr):
                    if pipe is not None:
                        pipe.close()
    finally:
        asyncio.run(drop())
    list_tab, detail_tab = result["list"], result["detail"]
    return {
        "instances": args.instances,
        "burst": {
            "source": args.source,
            "target_per_second": args.rate,
            "seconds": round(elapsed, 1),
            "events": committed,
            "events_per_second": round(committed / elapsed, 1),
        },
        "event_to_screen_list_tab": figures(list_tab["latencies"]),
        "event_to_screen_instance_tab": figures(detail_tab["latencies"]),
        "arrival_to_screen_list_tab": figures(list_tab["arrivals"]),
        "arrival_to_screen_instance_tab": figures(detail_tab["arrivals"]),
        "click_to_next_frame_during_burst": figures(list_tab["clicks"]),
        "long_tasks_list_tab": figures(list_tab["longTasks"]),
        "rows_drawn": list_tab["rows"],
        "timeline_entries_drawn": detail_tab["timeline"],
        "screenshots": str(out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=200, help="real instances the burst changes")
    parser.add_argument("--rate", type=float, default=1000.0, help="transitions a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--generators", type=int, default=2, help="processes making the burst")
    parser.add_argument(
        "--source",
        choices=["bus", "service"],
        default="bus",
        help="bus: events published on Redis as the outbox relay does (the dashboard's path); "
        "service: real setVariables transitions (bounded by the commit rate)",
    )
    parser.add_argument("--output", help="folder for the screenshots and logs")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        return generator_main(args)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
