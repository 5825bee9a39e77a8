"""History retention: instances that ended more than N days ago are deleted, in small batches.

What a purge removes (Camunda's history cleanup removes the whole historic process instance,
and so does this): the instance row and everything that hangs off it: its history, user tasks
(and their candidates), jobs, timers, message subscriptions and incidents, and the instances it
called (call activities), which go with their root. Our ``instances`` table is runtime and
history at once: keeping a "summary row" would leave the very table that grows without bound
growing, and keep the business key and variables (often personal data) forever. Outbox rows
are not touched: they live only until relayed.

Only roots are chosen (``parent_id IS NULL``): a called instance goes when its caller goes, never
before, so a caller never loses part of its tree. A root whose tree still holds a running
instance is left alone.

Each batch is one short transaction over at most ``batch_size`` roots, chosen ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL: two runs at once take disjoint batches (no double delete, no deadlock),
and an instance a transition holds is skipped until the next run. A run stops between batches
when asked. One run at a time per database is the driver's concern: :meth:`Retention.run_exclusive`
takes a PostgreSQL advisory lock (SQLite's single writer needs none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server import metrics
from server.db import Database
from server.models import (
    HistoryRecord,
    Incident,
    Instance,
    Job,
    MessageSubscription,
    TaskCandidate,
    Timer,
    UserTask,
    utcnow,
)
from server.services.transitions import ENDED

log = logging.getLogger(__name__)

# pg_advisory_lock's key: one retention run per database ("wf-retention" as a 63-bit number)
ADVISORY_LOCK_KEY = 0x77662D726574656E
# a batch waits at most this long for a row lock instead of queueing behind a long transaction
LOCK_TIMEOUT = "5s"


class RetentionSettings(Protocol):
    """The settings a policy is read from (``server.settings.Settings``: services do not
    import the settings module)."""

    @property
    def history_retention_days(self) -> int | None: ...
    @property
    def retention_batch_size(self) -> int: ...
    @property
    def retention_interval_seconds(self) -> float: ...


@dataclass(frozen=True)
class RetentionPolicy:
    """``days``: ended instances older than this are purged (None: history is kept forever)."""

    days: int | None = None
    batch_size: int = 500
    interval_seconds: float = 3600.0

    @classmethod
    def of(cls, settings: RetentionSettings) -> RetentionPolicy:
        """HISTORY_RETENTION_DAYS, RETENTION_BATCH_SIZE, RETENTION_INTERVAL_SECONDS."""
        return cls(
            settings.history_retention_days,
            settings.retention_batch_size,
            settings.retention_interval_seconds,
        )

    def cutoff(self, now: datetime) -> datetime | None:
        return None if self.days is None else now - timedelta(days=self.days)


@dataclass(frozen=True)
class PurgeReport:
    """What a run removed (a dry run: what it would remove)."""

    cutoff: datetime | None
    instances: int = 0  # roots and the instances they called
    history_rows: int = 0
    batches: int = 0  # transactions that deleted something
    dry_run: bool = False
    stopped: bool = False  # asked to stop before the last batch
    skipped: bool = False  # another run held the lock: nothing done


@dataclass(frozen=True)
class BatchResult:
    roots: int  # roots chosen (some may be left for a running instance in their tree)
    instances: int
    history_rows: int
    last_root: int  # the next batch starts after it


class Retention:
    """Purges ended instances under ``policy``; the same code for the CLI, workers and API."""

    def __init__(
        self,
        db: Database,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock

    async def run(self, *, dry_run: bool = False, stop: asyncio.Event | None = None) -> PurgeReport:
        """Purge batch after batch until none is left (or ``stop`` is set between two)."""
        cutoff = self.policy.cutoff(self.clock())
        if cutoff is None:
            return PurgeReport(cutoff=None, dry_run=dry_run)
        if dry_run:
            async with self.db.reading() as session:
                instances, history = await _count(session, cutoff)
            return PurgeReport(cutoff, instances, history, dry_run=True)
        instances = history = batches = after = 0
        stopped = False
        while True:
            if stop is not None and stop.is_set():
                stopped = True
                break
            async with self.db.transaction() as session:
                if not self.db.is_sqlite:
                    await session.exec(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))  # type: ignore[call-overload]  # raw SQL
                result = await purge_batch(session, cutoff, self.policy.batch_size, after=after)
            if result.roots == 0:
                break
            after = result.last_root
            batches += 1 if result.instances else 0
            instances += result.instances
            history += result.history_rows
            # counted once committed: a rolled-back batch removed nothing
            metrics.RETENTION_INSTANCES_PURGED.inc(result.instances)
            metrics.HISTORY_DELETED.inc(result.history_rows)
            if result.roots < self.policy.batch_size:
                break
            await asyncio.sleep(0)  # let the rest of the process breathe between batches
        if not stopped:
            metrics.RETENTION_LAST_RUN.set(time.time())
        return PurgeReport(cutoff, instances, history, batches, stopped=stopped)

    async def run_exclusive(
        self, *, dry_run: bool = False, stop: asyncio.Event | None = None
    ) -> PurgeReport:
        """:meth:`run`, unless another process's run holds the database's retention lock
        (then a report with ``skipped``). SQLite: no lock, its writer is single already."""
        async with self._exclusive() as held:
            if not held:
                return PurgeReport(cutoff=self.policy.cutoff(self.clock()), skipped=True)
            return await self.run(dry_run=dry_run, stop=stop)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        if self.db.is_sqlite:
            yield True
            return
        # a session-level lock on a connection of its own, held across the batches'
        # transactions; it goes with the connection if the process dies
        async with self.db.engine.connect() as connection:
            held = await _try_lock(connection)
            try:
                yield held
            finally:
                if held:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    )
                await connection.commit()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run now, then every ``interval_seconds``, until ``stop`` is set (a batch under way
        finishes first). Does nothing when the policy keeps history forever."""
        if self.policy.days is None:
            return
        log.info(
            "retention: history of instances ended over %d days ago is purged every %ss",
            self.policy.days,
            self.policy.interval_seconds,
        )
        while not stop.is_set():
            try:
                report = await self.run_exclusive(stop=stop)
                if report.instances:
                    log.info(
                        "retention: %d instances (%d history rows) purged in %d batches",
                        report.instances,
                        report.history_rows,
                        report.batches,
                    )
            except Exception:
                log.exception("retention run failed; again in %ss", self.policy.interval_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.policy.interval_seconds)


