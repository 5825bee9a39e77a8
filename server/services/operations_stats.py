"""Operations statistics for the metrics sampler: a few grouped counts, read-only.

What ``server.metrics_sampler.Sampler`` turns into gauges every ~15 s per process, so it must stay
cheap on a large database: each count filters on an indexed status column
(``ix_instances_status_started``, ``ix_incidents_status_created``, ``ix_tasks_status_created``,
``ix_timers_status_due``), and the per-definition ones join only the open rows to their
instance. Six short queries in one read session, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import Database
from server.models import Definition, Incident, Instance, OutboxRecord, Timer, UserTask
from server.services.transitions import RUNNING, SUSPENDED


@dataclass(frozen=True, slots=True)
class OperationsStats:
    """Counts at one moment. The mappings are by definition key and hold only non-zero
    counts; ``definitions`` lists every deployed key (so a gauge can drop to 0)."""

    definitions: list[str] = field(default_factory=list)
    instances_active: dict[str, int] = field(default_factory=dict)
    incidents_open: dict[str, int] = field(default_factory=dict)
    user_tasks_open: dict[str, int] = field(default_factory=dict)
    timers_pending: int = 0
    outbox_pending: int = 0
    outbox_oldest: datetime | None = None


def _per_definition(rows: Any) -> dict[str, int]:
    return {str(key): int(count) for key, count in rows}


async def outbox_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """Unpublished outbox rows and the oldest one's time (the relay's lag)."""
    query = select(func.count(), func.min(col(OutboxRecord.created_at)))
    pending, oldest = (await session.exec(query)).one()
    return int(pending), oldest


async def read(db: Database) -> OperationsStats:
    """Active instances (running or suspended), open incidents and open user tasks per
    definition key; pending timers; the outbox's size and oldest row."""
    key = col(Instance.definition_key)
    active = (
        select(key, func.count())
        .where(col(Instance.status).in_([RUNNING, SUSPENDED]))
        .group_by(key)
    )
    incidents = (
        select(key, func.count())
        .select_from(Incident)
        .join(Instance, col(Instance.id) == col(Incident.instance_id))
        .where(col(Incident.status) == "open")
        .group_by(key)
    )
    tasks = (
        select(key, func.count())
        .select_from(UserTask)
        .join(Instance, col(Instance.id) == col(UserTask.instance_id))
        .where(col(UserTask.status) == "open")
        .group_by(key)
    )
    timers = select(func.count()).select_from(Timer).where(col(Timer.status) == "pending")
    keys = select(col(Definition.key)).distinct()
    async with db.reading() as session:
        definitions = [str(k) for k in await session.exec(keys)]
        instances_active = _per_definition(await session.exec(active))
        incidents_open = _per_definition(await session.exec(incidents))
        user_tasks_open = _per_definition(await session.exec(tasks))
        timers_pending = int((await session.exec(timers)).one())
        outbox_pending, outbox_oldest = await outbox_backlog(session)
    return OperationsStats(
        definitions=definitions,
        instances_active=instances_active,
        incidents_open=incidents_open,
        user_tasks_open=user_tasks_open,
        timers_pending=timers_pending,
        outbox_pending=outbox_pending,
        outbox_oldest=outbox_oldest,
    )
