"""Pages of tasks and instances on real databases: every filter, and cursors that walk
the whole set without gaps or repeats."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from support.queues import RecordingQueue

from server.db import Database
from server.models import Instance, UserTask, utcnow
from server.services import queries
from server.services.errors import InvalidInput
from server.services.queries import InstanceFilter, InstanceOrder, TaskFilter, TaskOrder
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ORDER = json.loads((Path(__file__).parents[2] / "examples" / "order-processing.json").read_text())


class Clock:
    """Each call a second later: distinct, ordered timestamps."""

    def __init__(self) -> None:
        self.start = utcnow()
        self.ticks = count()

    def __call__(self) -> Any:
        return self.start + timedelta(seconds=next(self.ticks))


@pytest.fixture
async def orders(migrated_db: Database) -> Workflow:
    """Six orders: three waiting at manager_approval (large), three at validate_order."""
    queue = RecordingQueue()
    workflow = Workflow(migrated_db, queue, clock=Clock())
    await workflow.deploy(ORDER)
    for n in range(6):
        amount = 5000 if n % 2 else 10
        await workflow.start(
            key="order-processing",
            business_key=f"ORDER-{n}",
            variables={
                "order_id": f"ORDER-{n}",
                "customer_id": f"C-{n % 2}",
                "total_amount": amount,
            },
        )
    for job in list(queue.jobs):
        if job.variables["total_amount"] > 1000:
            assert job.id is not None
            await workflow.job_finished(job.id, variables={})
    return workflow


async def test_tasks_of_my_groups_page_by_page_newest_first(
    orders: Workflow, migrated_db: Database
) -> None:
    seen: list[int] = []
    after = None
    async with migrated_db.reading() as session:
        while True:
            where = TaskFilter(candidate_groups=("managers", "finance"))
            page = await queries.task_page(session, where, first=2, after=after)
            seen += [t.instance_id for t in page.items]
            if not page.has_next:
                break
            after = page.end_cursor
        assert len(seen) == 3 and len(set(seen)) == 3
        assert seen == sorted(seen, reverse=True)  # newest first
        others = await queries.task_page(session, TaskFilter(candidate_groups=("hr",)))
        assert others.items == [] and others.end_cursor is None


async def test_task_filters_by_assignee_and_instance(
    orders: Workflow, migrated_db: Database
) -> None:
    async with migrated_db.reading() as session:
        page = await queries.task_page(session, TaskFilter())
    first, second = page.items[0], page.items[1]
    assert first.id is not None and second.id is not None
    await orders.claim(first.id, "wang")
    async with migrated_db.reading() as session:
        mine = await queries.task_page(session, TaskFilter(assignee="wang"))
        by_instance = await queries.task_page(session, TaskFilter(instance_id=second.instance_id))
        due_soon = await queries.task_page(session, TaskFilter(due_before=utcnow()))
    assert [t.id for t in mine.items] == [first.id]
    assert [t.id for t in by_instance.items] == [second.id]
    assert due_soon.items == []  # due in a day


async def test_instance_filters(orders: Workflow, migrated_db: Database) -> None:
    async with migrated_db.reading() as session:

        async def keys(**where: Any) -> list[str]:
            page = await queries.instance_page(session, InstanceFilter(**where))
            return sorted(i.business_key or "" for i in page.items)

        assert len(await keys(definition_key="order-processing")) == 6
        assert await keys(business_key="ORDER-3") == ["ORDER-3"]
        assert await keys(waiting_at="manager_approval") == ["ORDER-1", "ORDER-3", "ORDER-5"]
        assert await keys(waiting_at="validate_order") == ["ORDER-0", "ORDER-2", "ORDER-4"]
        assert await keys(variables_equal=(("customer_id", "C-0"),)) == [
            "ORDER-0",
            "ORDER-2",
            "ORDER-4",
        ]
        assert await keys(variables_equal=(("total_amount", 5000),)) == [
            "ORDER-1",
            "ORDER-3",
            "ORDER-5",
        ]
        assert await keys(status="completed") == []
        everything = await queries.instance_page(session, InstanceFilter())
        middle = everything.items[2].started_at
        assert len(await keys(started_before=middle)) == 3


async def test_bad_cursors_and_page_sizes_are_typed_errors(
    orders: Workflow, migrated_db: Database
) -> None:
    async with migrated_db.reading() as session:
        with pytest.raises(InvalidInput) as raised:
            await queries.task_page(session, TaskFilter(), after="not-a-cursor")
        assert raised.value.code == "invalid_cursor"
        for forged in (["created", "2026-01-01T00:00:00", 1], ["priority", "high", "x", 1]):
            raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
            with pytest.raises(InvalidInput) as raised:
                order = TaskOrder(forged[0])
                await queries.task_page(session, TaskFilter(), after=raw, order=order)
            assert raised.value.code == "invalid_cursor"
        with pytest.raises(InvalidInput) as raised:
            await queries.instance_page(session, InstanceFilter(), first=0)
        assert raised.value.code == "invalid_page"
        with pytest.raises(InvalidInput):
            await queries.instance_page(session, InstanceFilter(variables_equal=(("x", [1]),)))


# --- orders ---------------------------------------------------------------------------------------

# (created second, due hour or None, priority) of ten open tasks: ties on every sort key (two due
# at hour 3, four at priority 80, four without a due date), and two of priority 80 created at once.
TASK_KEYS = [
    (0, 3, 50),
    (1, None, 80),
    (2, 1, 50),
    (3, 3, 80),
    (3, None, 80),
    (4, 2, 80),
    (5, None, 50),
    (6, 5, 90),
    (7, None, 50),
    (8, 0, 10),
]


async def walk(page_of: Any) -> tuple[list[Any], list[str]]:
    """Every row, page by page with first=2, and the end cursors met on the way."""
    rows: list[Any] = []
    cursors: list[str] = []
    after = None
    while True:
        page = await page_of(after)
        assert len(page.items) <= 2
        rows += page.items
        if not page.has_next:
            return rows, cursors
        assert page.end_cursor is not None
        cursors.append(page.end_cursor)
        after = page.end_cursor


@pytest.fixture
async def many_tasks(orders: Workflow, migrated_db: Database) -> None:
    """The ten open tasks of TASK_KEYS (on the first instance), instead of the orders' three."""
    base = utcnow().replace(microsecond=0)
    async with migrated_db.transaction() as session:
        for task in await session.exec(select(UserTask)):
            task.status = "completed"
        instance = (await session.exec(select(Instance).order_by(col(Instance.id)))).first()
        assert instance is not None and instance.id is not None
        for n, (created, due, priority) in enumerate(TASK_KEYS):
            session.add(
                UserTask(
                    instance_id=instance.id,
                    key=f"extra-{n}",
                    token_id="t",
                    step_id="review",
                    name=f"extra {n}",
                    due_at=None if due is None else base + timedelta(hours=due),
                    priority=priority,
                    created_at=base + timedelta(seconds=created),
                )
            )


