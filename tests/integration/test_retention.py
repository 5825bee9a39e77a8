"""History retention on real databases: thousands of instances, some ended long ago, purged in
batches with their dependants; running and recent instances untouched; idempotent; metrics;
two concurrent runs (PostgreSQL); the dry run; the CLI; the embedded app's loop."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, text, update
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col, select
from support.auth import TEST_AUTH
from support.queues import RecordingQueue
from typer.testing import CliRunner, Result

from server import cli as command
from server.app import create_app
from server.db import Database
from server.metrics import REGISTRY
from server.models import (
    HistoryRecord,
    Incident,
    Instance,
    Job,
    TaskCandidate,
    UserTask,
    utcnow,
)
from server.services.retention import (
    ADVISORY_LOCK_KEY,
    Retention,
    RetentionPolicy,
    purge_batch,
)
from server.services.workflow import Workflow
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
DAYS = 30
OLD_ENDED, RECENT_ENDED, OLD_RUNNING = 2_000, 300, 300
HISTORY_PER_INSTANCE = 4

REVIEW = {
    "key": "review",
    "name": "Review",
    "version": "1",
    "steps": [
        {"id": "start", "name": "Start", "type": "start_event", "next": ["review"]},
        {
            "id": "review",
            "name": "Review",
            "type": "user_task",
            "config": {"candidate_groups": ["reviewers"]},
            "next": ["done"],
        },
        {"id": "done", "name": "Done", "type": "end_event"},
    ],
}
CALLER = {
    "key": "caller",
    "name": "Caller",
    "version": "1",
    "steps": [
        {"id": "start", "name": "Start", "type": "start_event", "next": ["call"]},
        {
            "id": "call",
            "name": "Call review",
            "type": "call_activity",
            "config": {"process": "review"},
            "next": ["done"],
        },
        {"id": "done", "name": "Done", "type": "end_event"},
    ],
}
CHARGE = {
    "key": "charge",
    "name": "Charge",
    "version": "1",
    "steps": [
        {"id": "start", "name": "Start", "type": "start_event", "next": ["charge"]},
        {
            "id": "charge",
            "name": "Charge",
            "type": "service_task",
            "config": {"service_name": "Payments", "retry": {"max_attempts": 1}},
            "next": ["done"],
        },
        {"id": "done", "name": "Done", "type": "end_event"},
    ],
}


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@dataclass
class World:
    """What a test database holds: ids of what must go and of what must stay."""

    old: set[int]  # purgeable: ended before the cutoff (roots and the instances they called)
    kept: set[int]  # running, recent, or a tree with a running instance
    old_history: int


async def bulk_instances(
    db: Database,
    definition_id: int,
    count: int,
    *,
    started: datetime,
    ended: datetime | None,
) -> list[int]:
    """``count`` instances with history, a task (and its candidate), a job and an incident
    each, inserted in a few statements (the service would take minutes for thousands)."""
    status = "running" if ended is None else "completed"
    batch = uuid.uuid4().hex[:8]
    rows = [
        {
            "definition_id": definition_id,
            "definition_key": "review",
            "business_key": f"BULK-{batch}-{n}",
            "status": status,
            "variables": {"n": n},
            "state": {},
            "seq": HISTORY_PER_INSTANCE,
            "lock_version": HISTORY_PER_INSTANCE,
            "started_at": started,
            "updated_at": ended or started,
            "ended_at": ended,
        }
        for n in range(count)
    ]
    async with db.transaction() as session:
        connection = await session.connection()
        result = await connection.execute(
            insert(Instance).returning(col(Instance.id), sort_by_parameter_order=True), rows
        )
        ids = [int(i) for i in result.scalars() if i is not None]
        at = ended or started
        await connection.execute(
            insert(HistoryRecord),
            [
                {"instance_id": i, "seq": s, "type": "step_entered", "step_id": "review", "at": at}
                for i in ids
                for s in range(1, HISTORY_PER_INSTANCE + 1)
            ],
        )
        common = {"token_id": "t-1", "step_id": "review", "created_at": at}
        tasks = await connection.execute(
            insert(UserTask).returning(col(UserTask.id), sort_by_parameter_order=True),
            [{**common, "instance_id": i, "key": "task-1", "name": "Review"} for i in ids],
        )
        await connection.execute(
            insert(TaskCandidate),
            [{"task_id": t, "kind": "group", "value": "reviewers"} for t in tasks.scalars()],
        )
        await connection.execute(
            insert(Job),
            [
                {**common, "instance_id": i, "key": "job-1", "service_name": "S", "run_at": at}
                for i in ids
            ],
        )
        await connection.execute(
            insert(Incident),
            [
                {**common, "instance_id": i, "key": "inc-1", "error": "e", "message": "m"}
                for i in ids
            ],
        )
    return ids


async def age(db: Database, ids: Sequence[int], ended: datetime) -> None:
    """Instances made by the service, ended long ago as far as the database knows."""
    async with db.transaction() as session:
        await session.exec(
            update(Instance)
            .where(col(Instance.id).in_(ids))
            .values(ended_at=ended, updated_at=ended)
        )


async def open_task(db: Database, instance_id: int) -> int:
    async with db.reading() as session:
        found = await session.exec(
            select(UserTask.id).where(
                col(UserTask.instance_id) == instance_id, col(UserTask.status) == "open"
            )
        )
        task_id = found.first()
    assert task_id is not None
    return task_id


async def child_of(db: Database, parent_id: int) -> int:
    async with db.reading() as session:
        found = (
            await session.exec(select(Instance.id).where(col(Instance.parent_id) == parent_id))
        ).first()
    assert found is not None
    return found


async def build_world(db: Database, *, old_ended: int = OLD_ENDED) -> World:
    """Bulk instances plus real ones from the service: completed reviews, a caller with the
    review it called, a failed charge with its job and incident; all aged past the cutoff;
    and a caller (ended, forced by SQL) whose called review still runs."""
    now = utcnow()
    long_ago = now - timedelta(days=DAYS + 10)
    queue = RecordingQueue()
    workflow = Workflow(db, queue)
    review = (await workflow.deploy(REVIEW)).definition
    await workflow.deploy(CALLER)
    await workflow.deploy(CHARGE)
    assert review.id is not None
    old = set(await bulk_instances(db, review.id, old_ended, started=long_ago, ended=long_ago))
    kept = set(await bulk_instances(db, review.id, RECENT_ENDED, started=long_ago, ended=now))
    kept |= set(await bulk_instances(db, review.id, OLD_RUNNING, started=long_ago, ended=None))

    real: list[int] = []
    for _ in range(3):  # completed reviews
        started = await workflow.start(key="review")
        assert started.id is not None
        await workflow.complete_task(await open_task(db, started.id))
        real.append(started.id)
    caller = await workflow.start(key="caller")  # a caller and the review it called
    assert caller.id is not None
    child = await child_of(db, caller.id)
    await workflow.complete_task(await open_task(db, child))
    real += [caller.id, child]
    charge = await workflow.start(key="charge")  # a job failed for good: an incident
    assert charge.id is not None
    await workflow.job_finished(queue.job("charge", charge.id), failure=("declined", None, True))
    await workflow.cancel(charge.id, reason="gave up")
    real.append(charge.id)
    await age(db, real, long_ago)
    old |= set(real)

    stuck = await workflow.start(key="caller")  # ended by SQL while what it called runs
    assert stuck.id is not None
    stuck_child = await child_of(db, stuck.id)
    async with db.transaction() as session:
        await session.exec(
            update(Instance)
            .where(col(Instance.id) == stuck.id)
            .values(status="cancelled", ended_at=long_ago)
        )
    kept |= {stuck.id, stuck_child}
    for instance_id in [*real, stuck.id, stuck_child]:
        async with db.reading() as session:
            row = await session.get(Instance, instance_id)
        assert row is not None
    return World(old, kept, await history_of(db, old))


async def history_of(db: Database, ids: set[int]) -> int:
    async with db.reading() as session:
        counted = await session.exec(
            select(func.count())
            .select_from(HistoryRecord)
            .where(col(HistoryRecord.instance_id).in_(ids))
        )
        return int(counted.one())


async def rows_of(db: Database, ids: set[int]) -> dict[str, int]:
    """Rows per table that belong to ``ids`` (instances: the rows themselves)."""
    counts: dict[str, int] = {}
    async with db.reading() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "instances":
                column = table.c.id
            elif "instance_id" in table.c:
                column = table.c.instance_id
            else:
                continue
            counted = await session.exec(
                select(func.count()).select_from(table).where(column.in_(ids))
            )
            counts[table.name] = int(counted.one())
    return counts


def policy(batch_size: int = 500) -> RetentionPolicy:
    return RetentionPolicy(days=DAYS, batch_size=batch_size, interval_seconds=3600)


async def test_purges_old_ended_trees_and_nothing_else(migrated_db: Database) -> None:
    world = await build_world(migrated_db)
    kept_before = await rows_of(migrated_db, world.kept)
    assert sum(kept_before.values()) > len(world.kept)
    purged, deleted = (
        sample("workflow_retention_instances_purged_total"),
        sample("workflow_history_deleted_total"),
    )
    started = time.time()

    report = await Retention(migrated_db, policy()).run()

    assert report.instances == len(world.old) and report.history_rows == world.old_history
    roots = len(world.old) - 1  # the review the old caller called goes with it
    assert report.batches == math.ceil(roots / 500) and not report.stopped
    assert set((await rows_of(migrated_db, world.old)).values()) == {0}  # every dependant too
    async with migrated_db.reading() as session:
        candidates = await session.exec(select(func.count()).select_from(TaskCandidate))
        tasks = await session.exec(select(func.count()).select_from(UserTask))
        assert candidates.one() == tasks.one()  # no candidate of a deleted task is left
    assert await rows_of(migrated_db, world.kept) == kept_before
    assert sample("workflow_retention_instances_purged_total") - purged == len(world.old)
    assert sample("workflow_history_deleted_total") - deleted == world.old_history
    assert sample("workflow_retention_last_run_timestamp_seconds") >= started

    again = await Retention(migrated_db, policy()).run()  # idempotent
    assert (again.instances, again.history_rows, again.batches) == (0, 0, 0)
    assert await rows_of(migrated_db, world.kept) == kept_before


async def test_batches_respect_their_size(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=1_000)
    cutoff = utcnow() - timedelta(days=DAYS)
    async with migrated_db.transaction() as session:
        first = await purge_batch(session, cutoff, 300)
    assert first.roots == 300 and first.instances == 300
    assert first.history_rows == 300 * HISTORY_PER_INSTANCE
    report = await Retention(migrated_db, policy(batch_size=128)).run()
    left = len(world.old) - 300
    assert report.instances == left and report.batches == math.ceil((left - 1) / 128)


async def test_the_dry_run_counts_and_deletes_nothing(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=1_000)
    before = await rows_of(migrated_db, world.old | world.kept)
    purged = sample("workflow_retention_instances_purged_total")

    dry = await Retention(migrated_db, policy()).run(dry_run=True)

    assert dry.dry_run and dry.instances == len(world.old) and dry.history_rows == world.old_history
    assert await rows_of(migrated_db, world.old | world.kept) == before
    assert sample("workflow_retention_instances_purged_total") == purged
    real = await Retention(migrated_db, policy()).run()
    assert (real.instances, real.history_rows) == (dry.instances, dry.history_rows)


async def test_no_policy_keeps_everything(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=50)
    report = await Retention(migrated_db, RetentionPolicy(days=None)).run()
    assert report.cutoff is None and report.instances == 0
    assert (await rows_of(migrated_db, world.old))["instances"] == len(world.old)


class StopAfter(asyncio.Event):
    """Set once ``is_set`` has been asked ``checks`` times: a stop between two batches."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0 or super().is_set()


