"""arq workers on real Redis and PostgreSQL: the API process enqueues, workers run.

Each test runs arq workers in this process (``Worker.async_run`` in a task) on the test's own
key prefix, and plays the API process with ``server.app.open_resources`` (or a ``Workflow`` on
an ``ArqQueue``, which is what it composes when REDIS_URL is set).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from arq.constants import job_key_prefix
from arq.worker import Worker
from sqlmodel import col, select
from starlette.applications import Starlette
from support.auth import TEST_AUTH

from server.app import open_resources
from server.arq_queue import ArqQueue, job_key, queue_name
from server.db import Database
from server.handlers import TaskContext, service
from server.models import HistoryRecord, Incident, Instance, Job, Timer
from server.services.workflow import Workflow
from server.settings import Settings
from workers import jobs
from workers.jobs import RUNTIME, Runtime
from workers.settings import SETTINGS, close_worker, shutdown, startup, worker_settings

pytestmark = [
    pytest.mark.anyio,
    # workers share PostgreSQL with the API; SQLite (one writer, one machine) is the embedded mode
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT_SECONDS = 30.0  # liveness bound only: a process that never finishes fails, not a slow one


@pytest.fixture
def settings(migrated_db: Database, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        database_url=migrated_db.url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        handler_modules=["server.demo_services"],
        worker_poll_delay=0.01,
        worker_sweep_interval=0.3,
        **TEST_AUTH,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Workflow]:
    """The API process's workflow, composed by the app's own composition root."""
    app = Starlette()
    async with open_resources(app, settings, [EXAMPLES / "order-processing.json"]):
        assert isinstance(app.state.runner, ArqQueue)
        yield app.state.workflow


@asynccontextmanager
async def worker(settings: Settings, *handlers: object) -> AsyncIterator[Runtime]:
    """An arq worker running in this event loop, until the block ends."""
    arq_worker = Worker(**worker_settings(settings, handlers=handlers), handle_signals=False)
    main = asyncio.create_task(arq_worker.async_run())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while RUNTIME not in arq_worker.ctx:
                if main.done():
                    main.result()  # start-up failed: say why
                await asyncio.sleep(0.01)
        yield arq_worker.ctx[RUNTIME]
    finally:
        arq_worker.handle_sig(signal.SIGUSR1)  # stops polling, cancels running jobs
        await asyncio.gather(main, return_exceptions=True)
        await close_worker(arq_worker)


async def deploy(workflow: Workflow, source: dict[str, Any]) -> None:
    await workflow.deploy(source, actor="test")


async def wait_for(db: Database, instance_id: int | None, status: str) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            async with db.reading() as session:
                instance = await session.get(Instance, instance_id)
                assert instance is not None
                if instance.status == status:
                    return
            await asyncio.sleep(0.02)


async def rows(db: Database, table: Any, *where: Any) -> list[Any]:
    async with db.reading() as session:
        return list(await session.exec(select(table).where(*where).order_by(col(table.id))))


async def steps_completed(db: Database, instance_id: int | None, step_id: str) -> int:
    found = await rows(
        db,
        HistoryRecord,
        col(HistoryRecord.instance_id) == instance_id,
        col(HistoryRecord.type) == "step_completed",
        col(HistoryRecord.step_id) == step_id,
    )
    return len(found)


def definition(key: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "name": key, "version": "1", "steps": list(steps)}


def task(step_id: str, service_name: str, method: str, *nxt: str, **config: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": step_id,
        "type": "service_task",
        "config": {"service_name": service_name, "method": method, **config},
    }
    if nxt:
        step["next"] = list(nxt)
    return step


END = {"id": "end", "type": "end_event"}


class Calls:
    """Handlers of the tests, counting their calls by step."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.fail = True

    def handlers(self) -> Iterator[object]:
        @service("Test", "count")
        def count(ctx: TaskContext) -> dict[str, Any]:
            self.count[ctx.step_id] = self.count.get(ctx.step_id, 0) + 1
            return {f"{ctx.step_id}_done": True}

        @service("Test", "flaky")
        def flaky(ctx: TaskContext) -> None:
            self.count[ctx.step_id] = self.count.get(ctx.step_id, 0) + 1
            if self.fail:
                raise ConnectionError("the service is down")

        both = threading.Barrier(2, timeout=WAIT_SECONDS)

        @service("Test", "meet")
        def meet(ctx: TaskContext) -> None:
            """Returns once two deliveries of the job run it at the same time."""
            self.count[ctx.step_id] = self.count.get(ctx.step_id, 0) + 1
            both.wait()

        @service("Test", "sleep")
        async def sleep(ctx: TaskContext) -> None:
            self.count[ctx.step_id] = self.count.get(ctx.step_id, 0) + 1
            await asyncio.sleep(float(ctx.variables["sleep"]))

        yield count
        yield flaky
        yield meet
        yield sleep


