"""What one transaction changed, as subscribers will see it: the outbox payloads.

A transaction collects the instances it moved, the history they recorded, and the tasks and
incidents it opened or closed; just before it commits, ``write`` inserts the history (one
statement for the whole transaction: history is append-only and nothing reads it back before
the commit, so its rows skip the ORM, a fifth of a worker's time on a run of timers) and turns
it all into one outbox row per instance, in the same transaction. After the commit the relay
publishes them on the event bus (``server.outbox``). The payload is plain JSON, decoded once
per API process and fanned out from there; its shape is documented in docs/subscriptions.md.

Every payload names its instance's sequence number (``instance.seq``: the last history entry
after the change) and each history entry its own ``seq`` and global ``id``: a subscriber that
reconnects with either as a cursor reads the history after it and then goes live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.models import HistoryRecord, Incident, Instance, OutboxRecord, UserTask

Payload = dict[str, Any]
HistoryRow = dict[str, Any]  # the columns of a ``HistoryRecord`` (its ``id`` once inserted)
HISTORY_FIELDS = ("id", "seq", "type", "step_id", "token_id", "actor", "at", "data")


@dataclass
class _Touched:
    instance: Instance | None = None
    history: list[HistoryRow] = field(default_factory=list)
    tasks: dict[int, UserTask] = field(default_factory=dict)  # by id: the last state wins
    incidents: list[Incident] = field(default_factory=list)


class Changes:
    """The changes of one transaction, by instance, in the order they were made."""

    def __init__(self) -> None:
        self._touched: dict[int, _Touched] = {}

    def __bool__(self) -> bool:
        return bool(self._touched)

    def _entry(self, instance_id: int) -> _Touched:
        return self._touched.setdefault(instance_id, _Touched())

    def instance(self, instance: Instance) -> None:
        assert instance.id is not None
        self._entry(instance.id).instance = instance

    def history(self, row: HistoryRow) -> None:
        """A history entry to insert (``write`` does, for the whole transaction at once)."""
        self._entry(row["instance_id"]).history.append(row)

    def task(self, task: UserTask) -> None:
        """A task opened, closed, claimed or assigned (rows get their id at the next flush:
        they are read when the transaction writes its outbox)."""
        self._entry(task.instance_id).tasks[id(task)] = task

    def incident(self, incident: Incident) -> None:
        self._entry(incident.instance_id).incidents.append(incident)

    async def write(self, session: AsyncSession, now: datetime) -> list[OutboxRecord]:
        """Insert the history and add the outbox rows (call last, inside the transaction)."""
        if not self._touched:
            return []
        await session.flush()  # the ORM's rows first: task and incident ids
        await _insert_history([row for t in self._touched.values() for row in t.history], session)
        records = [
            OutboxRecord(payload=payload(instance_id, touched), created_at=now)
            for instance_id, touched in self._touched.items()
        ]
        session.add_all(records)
        await session.flush()  # the outbox ids: the relay deletes by id once published
        self._touched.clear()
        return records


async def _insert_history(rows: list[HistoryRow], session: AsyncSession) -> None:
    """Insert ``rows`` in one statement and give each its ``id`` (in the rows' order)."""
    if not rows:
        return
    statement = insert(HistoryRecord).returning(col(HistoryRecord.id), sort_by_parameter_order=True)
    ids = (await session.exec(statement, params=rows)).scalars().all()
    for row, row_id in zip(rows, ids, strict=True):
        row["id"] = row_id


def payload(instance_id: int, touched: _Touched) -> Payload:
    instance = touched.instance
    return {
        "instance_id": instance_id,
        "instance": None if instance is None else instance_summary(instance),
        "events": [history_entry(row) for row in touched.history],
        "tasks": [task_summary(t) for t in touched.tasks.values()],
        "incidents": [incident_summary(i) for i in touched.incidents],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def instance_summary(instance: Instance) -> Payload:
    return {
        "id": instance.id,
        "definition_id": instance.definition_id,
        "definition_key": instance.definition_key,
        "business_key": instance.business_key,
        "status": instance.status,
        "seq": instance.seq,
        "parent_id": instance.parent_id,
        "started_at": _iso(instance.started_at),
        "updated_at": _iso(instance.updated_at),
        "ended_at": _iso(instance.ended_at),
    }


def history_entry(record: HistoryRecord | HistoryRow) -> Payload:
    """A history entry as events carry it: from a row read back, or one just inserted."""
    get: Callable[[str], Any] = (
        record.__getitem__ if isinstance(record, dict) else partial(getattr, record)
    )
    entry = {name: get(name) for name in HISTORY_FIELDS}
    entry["at"] = _iso(entry["at"])
    return entry


def task_summary(task: UserTask) -> Payload:
    return {
        "id": task.id,
        "instance_id": task.instance_id,
        "key": task.key,
        "step_id": task.step_id,
        "name": task.name,
        "status": task.status,
        "assignee": task.assignee,
        "candidate_users": list(task.candidate_users),
        "candidate_groups": list(task.candidate_groups),
        "priority": task.priority,
        "due_at": _iso(task.due_at),
        "created_at": _iso(task.created_at),
        "completed_at": _iso(task.completed_at),
        "completed_by": task.completed_by,
    }


def incident_summary(incident: Incident) -> Payload:
    return {
        "id": incident.id,
        "instance_id": incident.instance_id,
        "key": incident.key,
        "step_id": incident.step_id,
        "error": incident.error,
        "message": incident.message,
        "status": incident.status,
        "resolution": incident.resolution,
    }