async def test_a_run_stops_between_batches(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=1_000)
    report = await Retention(migrated_db, policy(batch_size=100)).run(stop=StopAfter(2))
    assert report.stopped and report.batches == 2 and report.instances == 200
    rest = await Retention(migrated_db, policy(batch_size=100)).run()
    assert report.instances + rest.instances == len(world.old)


async def test_a_workers_loop_purges_and_stops(migrated_db: Database) -> None:
    """What a worker starts beside its sweeper (workers.retention), from its settings."""
    from workers.retention import start_retention

    world = await build_world(migrated_db, old_ended=200)
    settings = Settings(history_retention_days=DAYS, retention_interval_seconds=1)
    loop = await start_retention(migrated_db, settings)
    try:
        for _ in range(200):
            if (await rows_of(migrated_db, world.old))["instances"] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await asyncio.wait_for(loop.stop(), 10)
    assert (await rows_of(migrated_db, world.old))["instances"] == 0
    assert (await rows_of(migrated_db, world.kept))["instances"] == len(world.kept)
    idle = await start_retention(migrated_db, Settings())  # no policy: no task at all
    await idle.stop()


# --- PostgreSQL: concurrency and the advisory lock ---------------------------------------------


async def test_two_concurrent_runs_neither_double_delete_nor_deadlock(
    migrated_db: Database,
) -> None:
    if migrated_db.is_sqlite:
        pytest.skip("SQLite has one writer: runs cannot overlap (PostgreSQL variant runs)")
    world = await build_world(migrated_db)
    other = Database(migrated_db.url)
    try:
        reports = await asyncio.wait_for(
            asyncio.gather(
                Retention(migrated_db, policy(batch_size=50)).run(),
                Retention(other, policy(batch_size=50)).run(),
            ),
            120,
        )
    finally:
        await other.close()
    assert sum(r.instances for r in reports) == len(world.old)
    assert sum(r.history_rows for r in reports) == world.old_history
    assert set((await rows_of(migrated_db, world.old)).values()) == {0}


