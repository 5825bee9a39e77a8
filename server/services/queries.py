"""Reading: filtered pages of tasks and instances, with opaque cursors (never OFFSET, whose
cost grows with the page number). Each filter the API offers has an index behind it.

A cursor encodes the order and the sort key of the last row of a page; the next page starts
after it (keyset pagination), so pages stay fast at any depth and stable while rows are added.
Each order (``SORTS``) has indexes behind it for the common filters (server/models.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, exists, or_, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from engine import Problem
from server.models import (
    Incident,
    Instance,
    Job,
    MessageSubscription,
    TaskCandidate,
    Timer,
    UserTask,
)
from server.services.errors import InvalidInput

Row = TypeVar("Row", UserTask, Instance, Incident)
MAX_PAGE = 200


class TaskOrder(Enum):
    CREATED = "created"  # newest first
    DUE = "due"  # soonest due first; tasks without a due date last
    PRIORITY = "priority"  # highest priority first, then newest


class InstanceOrder(Enum):
    STARTED = "started"  # most recently started first
    UPDATED = "updated"  # most recently changed first


class IncidentOrder(Enum):
    # named apart from TaskOrder.CREATED: a task list's cursor is no incident list's
    CREATED = "incident_created"  # most recently raised first


Order = TaskOrder | InstanceOrder | IncidentOrder


@dataclass(frozen=True, slots=True)
class Sort:
    """An order: its sort key (the row's attributes, ending with the unique id) and direction.

    ``nulls_last`` marks a nullable first column. Its NULLs are kept out of the row comparison
    (where NULL compares to nothing) and sort after every value, on both backends (``NULLS
    LAST``, which SQLite has since 3.30; it is PostgreSQL's own ascending order, so the
    ascending (status, due_at, id) index is walked as it is stored). A cursor on a NULL row
    continues among the NULLs by id; a cursor on a value continues after it, then into the NULLs.
    We chose this over coalescing to a far-future constant: that needs an expression index,
    which the migration drift check cannot compare on SQLite.
    """

    columns: tuple[str, ...]
    descending: bool
    nulls_last: bool = False


SORTS: dict[Order, Sort] = {
    TaskOrder.CREATED: Sort(("created_at", "id"), descending=True),
    TaskOrder.DUE: Sort(("due_at", "id"), descending=False, nulls_last=True),
    TaskOrder.PRIORITY: Sort(("priority", "created_at", "id"), descending=True),
    InstanceOrder.STARTED: Sort(("started_at", "id"), descending=True),
    InstanceOrder.UPDATED: Sort(("updated_at", "id"), descending=True),
    IncidentOrder.CREATED: Sort(("created_at", "id"), descending=True),
}


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    items: list[Row]
    end_cursor: str | None  # pass as ``after`` for the next page
    has_next: bool


def encode_cursor(order: Order, row: UserTask | Instance | Incident) -> str:
    """The order's name, then the row's sort key: ``[order, value, ..., id]``."""
    key = [_json_value(getattr(row, name)) for name in SORTS[order].columns]
    raw = json.dumps([order.value, *key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def decode_cursor(cursor: str, order: Order, *, argument: str = "after") -> list[Any]:
    """The sort key of a cursor that ``order`` gave out; InvalidInput otherwise."""
    sort = SORTS[order]
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(data, list) or data[:1] != [order.value]:
            raise ValueError("a cursor of another order")
        values: list[Any] = data[1:]
        if len(values) != len(sort.columns):
            raise ValueError("a sort key of another length")
        return [
            _key_value(name, value, nullable=sort.nulls_last and n == 0)
            for n, (name, value) in enumerate(zip(sort.columns, values, strict=True))
        ]
    except (ValueError, TypeError, binascii.Error) as error:
        problem = Problem(argument, "invalid_cursor", "not a cursor this API gave out")
        raise InvalidInput([problem], code="invalid_cursor") from error


def _key_value(name: str, value: Any, *, nullable: bool) -> Any:
    """A sort key value as its column takes it: an aware datetime (``*_at``) or an integer."""
    if value is None and nullable:
        return None
    if name.endswith("_at"):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a naive datetime")
        return moment
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"not a sort key value: {value!r}")


def _limit(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        problem = Problem(
            "first", "invalid_value", f"a page has 1 to {MAX_PAGE} items, not {first}"
        )
        raise InvalidInput([problem], code="invalid_page")
    return first


async def _rows(
    session: AsyncSession,
    query: SelectOfScalar[Row],
    table: type[Row],
    order: Order,
    after: str | None,
    limit: int,
) -> list[Row]:
    """Up to ``limit`` rows of the query in ``order``, after the cursor (keyset pagination)."""
    rows: list[Row] = []
    for part in _ordered(query, table, order, after):
        rows += await session.exec(part.limit(limit - len(rows)))
        if len(rows) == limit:
            break
    return rows


def _ordered(
    query: SelectOfScalar[Row],
    table: type[Row],
    order: Order,
    after: str | None,
) -> list[SelectOfScalar[Row]]:
    """The query in ``order`` after the cursor, as index range scans to read one after another:
    one, or for a cursor on a value of a ``nulls_last`` column two (the rows after it, then the
    NULLs), since "after it or NULL" is an OR that PostgreSQL would filter, not range-scan."""
    sort = SORTS[order]
    columns = [col(getattr(table, name)) for name in sort.columns]
    by = []
    for n, column in enumerate(columns):
        direction = column.desc() if sort.descending else column.asc()
        by.append(direction.nulls_last() if sort.nulls_last and n == 0 else direction)
    query = query.order_by(*by)
    if after is None:
        return [query]
    key = decode_cursor(after, order)

    def beyond(cols: list[Any], values: list[Any]) -> ColumnElement[bool]:
        # a row comparison: PostgreSQL range-scans a (…, key, id) index for it; a NULL in
        # the row makes it NULL, i.e. false
        condition: ColumnElement[bool] = (
            tuple_(*cols) < tuple_(*values) if sort.descending else tuple_(*cols) > tuple_(*values)
        )
        return condition

    if not sort.nulls_last:
        return [query.where(beyond(columns, key))]
    first, rest = columns[0], columns[1:]
    if key[0] is None:  # among the NULLs, which come last
        return [query.where(first.is_(None), beyond(rest, key[1:]))]
    return [query.where(beyond(columns, key)), query.where(first.is_(None))]


def _page(rows: Sequence[Row], first: int, order: Order) -> Page[Row]:
    items = list(rows[:first])
    has_next = len(rows) > first
    cursor = encode_cursor(order, items[-1]) if items else None
    return Page(items, cursor, has_next)


async def keyset_page(
    session: AsyncSession,
    query: SelectOfScalar[Row],
    table: type[Row],
    order: Order,
    *,
    first: int,
    after: str | None,
) -> Page[Row]:
    """One page of ``query`` in ``order`` after the cursor: for a list in a module of its own
    (server.services.incident_queries)."""
    limit = _limit(first)
    rows = await _rows(session, query, table, order, after, limit + 1)
    return _page(rows, limit, order)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whom a list is narrowed to by the row-level rules (``schema.permissions``): tasks
    assigned to the user or offered to them or one of their groups; instances they started or
    hold such a task of. A list without a viewer is not narrowed."""

    user: str
    groups: tuple[str, ...] = ()


def task_visible_to(viewer: Viewer) -> ColumnElement[bool]:
    offered = [and_(col(TaskCandidate.kind) == "user", col(TaskCandidate.value) == viewer.user)]
    if viewer.groups:
        offered.append(
            and_(col(TaskCandidate.kind) == "group", col(TaskCandidate.value).in_(viewer.groups))
        )
    return or_(
        col(UserTask.assignee) == viewer.user,
        exists().where(col(TaskCandidate.task_id) == col(UserTask.id), or_(*offered)),
    )


def instance_visible_to(viewer: Viewer) -> ColumnElement[bool]:
    return or_(
        col(Instance.started_by) == viewer.user,
        exists().where(col(UserTask.instance_id) == col(Instance.id), task_visible_to(viewer)),
    )


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: str | None = "open"
    assignee: str | None = None
    candidate_user: str | None = None  # tasks this user may claim (directly or by group)
    candidate_groups: tuple[str, ...] = ()
    instance_id: int | None = None
    due_before: datetime | None = None
    visible_to: Viewer | None = None


async def task_page(
    session: AsyncSession,
    where: TaskFilter,
    *,
    first: int = 50,
    after: str | None = None,
    order: TaskOrder = TaskOrder.CREATED,
) -> Page[UserTask]:
    """Tasks in ``order`` (newest first unless given)."""
    limit = _limit(first)
    query = select(UserTask)
    if where.status is not None:
        query = query.where(col(UserTask.status) == where.status)
    if where.assignee is not None:
        query = query.where(col(UserTask.assignee) == where.assignee)
    if where.instance_id is not None:
        query = query.where(col(UserTask.instance_id) == where.instance_id)
    if where.due_before is not None:
        query = query.where(col(UserTask.due_at) < where.due_before)
    if where.visible_to is not None:
        query = query.where(task_visible_to(where.visible_to))
    candidates = []
    if where.candidate_user is not None:
        candidates.append(
            and_(
                col(TaskCandidate.kind) == "user", col(TaskCandidate.value) == where.candidate_user
            )
        )
    if where.candidate_groups:
        candidates.append(
            and_(
                col(TaskCandidate.kind) == "group",
                col(TaskCandidate.value).in_(where.candidate_groups),
            )
        )
    if candidates:
        query = query.where(
            exists().where(col(TaskCandidate.task_id) == col(UserTask.id), or_(*candidates))
        )
    rows = await _rows(session, query, UserTask, order, after, limit + 1)
    return _page(rows, limit, order)


@dataclass(frozen=True, slots=True)
class InstanceFilter:
    definition_key: str | None = None
    definition_id: int | None = None
    status: str | None = None
    business_key: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    variables_equal: tuple[tuple[str, Any], ...] = ()
    waiting_at: str | None = None  # a step with open work: a task, job, timer or message wait
    visible_to: Viewer | None = None


async def instance_page(
    session: AsyncSession,
    where: InstanceFilter,
    *,
    first: int = 50,
    after: str | None = None,
    order: InstanceOrder = InstanceOrder.STARTED,
) -> Page[Instance]:
    """Instances in ``order`` (most recently started first unless given)."""
    limit = _limit(first)
    query = select(Instance)
    for column, value in (
        (Instance.definition_key, where.definition_key),
        (Instance.definition_id, where.definition_id),
        (Instance.status, where.status),
        (Instance.business_key, where.business_key),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if where.started_after is not None:
        query = query.where(col(Instance.started_at) >= where.started_after)
    if where.started_before is not None:
        query = query.where(col(Instance.started_at) < where.started_before)
    for name, value in where.variables_equal:
        query = query.where(_variable_equals(name, value))
    if where.waiting_at is not None:
        query = query.where(_waiting_at(where.waiting_at))
    if where.visible_to is not None:
        query = query.where(instance_visible_to(where.visible_to))
    rows = await _rows(session, query, Instance, order, after, limit + 1)
    return _page(rows, limit, order)


def _variable_equals(name: str, value: Any) -> ColumnElement[bool]:
    # JSON path comparisons that SQLAlchemy renders per dialect (->> on PostgreSQL,
    # json_extract on SQLite); the JSON column is typed Any, hence the annotation
    field: Any = col(Instance.variables)[name]
    condition: ColumnElement[bool]
    if isinstance(value, bool):
        condition = field.as_boolean() == value
        return condition
    if isinstance(value, int | float):
        condition = field.as_float() == float(value)
        return condition
    if isinstance(value, str):
        condition = field.as_string() == value
        return condition
    problem = Problem(
        f"variables.{name}", "invalid_value", "compare with a string, a number or a boolean"
    )
    raise InvalidInput([problem], code="invalid_filter")


def _waiting_at(step_id: str) -> ColumnElement[bool]:
    open_work = [
        exists().where(
            col(UserTask.instance_id) == col(Instance.id),
            col(UserTask.step_id) == step_id,
            col(UserTask.status) == "open",
        ),
        exists().where(
            col(Job.instance_id) == col(Instance.id),
            col(Job.step_id) == step_id,
            col(Job.status) == "pending",
        ),
        exists().where(
            col(Timer.instance_id) == col(Instance.id),
            col(Timer.step_id) == step_id,
            col(Timer.status) == "pending",
        ),
        exists().where(
            col(MessageSubscription.instance_id) == col(Instance.id),
            col(MessageSubscription.step_id) == step_id,
        ),
    ]
    return or_(*open_work)
