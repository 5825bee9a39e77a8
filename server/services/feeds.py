"""The reads behind the live feeds (GraphQL subscriptions): what a subscriber with a cursor
missed, dashboard counters, and who may see a task.

Replays come back in the shape of the live payloads (``server.services.changes``), so a
subscription handles what it replays and what it receives live with the same code.

``CounterFeed`` keeps one throttled snapshot of the counters per process, shared by every
counter subscriber: a burst of events costs one query per interval, however many dashboards
watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import func, literal, union_all
from sqlmodel import col, select

from server.bus import Hub, Payload, SubscriberTooSlow
from server.db import Database
from server.models import HistoryRecord, Incident, Instance, UserTask
from server.services.changes import history_entry, instance_summary
from server.services.errors import NotFound

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
ENDED = frozenset({"completed", "failed", "cancelled"})


# --- one instance ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceHistory:
    instance: Payload  # its summary now (``changes.instance_summary``)
    events: list[Payload]  # history entries after the cursor, by seq (at most ``limit``)


async def instance_history(
    db: Database, instance_id: int, after_seq: int, *, limit: int = REPLAY_PAGE
) -> InstanceHistory:
    """The instance and up to ``limit`` history entries after ``after_seq``; NotFound if none
    has the id. Read in one session: the entries and the summary agree (a snapshot on
    PostgreSQL's default isolation per statement is enough, since history is append-only and
    the summary is read last: its ``seq`` is never below the entries')."""
    async with db.reading() as session:
        rows = list(
            await session.exec(
                select(HistoryRecord)
                .where(col(HistoryRecord.instance_id) == instance_id)
                .where(col(HistoryRecord.seq) > after_seq)
                .order_by(col(HistoryRecord.seq))
                .limit(limit)
            )
        )
        instance = await session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("instance", instance_id)
    return InstanceHistory(instance_summary(instance), [history_entry(r) for r in rows])


# --- instances matching a filter ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    definition_key: str | None = None
    status: str | None = None

    def matches(self, instance: Payload) -> bool:
        """For live payloads: the instance as it is after the change."""
        return (
            self.definition_key is None or instance["definition_key"] == self.definition_key
        ) and (self.status is None or instance["status"] == self.status)


@dataclass(frozen=True, slots=True)
class InstanceChange:
    instance: Payload  # the instance's summary now
    cursor: int  # the global id of its last history entry after the replay cursor


async def changes_after(
    db: Database, after_id: int, where: ChangeFilter, *, limit: int = REPLAY_PAGE
) -> list[InstanceChange]:
    """The instances matching ``where`` that have history entries with a global id above
    ``after_id``: each once, in its current state, ordered by its last such entry (pass the
    last ``cursor`` as ``after_id`` for the next page). A dashboard wants where each instance
    is now, not every step it took while the dashboard was away."""
    last = func.max(HistoryRecord.id).label("last")
    query = (
        select(HistoryRecord.instance_id, last)
        .join(Instance, col(Instance.id) == col(HistoryRecord.instance_id))
        .where(col(HistoryRecord.id) > after_id)
        .group_by(col(HistoryRecord.instance_id))
        .order_by(last)
        .limit(limit)
    )
    if where.definition_key is not None:
        query = query.where(col(Instance.definition_key) == where.definition_key)
    if where.status is not None:
        query = query.where(col(Instance.status) == where.status)
    async with db.reading() as session:
        found = [(i, m) for i, m in await session.exec(query) if i is not None and m is not None]
        if not found:
            return []
        rows = await session.exec(
            select(Instance).where(col(Instance.id).in_([i for i, _ in found]))
        )
        instances = {row.id: row for row in rows}
    return [InstanceChange(instance_summary(instances[i]), m) for i, m in found]


async def last_history_id(db: Database) -> int:
    """The newest global history id: where a filtered feed without a cursor starts."""
    async with db.reading() as session:
        value = (await session.exec(select(func.max(HistoryRecord.id)))).one()
    return int(value or 0)


# --- tasks ----------------------------------------------------------------------------------


def may_see_task(task: Payload, user: str | None, groups: Collection[str]) -> bool:
    """The rules of the task list's ``assignedToMe`` and ``claimableByMe`` filters
    (``queries.task_page``): assigned to the user, or the user is a candidate, directly or
    through one of their groups. Without a user nothing is visible."""
    if user is None:
        return False
    if task.get("assignee") == user or user in task.get("candidate_users", ()):
        return True
    return not set(groups).isdisjoint(task.get("candidate_groups", ()))


# --- dashboard counters ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counters:
    by_definition: dict[str, dict[str, int]]  # definition key -> instance status -> count
    open_tasks: int
    open_incidents: int


async def counters(db: Database) -> Counters:
    """Every counter in one statement (one round trip): instances grouped by definition key and
    status, open tasks, open incidents."""
    instances = select(
        literal("instance"), col(Instance.definition_key), col(Instance.status), func.count()
    ).group_by(col(Instance.definition_key), col(Instance.status))
    tasks = select(literal("task"), literal(""), literal(""), func.count()).where(
        col(UserTask.status) == "open"
    )
    incidents = select(literal("incident"), literal(""), literal(""), func.count()).where(
        col(Incident.status) == "open"
    )
    by_definition: dict[str, dict[str, int]] = {}
    totals = {"task": 0, "incident": 0}
    async with db.reading() as session:
        statement = union_all(instances, tasks, incidents)
        result = await session.exec(statement)  # type: ignore[call-overload]  # a compound select
        for kind, key, status, count in result:
            if kind == "instance":
                by_definition.setdefault(key, {})[status] = int(count)
            else:
                totals[kind] = int(count)
    return Counters(by_definition, totals["task"], totals["incident"])


@dataclass
class CounterFeed:
    """One snapshot of the counters per process, refreshed when events arrive, at most once
    per ``interval``, and only while somebody watches."""

    db: Database
    hub: Hub
    interval: float = 0.25
    queries: int = 0  # for tests and metrics
    _snapshot: Counters | None = None
    _version: int = 0
    _watchers: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def watch(self) -> AsyncGenerator[Counters, None]:
        """A snapshot at once, then each fresh one (a slow watcher skips to the newest)."""
        self._watchers += 1
        if not self._tasks:
            self._snapshot = None  # possibly old: the first watcher waits for a fresh one
            self._dirty.set()
            # a fresh context: the tasks serve every watcher and outlive the first one, whose
            # request id and trace they would otherwise carry (and attach their spans to)
            self._tasks = [
                asyncio.create_task(
                    self._refresh_forever(),
                    name="counter-feed-refresh",
                    context=contextvars.Context(),
                ),
                asyncio.create_task(
                    self._listen_forever(),
                    name="counter-feed-listen",
                    context=contextvars.Context(),
                ),
            ]
        seen = 0
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(partial(self._fresh, seen))
                    seen, snapshot = self._version, self._snapshot
                assert snapshot is not None
                yield snapshot
        finally:
            self._watchers -= 1
            if not self._watchers:
                await self.stop()

    def _fresh(self, seen: int) -> bool:
        return self._version != seen and self._snapshot is not None

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen_forever(self) -> None:
        while True:
            with self.hub.subscribe() as subscription:
                try:
                    while True:
                        await subscription.get()  # any payload (or a gap) may change a count
                        self._dirty.set()
                except SubscriberTooSlow:
                    self._dirty.set()  # subscribe again: a fresh snapshot covers what we missed

    async def _refresh_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                snapshot = await counters(self.db)
            except Exception as error:  # the database is away: keep the last snapshot
                log.warning("dashboard counters: query failed: %s", error)
                self._dirty.set()
            else:
                self.queries += 1
                async with self._changed:
                    self._snapshot, self._version = snapshot, self._version + 1
                    self._changed.notify_all()
            await asyncio.sleep(self.interval)