async def test_a_locked_instance_is_skipped_not_waited_for(migrated_db: Database) -> None:
    """A transaction holding an old instance (a transition, say) neither blocks the purge nor
    loses its row under it: the run goes past it, the next run takes it."""
    if migrated_db.is_sqlite:
        pytest.skip("SQLite has no row locks (PostgreSQL variant runs)")
    world = await build_world(migrated_db, old_ended=300)
    held = min(world.old)
    async with migrated_db.engine.connect() as holder:
        await holder.execute(
            text("SELECT id FROM instances WHERE id = :id FOR UPDATE"), {"id": held}
        )
        report = await asyncio.wait_for(Retention(migrated_db, policy(batch_size=50)).run(), 60)
        assert report.instances == len(world.old) - 1
        await holder.rollback()
    assert (await rows_of(migrated_db, {held}))["instances"] == 1
    after = await Retention(migrated_db, policy()).run()
    assert after.instances == 1


async def test_one_exclusive_run_at_a_time(migrated_db: Database) -> None:
    if migrated_db.is_sqlite:
        pytest.skip("SQLite takes no advisory lock (PostgreSQL variant runs)")
    world = await build_world(migrated_db, old_ended=100)
    async with migrated_db.engine.connect() as holder:  # another process's run, say
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        skipped = await Retention(migrated_db, policy()).run_exclusive()
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await holder.commit()
    assert skipped.skipped and skipped.instances == 0
    assert (await rows_of(migrated_db, world.old))["instances"] == len(world.old)
    done = await Retention(migrated_db, policy()).run_exclusive()
    assert not done.skipped and done.instances == len(world.old)