# --- the order process ----------------------------------------------------------------------


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "one-arq-job-per-step"])
async def test_the_order_process_completes_on_a_worker(
    api: Workflow, settings: Settings, migrated_db: Database, eager: bool
) -> None:
    """validate_order, then three checks on parallel branches, then ship_order: five service
    tasks per order, all on the worker. Eager, only the first is an arq job of its own."""
    settings = settings.model_copy(update={"worker_eager": eager})
    async with worker(settings) as runtime:
        started = [
            await api.start(
                key="order-processing", variables={"order_id": f"O-{i}", "total_amount": 500}
            )
            for i in range(3)
        ]
        for instance in started:
            await wait_for(migrated_db, instance.id, "completed")
        assert runtime.executor.inline == (4 * len(started) if eager else 0)
    for instance in started:
        for step in ("validate_order", "inventory_check", "credit_check", "fraud_check"):
            assert await steps_completed(migrated_db, instance.id, step) == 1
        assert await steps_completed(migrated_db, instance.id, "ship_order") == 1


# --- retries and incidents ------------------------------------------------------------------


async def test_a_failing_handler_is_retried_with_backoff_then_gets_an_incident(
    api: Workflow, settings: Settings, migrated_db: Database
) -> None:
    calls = Calls()
    retry = {"max_attempts": 3, "backoff": "200ms"}
    await deploy(api, definition("flaky", task("call", "Test", "flaky", "end", retry=retry), END))
    async with worker(settings, *calls.handlers()):
        instance = await api.start(key="flaky")
        async with asyncio.timeout(WAIT_SECONDS):
            while not await rows(migrated_db, Incident):
                await asyncio.sleep(0.02)
        assert calls.count == {"call": 3}
        attempts = await rows(migrated_db, Job, col(Job.instance_id) == instance.id)
        assert [job.attempt for job in attempts] == [1, 2, 3]
        for before, after in itertools.pairwise(attempts):
            assert before.finished_at is not None
            assert after.run_at - before.finished_at >= timedelta(milliseconds=200)
        [incident] = await rows(migrated_db, Incident)
        assert (incident.step_id, incident.status) == ("call", "open")

        calls.fail = False  # the operator fixed the service, and retries
        assert incident.id is not None
        await api.retry_incident(incident.id, actor="operator")
        await wait_for(migrated_db, instance.id, "completed")
    assert calls.count == {"call": 4}


# --- at least once, applied once ------------------------------------------------------------


