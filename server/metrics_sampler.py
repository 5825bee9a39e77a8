"""The gauges read from the shared database (instances active, incidents and tasks open,
timers pending, outbox backlog and lag) and the pool's connections: one ``Sampler`` task per
process, every METRICS_SAMPLE_INTERVAL seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from server.metrics import (
    DATABASE_CONNECTIONS,
    INCIDENTS_OPEN,
    INSTANCES_ACTIVE,
    OUTBOX_LAG,
    OUTBOX_PENDING,
    TIMERS_PENDING,
    USER_TASKS_OPEN,
    definition_label,
)

log = logging.getLogger(__name__)

# --- the sampler: gauges read from the database and the pool --------------------------------


class SampledStats(Protocol):
    """What ``server.services.operations_stats.read`` returns (kept structural: this module is
    below the services)."""

    @property
    def definitions(self) -> Sequence[str]: ...
    @property
    def instances_active(self) -> Mapping[str, int]: ...
    @property
    def incidents_open(self) -> Mapping[str, int]: ...
    @property
    def user_tasks_open(self) -> Mapping[str, int]: ...
    @property
    def timers_pending(self) -> int: ...
    @property
    def outbox_pending(self) -> int: ...
    @property
    def outbox_oldest(self) -> datetime | None: ...


def pool_connections(engine: Any) -> dict[str, int]:
    """in_use / idle / max of a SQLAlchemy engine's pool (sync or async engine)."""
    pool = getattr(engine, "sync_engine", engine).pool
    in_use = int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
    idle = int(pool.checkedin()) if hasattr(pool, "checkedin") else 0
    size = int(pool.size()) if hasattr(pool, "size") else in_use + idle
    overflow = max(int(getattr(pool, "_max_overflow", 0)), 0)  # -1: unbounded
    return {"in_use": in_use, "idle": idle, "max": size + overflow}


def set_sampled(stats: SampledStats, now: datetime) -> None:
    """Sets the DB-derived gauges; a definition with nothing counted shows 0, not its last
    value (every process writes every key, so "mostrecent" is right whoever sampled last)."""
    keys = {definition_label(k) for k in stats.definitions}
    for gauge, counts in (
        (INSTANCES_ACTIVE, stats.instances_active),
        (INCIDENTS_OPEN, stats.incidents_open),
        (USER_TASKS_OPEN, stats.user_tasks_open),
    ):
        values = dict.fromkeys(keys, 0)
        for key, count in counts.items():
            label = definition_label(key)
            values[label] = values.get(label, 0) + count
        for label, value in values.items():
            gauge.labels(label).set(value)
    TIMERS_PENDING.set(stats.timers_pending)
    OUTBOX_PENDING.set(stats.outbox_pending)
    OUTBOX_LAG.set(outbox_lag(stats.outbox_oldest, now))


def outbox_lag(oldest: datetime | None, now: datetime) -> float:
    """Seconds the oldest unpublished outbox row has waited (0 with none)."""
    return 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)


class Sampler:
    """One task per process: every ``interval`` seconds, reads the DB-derived gauges through
    ``read`` (one service call: a few grouped counts) and the pool's connections."""

    def __init__(
        self,
        read: Callable[[], Awaitable[SampledStats]],
        engine: Any,
        *,
        interval: float = 15.0,
    ) -> None:
        self.read = read
        self.engine = engine
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def sample(self) -> None:
        for state, value in pool_connections(self.engine).items():
            DATABASE_CONNECTIONS.labels(state).set(value)
        set_sampled(await self.read(), datetime.now(UTC))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
                self._failing = False
            except Exception as error:
                # said once per outage: the database's own health check reports the rest
                if not self._failing:
                    log.warning("metrics sampler: reading the database failed: %s", error)
                self._failing = True
            await asyncio.sleep(self.interval)
