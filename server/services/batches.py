"""Batch reads for DataLoaders: one ``IN (...)`` query per relation and per batch.

Each function is the ``load_fn`` of a ``DataLoader``: it receives the keys collected during
one tick of the event loop and returns one result per key, in the order of the keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy.orm import load_only
from sqlmodel import col, select

from server.db import Database
from server.models import Definition, HistoryRecord, Incident, Instance, UserTask

Row = TypeVar("Row", Definition, Instance)
Child = TypeVar("Child", UserTask, Incident, HistoryRecord)


async def _by_id(db: Database, model: type[Row], ids: Sequence[int]) -> list[Row | None]:
    async with db.reading() as session:
        rows = await session.exec(select(model).where(col(model.id).in_(list(ids))))
        found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def _children(
    db: Database, model: type[Child], instance_ids: Sequence[int], order: Any
) -> list[list[Child]]:
    async with db.reading() as session:
        query = select(model).where(col(model.instance_id).in_(list(instance_ids)))
        rows = await session.exec(query.order_by(order))
        grouped: dict[int, list[Child]] = defaultdict(list)
        for row in rows:
            grouped[row.instance_id].append(row)
    return [grouped.get(i, []) for i in instance_ids]


async def definitions(db: Database, ids: Sequence[int]) -> list[Definition | None]:
    return await _by_id(db, Definition, ids)


# what a nested instance needs for its scalar fields: not the JSON columns (variables and the
# engine state), which are the heavy part of a row and load through instance_data when asked for
_LIGHT_COLUMNS = (
    "id",
    "definition_id",
    "definition_key",
    "business_key",
    "status",
    "parent_id",
    "started_at",
    "ended_at",
    "started_by",
)
_LIGHT = load_only(*(getattr(Instance, name) for name in _LIGHT_COLUMNS), raiseload=True)


async def instances(db: Database, ids: Sequence[int]) -> list[Instance | None]:
    async with db.reading() as session:
        query = select(Instance).where(col(Instance.id).in_(list(ids))).options(_LIGHT)
        found = {row.id: row for row in await session.exec(query)}
    return [found.get(i) for i in ids]


class InstanceData(NamedTuple):
    variables: dict[str, Any]
    current_steps: list[str]


def instance_data_of(variables: Mapping[str, Any], state: Mapping[str, Any]) -> InstanceData:
    tokens: list[dict[str, Any]] = state.get("tokens", [])
    return InstanceData(dict(variables), [str(t["step"]) for t in tokens])


async def instance_data(db: Database, ids: Sequence[int]) -> list[InstanceData | None]:
    async with db.reading() as session:
        query = select(Instance.id, Instance.variables, Instance.state).where(
            col(Instance.id).in_(list(ids))
        )
        found = {row[0]: instance_data_of(row[1], row[2]) for row in await session.exec(query)}
    return [found.get(i) for i in ids]


async def tasks(db: Database, instance_ids: Sequence[int]) -> list[list[UserTask]]:
    return await _children(db, UserTask, instance_ids, col(UserTask.id))


async def incidents(db: Database, instance_ids: Sequence[int]) -> list[list[Incident]]:
    return await _children(db, Incident, instance_ids, col(Incident.id))


async def history(db: Database, instance_ids: Sequence[int]) -> list[list[HistoryRecord]]:
    return await _children(db, HistoryRecord, instance_ids, col(HistoryRecord.seq))


async def versions(db: Database, keys: Sequence[str]) -> list[list[Definition]]:
    """Every revision of each key, newest first."""
    async with db.reading() as session:
        query = select(Definition).where(col(Definition.key).in_(list(keys)))
        rows = await session.exec(query.order_by(col(Definition.revision).desc()))
        grouped: dict[str, list[Definition]] = defaultdict(list)
        for row in rows:
            grouped[row.key].append(row)
    return [grouped.get(k, []) for k in keys]