class RetentionLoop:
    """:meth:`Retention.run_forever` as a background task: started and stopped by the process
    that runs it (a worker, or the API in the embedded mode)."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.retention.policy.days is None or self._task is not None:
            return
        self._stop.clear()
        self._task = asyncio.create_task(self.retention.run_forever(self._stop), name="retention")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None


async def _try_lock(connection: AsyncConnection) -> bool:
    result = await connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
    )
    return bool(result.scalar())


def _roots(cutoff: datetime) -> Any:
    """Roots of trees that ended before ``cutoff``."""
    return select(Instance.id).where(
        col(Instance.parent_id).is_(None),
        col(Instance.status).in_(sorted(ENDED)),
        col(Instance.ended_at) < cutoff,
    )


async def _trees(session: AsyncSession, roots: Sequence[int]) -> dict[int, list[tuple[int, bool]]]:
    """Each root's instances (itself and those it called, at any depth), with ``ended``."""
    tree = (
        select(col(Instance.id).label("id"), col(Instance.id).label("root"))
        .where(col(Instance.id).in_(roots))
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        select(col(Instance.id), tree.c.root).join(tree, col(Instance.parent_id) == tree.c.id)
    )
    rows = await session.exec(
        select(tree.c.root, tree.c.id, col(Instance.ended_at).is_not(None)).join(
            Instance, col(Instance.id) == tree.c.id
        )
    )
    trees: dict[int, list[tuple[int, bool]]] = {}
    for root, instance_id, ended in rows:
        trees.setdefault(int(root), []).append((int(instance_id), bool(ended)))
    return trees


async def purge_batch(
    session: AsyncSession, cutoff: datetime, limit: int, *, after: int = 0
) -> BatchResult:
    """Delete up to ``limit`` ended roots with ids above ``after`` (and their trees) in the
    caller's transaction. Batches walk the ids upwards, so a root left behind (locked, or
    with a running instance in its tree) is not chosen again by the same run."""
    query = (
        _roots(cutoff)
        .where(col(Instance.id) > after)
        .order_by(col(Instance.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    roots = [int(r) for r in await session.exec(query) if r is not None]
    if not roots:
        return BatchResult(0, 0, 0, after)
    trees = await _trees(session, roots)
    ids = _purgeable(trees)
    if not ids:
        return BatchResult(len(roots), 0, 0, roots[-1])
    history = await _delete(
        session, delete(HistoryRecord).where(col(HistoryRecord.instance_id).in_(ids))
    )
    tasks = select(UserTask.id).where(col(UserTask.instance_id).in_(ids))
    await _delete(session, delete(TaskCandidate).where(col(TaskCandidate.task_id).in_(tasks)))
    for table in (UserTask, Job, Timer, MessageSubscription, Incident):
        await _delete(session, delete(table).where(col(table.instance_id).in_(ids)))
    # the rows counted are ``ids``: the rowcount leaves out a called instance that a cascade
    # removed with its caller (SQLite)
    await _delete(session, delete(Instance).where(col(Instance.id).in_(ids)))
    return BatchResult(len(roots), len(ids), history, roots[-1])


def _purgeable(trees: dict[int, list[tuple[int, bool]]]) -> list[int]:
    """The instances of the trees that have ended all through."""
    return [i for members in trees.values() if all(e for _, e in members) for i, _ in members]


async def _delete(session: AsyncSession, statement: Any) -> int:
    result = await session.exec(statement)
    return int(result.rowcount or 0)


async def _count(session: AsyncSession, cutoff: datetime) -> tuple[int, int]:
    """Instances and history rows a run would purge now (a running tree is not counted)."""
    roots = [int(r) for r in await session.exec(_roots(cutoff)) if r is not None]
    instances = history = 0
    for start in range(0, len(roots), 1000):
        ids = _purgeable(await _trees(session, roots[start : start + 1000]))
        if not ids:
            continue
        instances += len(ids)
        counted = await session.exec(
            select(func.count())
            .select_from(HistoryRecord)
            .where(col(HistoryRecord.instance_id).in_(ids))
        )
        history += int(counted.one())
    return instances, history