async def test_a_job_run_twice_at_once_is_applied_once(
    api: Workflow, settings: Settings, migrated_db: Database
) -> None:
    """Two deliveries of one job run concurrently (a redelivery while the first still runs):
    the handler runs twice, the transition is applied once, the next step runs once."""
    calls = Calls()
    steps = (task("first", "Test", "meet", "second"), task("second", "Test", "count", "end"), END)
    await deploy(api, definition("twice", *steps))
    instance = await api.start(key="twice")  # enqueued; no worker polls this queue yet
    [job] = await rows(migrated_db, Job, col(Job.instance_id) == instance.id)
    ctx: dict[str, Any] = {SETTINGS: settings, "workflow_handlers": list(calls.handlers())}
    await startup(ctx)
    try:
        results = await asyncio.gather(jobs.run_job(ctx, job.id), jobs.run_job(ctx, job.id))
        assert sorted(results) == ["done, 0 more inline", "done, 1 more inline"]
        assert await jobs.run_job(ctx, job.id) == "skipped"  # a third, after the fact
    finally:
        await shutdown(ctx)
    await wait_for(migrated_db, instance.id, "completed")
    assert calls.count == {"first": 2, "second": 1}
    assert await steps_completed(migrated_db, instance.id, "first") == 1
    assert len(await rows(migrated_db, Job, col(Job.step_id) == "second")) == 1


# --- timers ---------------------------------------------------------------------------------


async def test_a_timer_fires_once_with_two_workers(
    api: Workflow, settings: Settings, migrated_db: Database
) -> None:
    calls = Calls()
    wait = {"id": "wait", "type": "timer_event", "config": {"duration": "1s"}, "next": ["after"]}
    await deploy(api, definition("timer", wait, task("after", "Test", "count", "end"), END))
    async with worker(settings, *calls.handlers()), worker(settings, *calls.handlers()):
        instance = await api.start(key="timer")
        await wait_for(migrated_db, instance.id, "completed")
    [timer] = await rows(migrated_db, Timer)
    assert timer.status == "fired"
    fired = await rows(migrated_db, HistoryRecord, col(HistoryRecord.type) == "timer_fired")
    assert len(fired) == 1
    assert calls.count == {"after": 1}


async def test_later_timers_share_slot_jobs_and_each_fires_once(
    api: Workflow, settings: Settings, migrated_db: Database, redis_url: str, redis_prefix: str
) -> None:
    """Timers due later than a second are grouped by 100 ms slot: one arq job per slot fires
    them all, once each, with two workers polling. The twelve are due at one instant (not
    "2s" from each start: on a loaded machine twelve starts can span twelve slots)."""
    calls = Calls()
    wait = {"id": "wait", "type": "timer_event", "config": {"until": "${due}"}, "next": ["after"]}
    later = definition("later", wait, task("after", "Test", "count", "end"), END)
    later["variables"] = {"due": {"type": "datetime", "required": True}}
    await deploy(api, later)
    due = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    started = [await api.start(key="later", variables={"due": due}) for _ in range(12)]
    client = aioredis.Redis.from_url(redis_url)
    try:
        queued = await client.zrange(queue_name(redis_prefix), 0, -1)
    finally:
        await client.aclose()
    slots = [key for key in queued if b":timers:" in key]
    assert len(slots) == 1, "12 timers due at one instant, one slot job"
    assert not [key for key in queued if b":timer:" in key], "no timer has a job of its own"
    async with worker(settings, *calls.handlers()), worker(settings, *calls.handlers()):
        for instance in started:
            await wait_for(migrated_db, instance.id, "completed")
    fired = await rows(migrated_db, HistoryRecord, col(HistoryRecord.type) == "timer_fired")
    assert len(fired) == len(started)
    assert calls.count == {"after": len(started)}


# --- Redis loses everything -----------------------------------------------------------------


