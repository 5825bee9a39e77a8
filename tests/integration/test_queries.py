"""Pages of tasks and instances on real databases: every filter, and cursors that walk
the whole set without gaps or repeats."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from server.db import Database
from server.models import Job, Timer, utcnow
from server.services import queries
from server.services.errors import InvalidInput
from server.services.queries import InstanceFilter, TaskFilter
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ORDER = json.loads((Path(__file__).parents[2] / "examples" / "order-processing.json").read_text())


class Queue:
    def __init__(self) -> None:
        self.jobs: list[Job] = []

    async def submit(self, jobs: Sequence[Job]) -> None:
        self.jobs.extend(jobs)

    async def schedule(self, timers: Sequence[Timer]) -> None:
        pass


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
    queue = Queue()
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
        with pytest.raises(InvalidInput) as raised:
            await queries.instance_page(session, InstanceFilter(), first=0)
        assert raised.value.code == "invalid_page"
        with pytest.raises(InvalidInput):
            await queries.instance_page(session, InstanceFilter(variables_equal=(("x", [1]),)))