# --- the operator's command and the embedded app -----------------------------------------------


def cli_env(db: Database, days: int | None) -> dict[str, str | None]:
    """The environment of the command for ``db`` (None: unset)."""
    url = make_url(db.url)
    env: dict[str, str | None] = {"HISTORY_RETENTION_DAYS": None if days is None else str(days)}
    if url.get_backend_name() == "sqlite":
        env |= {"DATABASE_URL": None, "SQLITE_PATH": str(url.database)}
    else:
        env |= {"DATABASE_URL": url.render_as_string(hide_password=False)}
    return env


def cli(db: Database, *args: str, days: int | None = None) -> Result:
    """``workflow-engine retention run ARGS`` (in a thread: the command runs its own loop)."""
    return CliRunner().invoke(command.app, ["retention", "run", *args], env=cli_env(db, days))


async def test_the_command_dry_run_then_run(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=100)
    unset = await asyncio.to_thread(cli, migrated_db)
    assert unset.exit_code == 1 and "HISTORY_RETENTION_DAYS is not set" in unset.stderr
    dry = await asyncio.to_thread(cli, migrated_db, "--dry-run", days=DAYS)
    assert dry.exit_code == 0, dry.output
    assert f"would purge {len(world.old)} instance(s)" in dry.stdout
    assert (await rows_of(migrated_db, world.old))["instances"] == len(world.old)
    done = await asyncio.to_thread(cli, migrated_db, "--days", str(DAYS))
    assert done.exit_code == 0, done.output
    assert (
        f"purged {len(world.old)} instance(s) and {world.old_history} history row(s)" in done.stdout
    )
    assert (await rows_of(migrated_db, world.old))["instances"] == 0


async def test_the_embedded_app_purges_while_it_runs(migrated_db: Database) -> None:
    world = await build_world(migrated_db, old_ended=100)
    url = make_url(migrated_db.url)
    where: dict[str, Any] = (
        {"database_url": None, "sqlite_path": Path(str(url.database))}
        if migrated_db.is_sqlite
        else {"database_url": migrated_db.url}
    )
    settings = Settings(**where, redis_url=None, history_retention_days=DAYS, **TEST_AUTH)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if (await rows_of(migrated_db, world.old))["instances"] == 0:
                break
            await asyncio.sleep(0.05)
    assert (await rows_of(migrated_db, world.old))["instances"] == 0
    assert (await rows_of(migrated_db, world.kept))["instances"] == len(world.kept)