async def test_work_lost_in_redis_is_found_again_by_the_sweeper(
    api: Workflow, settings: Settings, migrated_db: Database, redis_url: str, redis_prefix: str
) -> None:
    """The API enqueued a job and a timer, then Redis lost every key of the deployment: the
    workers' sweeper finds both in PostgreSQL, and both instances complete."""
    calls = Calls()
    wait = {"id": "wait", "type": "timer_event", "config": {"duration": "1s"}, "next": ["after"]}
    await deploy(api, definition("timer", wait, task("after", "Test", "count", "end"), END))
    await deploy(api, definition("job", task("only", "Test", "count", "end"), END))
    with_timer, with_job = await api.start(key="timer"), await api.start(key="job")
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{redis_prefix}*")]
        assert keys  # what the API enqueued: the queue, the jobs
        await client.delete(*keys)
    finally:
        await client.aclose()
    async with worker(settings, *calls.handlers()):
        await wait_for(migrated_db, with_job.id, "completed")
        await wait_for(migrated_db, with_timer.id, "completed")
    assert calls.count == {"after": 1, "only": 1}


# --- a step timeout longer than the arq job's ------------------------------------------------


async def test_a_step_timeout_longer_than_the_arq_job_is_cut_to_it_not_left_to_arq(
    api: Workflow, settings: Settings, migrated_db: Database
) -> None:
    """arq would cancel the job without a result (and the sweeper enqueue it again, forever):
    the worker cuts the step's 10 s to what the 2.5 s arq job leaves, so a quick handler
    completes and a slow one fails as timed out, into the step's retry policy."""
    calls = Calls()
    no_retry = {"max_attempts": 1}
    step = task("nap", "Test", "sleep", "end", timeout="10s", retry=no_retry)
    await deploy(api, definition("nap", step, END))
    async with worker(settings.model_copy(update={"worker_job_timeout": 2.5}), *calls.handlers()):
        quick = await api.start(key="nap", variables={"sleep": 0.1})
        slow = await api.start(key="nap", variables={"sleep": 5})
        await wait_for(migrated_db, quick.id, "completed")
        async with asyncio.timeout(WAIT_SECONDS):
            while not await rows(migrated_db, Incident, col(Incident.instance_id) == slow.id):
                await asyncio.sleep(0.05)
    [incident] = await rows(migrated_db, Incident)
    cut = re.match(r"timed out after ([0-9.]+)s", incident.message)
    assert cut is not None, incident.message
    assert 1 <= float(cut[1]) < 2.5


# --- a worker stopped while arq writes a job's end ----------------------------------------


class SlowFinish(Worker):
    """arq's worker, with a job's last Redis writes (shielded from cancellation by arq) slow."""

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(FINISH_DELAY)
        await super().finish_job(*args, **kwargs)


FINISH_DELAY = 1.0


async def test_a_stopped_worker_closes_its_pool_only_after_arq_has_written_the_jobs_end(
    api: Workflow, settings: Settings, migrated_db: Database, redis_url: str, redis_prefix: str
) -> None:
    """The job is done in the database, arq is still writing its end to Redis when the worker
    is stopped: closing waits for that write (the pool closed under it would leave the job's
    keys behind, and a pipeline cut there keeps its connection)."""
    calls = Calls()
    await deploy(api, definition("one", task("only", "Test", "count", "end"), END))
    slow = SlowFinish(**worker_settings(settings, handlers=calls.handlers()), handle_signals=False)
    main = asyncio.create_task(slow.async_run())
    try:
        instance = await api.start(key="one")
        await wait_for(migrated_db, instance.id, "completed")
        async with asyncio.timeout(WAIT_SECONDS):
            while not slow.jobs_complete:  # arq counts the job, then writes its end (slowly)
                await asyncio.sleep(0.01)
    finally:
        slow.handle_sig(signal.SIGUSR1)
        await asyncio.gather(main, return_exceptions=True)
        await close_worker(slow)
    [done] = await rows(migrated_db, Job, col(Job.instance_id) == instance.id)
    client = aioredis.Redis.from_url(redis_url)
    try:
        left = await client.exists(job_key_prefix + job_key(redis_prefix, cast(int, done.id)))
    finally:
        await client.aclose()
    assert left == 0, "arq's end of the job was not written before the pool closed"
    assert calls.count == {"only": 1}
