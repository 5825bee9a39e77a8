"""Reading: filtered pages of tasks and instances, with opaque cursors (never OFFSET, whose
cost grows with the page number). Each filter the API offers has an index behind it.

A cursor encodes the sort key of the last row of a page; the next page starts after it
(keyset pagination), so pages stay fast at any depth and stable while rows are added.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, exists, or_, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine import Problem
from server.models import Instance, Job, MessageSubscription, TaskCandidate, Timer, UserTask
from server.services.errors import InvalidInput

Row = TypeVar("Row", UserTask, Instance)
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    items: list[Row]
    end_cursor: str | None  # pass as ``after`` for the next page
    has_next: bool


def encode_cursor(moment: datetime, row_id: int) -> str:
    raw = json.dumps([moment.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, argument: str = "after") -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(moment), int(row_id)
    except (ValueError, TypeError, binascii.Error) as error:
        problem = Problem(argument, "invalid_cursor", "not a cursor this API gave out")
        raise InvalidInput([problem], code="invalid_cursor") from error


def _limit(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        problem = Problem(
            "first", "invalid_value", f"a page has 1 to {MAX_PAGE} items, not {first}"
        )
        raise InvalidInput([problem], code="invalid_page")
    return first


def _after(moment_column: Any, id_column: Any, cursor: str | None) -> ColumnElement[bool] | None:
    """Rows after the cursor, newest first: (moment, id) strictly smaller."""
    if cursor is None:
        return None
    moment, row_id = decode_cursor(cursor)
    # a row comparison: PostgreSQL range-scans a (…, moment, id) index for it
    condition: ColumnElement[bool] = tuple_(moment_column, id_column) < tuple_(moment, row_id)
    return condition


def _page(rows: Sequence[Row], first: int, moment: str) -> Page[Row]:
    items = list(rows[:first])
    has_next = len(rows) > first
    last = items[-1] if items else None
    cursor = (
        None if last is None or last.id is None else encode_cursor(getattr(last, moment), last.id)
    )
    return Page(items, cursor, has_next)


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: str | None = "open"
    assignee: str | None = None
    candidate_user: str | None = None  # tasks this user may claim (directly or by group)
    candidate_groups: tuple[str, ...] = ()
    instance_id: int | None = None
    due_before: datetime | None = None


async def task_page(
    session: AsyncSession, where: TaskFilter, *, first: int = 50, after: str | None = None
) -> Page[UserTask]:
    """Tasks, newest first."""
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
    after_clause = _after(col(UserTask.created_at), col(UserTask.id), after)
    if after_clause is not None:
        query = query.where(after_clause)
    query = query.order_by(col(UserTask.created_at).desc(), col(UserTask.id).desc())
    rows = list(await session.exec(query.limit(limit + 1)))
    return _page(rows, limit, "created_at")


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


async def instance_page(
    session: AsyncSession, where: InstanceFilter, *, first: int = 50, after: str | None = None
) -> Page[Instance]:
    """Instances, most recently started first."""
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
    after_clause = _after(col(Instance.started_at), col(Instance.id), after)
    if after_clause is not None:
        query = query.where(after_clause)
    query = query.order_by(col(Instance.started_at).desc(), col(Instance.id).desc())
    rows = list(await session.exec(query.limit(limit + 1)))
    return _page(rows, limit, "started_at")


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