def task_sort_key(order: TaskOrder) -> Callable[[UserTask], Any]:
    """The order, computed in Python: what the pages must match."""
    far = datetime.max.replace(tzinfo=UTC)
    match order:
        case TaskOrder.CREATED:
            return lambda t: (-t.created_at.timestamp(), -(t.id or 0))
        case TaskOrder.DUE:
            return lambda t: (t.due_at is None, t.due_at or far, t.id)
        case TaskOrder.PRIORITY:
            return lambda t: (-t.priority, -t.created_at.timestamp(), -(t.id or 0))


@pytest.mark.parametrize("order", list(TaskOrder))
async def test_every_task_order_pages_exactly_once_in_order(
    many_tasks: None, migrated_db: Database, order: TaskOrder
) -> None:
    async with migrated_db.reading() as session:
        rows, cursors = await walk(
            lambda after: queries.task_page(
                session, TaskFilter(), first=2, after=after, order=order
            )
        )
        everything = list(await session.exec(select(UserTask).where(UserTask.status == "open")))
    ids = [t.id for t in rows]
    assert len(ids) == len(TASK_KEYS) == len(set(ids))
    assert ids == [t.id for t in sorted(everything, key=task_sort_key(order))]
    if order is TaskOrder.DUE:  # the last four have no due date, and a page ends among them
        assert [t.due_at for t in rows[-4:]] == [None] * 4 and rows[-5].due_at is not None
    async with migrated_db.reading() as session:
        for other in set(TaskOrder) - {order}:
            with pytest.raises(InvalidInput) as raised:
                await queries.task_page(
                    session, TaskFilter(), first=2, after=cursors[0], order=other
                )
            assert raised.value.code == "invalid_cursor"
        with pytest.raises(InvalidInput) as raised:  # nor is a task cursor an instance cursor
            await queries.instance_page(session, InstanceFilter(), after=cursors[0])
        assert raised.value.code == "invalid_cursor"


@pytest.mark.parametrize("order", list(InstanceOrder))
async def test_every_instance_order_pages_exactly_once_in_order(
    orders: Workflow, migrated_db: Database, order: InstanceOrder
) -> None:
    # updated_at: ties in pairs, in the opposite order to started_at
    base = utcnow().replace(microsecond=0)
    async with migrated_db.transaction() as session:
        for n, instance in enumerate(await session.exec(select(Instance))):
            instance.updated_at = base - timedelta(seconds=(n // 2))
    async with migrated_db.reading() as session:
        rows, cursors = await walk(
            lambda after: queries.instance_page(
                session, InstanceFilter(), first=2, after=after, order=order
            )
        )
    column = "started_at" if order is InstanceOrder.STARTED else "updated_at"
    expected = sorted(rows, key=lambda i: (getattr(i, column), i.id), reverse=True)
    assert [i.id for i in rows] == [i.id for i in expected]
    assert len(rows) == 6 == len({i.id for i in rows})
    if order is InstanceOrder.UPDATED:
        assert [i.id for i in rows] != sorted((i.id for i in rows), reverse=True)
    async with migrated_db.reading() as session:
        for other in set(InstanceOrder) - {order}:
            with pytest.raises(InvalidInput) as raised:
                await queries.instance_page(
                    session, InstanceFilter(), after=cursors[0], order=other
                )
            assert raised.value.code == "invalid_cursor"
