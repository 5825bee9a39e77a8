"""The root incident list on SQLite and PostgreSQL: newest first, each incident once across
pages, every filter, the instances' row-level rule (a user sees the incidents of the instances
they may see, an operator every one), through the service and through GraphQL (one query per
page for the incidents' instances, however long the page), and on PostgreSQL an index range
scan for a page, not a sort of every incident."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import col, select
from support.auth import principal
from support.contract import operation_text
from support.queues import RecordingQueue

from schema import schema
from schema.context import make_context
from server.db import Database
from server.models import Incident, utcnow
from server.services import queries
from server.services.errors import InvalidInput
from server.services.incident_queries import IncidentFilter, incident_page
from server.services.queries import TaskFilter, Viewer
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
ORDER = json.loads((ROOT / "examples" / "order-processing.json").read_text())
ORDER_EU = {**ORDER, "key": "order-eu"}


class Clock:
    """Each call a second later: distinct, ordered timestamps."""

    def __init__(self) -> None:
        self.start = utcnow()
        self.ticks = count()

    def __call__(self) -> Any:
        return self.start + timedelta(seconds=next(self.ticks))


# (definition key, who starts it, the handler's error code or None: a plain failure)
ORDERS = [
    ("order-processing", "bob", None),
    ("order-processing", "bob", "ORDER_INVALID"),
    ("order-processing", "carol", None),
    ("order-eu", "carol", "ORDER_INVALID"),
    ("order-processing", "bob", None),
    ("order-eu", "dave", None),
    ("order-processing", "carol", "ORDER_INVALID"),
]


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
async def workflow(migrated_db: Database, queue: RecordingQueue) -> Workflow:
    """Seven orders whose validation failed (an incident each, job_failed or unhandled_error
    as ORDERS says); the first one's incident retried (resolved), its instance at work again."""
    workflow = Workflow(migrated_db, queue, clock=Clock())
    await workflow.deploy(ORDER)
    await workflow.deploy(ORDER_EU)
    for n, (key, starter, code) in enumerate(ORDERS):
        instance = await workflow.start(
            key=key,
            business_key=f"ORDER-{n}",
            variables={"order_id": f"ORDER-{n}", "total_amount": 10},
            actor=starter,
        )
        failure = ("the validation service refused it", code, False)
        await workflow.job_finished(queue.job("validate_order", instance.id), failure=failure)
    first = await all_incidents(migrated_db)
    await workflow.retry_incident(first[-1].id or 0, actor="operator")
    return workflow


async def all_incidents(db: Database) -> list[Incident]:
    """Every incident, newest first (the order the list promises)."""
    async with db.reading() as session:
        rows = await session.exec(
            select(Incident).order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
        )
        return list(rows)


async def walk(db: Database, where: IncidentFilter, first: int) -> list[Incident]:
    """Every page of the list, one after the other."""
    seen: list[Incident] = []
    after = None
    async with db.reading() as session:
        while True:
            page = await incident_page(session, where, first=first, after=after)
            assert len(page.items) <= first
            seen += page.items
            if not page.has_next:
                assert page.end_cursor is None or page.items
                return seen
            after = page.end_cursor


async def test_pages_walk_every_incident_once_newest_first(
    workflow: Workflow, migrated_db: Database
) -> None:
    expected = await all_incidents(migrated_db)
    assert len(expected) == len(ORDERS)
    for first in (1, 2, 3, 50):
        seen = await walk(migrated_db, IncidentFilter(), first)
        assert [i.id for i in seen] == [i.id for i in expected], first
    stamps = [(i.created_at, i.id or 0) for i in expected]
    assert stamps == sorted(stamps, reverse=True)


async def test_each_filter_and_their_combination(workflow: Workflow, migrated_db: Database) -> None:
    every = await all_incidents(migrated_db)
    resolved = [i.id for i in every if i.status == "resolved"]
    assert len(resolved) == 1

    async def ids(where: IncidentFilter) -> list[int | None]:
        return [i.id for i in await walk(migrated_db, where, 2)]

    assert await ids(IncidentFilter(status="resolved")) == resolved
    assert await ids(IncidentFilter(status="open")) == [i.id for i in every if i.id not in resolved]
    eu = await ids(IncidentFilter(definition_key="order-eu"))
    assert len(eu) == 2
    assert await ids(IncidentFilter(error="unhandled_error")) == [
        i.id for i in every if i.error == "unhandled_error"
    ]
    assert len(await ids(IncidentFilter(error="unhandled_error"))) == 3
    assert await ids(IncidentFilter(step_id="validate_order")) == [i.id for i in every]
    assert await ids(IncidentFilter(step_id="ship_order")) == []
    both = IncidentFilter(status="open", definition_key="order-eu", error="job_failed")
    [only] = await walk(migrated_db, both, 5)
    assert (only.status, only.error, only.id in eu) == ("open", "job_failed", True)


async def test_a_user_sees_the_incidents_of_the_instances_they_may_see(
    workflow: Workflow, migrated_db: Database
) -> None:
    every = await all_incidents(migrated_db)
    for user in ("bob", "carol", "dave"):
        started = [n for n, (_, starter, _) in enumerate(ORDERS) if starter == user]
        seen = await walk(migrated_db, IncidentFilter(visible_to=Viewer(user)), 2)
        # the fixture's instances are numbered 1.. in the order of ORDERS
        assert sorted(i.instance_id for i in seen) == [n + 1 for n in started], user
        shown = {i.id for i in seen}
        assert [i.id for i in seen] == [i.id for i in every if i.id in shown]  # in order
    assert await walk(migrated_db, IncidentFilter(visible_to=Viewer("erin")), 5) == []
    assert await walk(migrated_db, IncidentFilter(visible_to=Viewer("")), 5) == []
    eu = IncidentFilter(definition_key="order-eu", visible_to=Viewer("carol"))
    assert [i.instance_id for i in await walk(migrated_db, eu, 5)] == [4]


async def test_bad_cursors_and_page_sizes_are_typed_errors(
    workflow: Workflow, migrated_db: Database
) -> None:
    async with migrated_db.reading() as session:
        tasks = await queries.task_page(session, TaskFilter(status=None), first=1)
        for after in ("not-a-cursor", "W10", tasks.end_cursor or "missing"):
            with pytest.raises(InvalidInput) as refused:
                await incident_page(session, IncidentFilter(), after=after)
            assert refused.value.code == "invalid_cursor", after
        for first in (0, queries.MAX_PAGE + 1):
            with pytest.raises(InvalidInput) as refused:
                await incident_page(session, IncidentFilter(), first=first)
            assert refused.value.code == "invalid_page"


# --- through GraphQL --------------------------------------------------------------------------

PAGE = """
query Page($filter: IncidentFilter, $first: Int! = 20, $after: String) {
  incidents(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node { id stepId error status instance { id businessKey definitionKey status } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def run(
    workflow: Workflow,
    db: Database,
    document: str,
    variables: dict[str, Any] | None = None,
    *,
    user: str = "olga",
    role: str = "operator",
) -> Any:
    context = make_context(workflow, db, principal(user, role))
    return await schema.execute(document, variable_values=variables, context_value=context)


async def test_the_graphql_list_pages_filters_and_shows_each_instance(
    workflow: Workflow, migrated_db: Database
) -> None:
    every = await all_incidents(migrated_db)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        result = await run(workflow, migrated_db, PAGE, {"first": 3, "after": after})
        assert result.errors is None, result.errors
        page = result.data["incidents"]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["id"] for n in seen] == [i.id for i in every]
    newest = seen[0]
    n = newest["instance"]["id"] - 1
    assert newest["instance"] == {
        "id": n + 1,
        "businessKey": f"ORDER-{n}",
        "definitionKey": ORDERS[n][0],
        "status": "RUNNING",
    }
    open_eu = {"status": "OPEN", "definitionKey": "order-eu", "error": "unhandled_error"}
    result = await run(workflow, migrated_db, PAGE, {"filter": open_eu})
    assert result.errors is None, result.errors
    [edge] = result.data["incidents"]["edges"]
    assert edge["node"]["instance"]["definitionKey"] == "order-eu"
    resolved = await run(workflow, migrated_db, PAGE, {"filter": {"status": "RESOLVED"}})
    assert [e["node"]["status"] for e in resolved.data["incidents"]["edges"]] == ["resolved"]


async def test_the_graphql_list_applies_the_row_rule_and_refuses_bad_input(
    workflow: Workflow, migrated_db: Database
) -> None:
    mine = await run(workflow, migrated_db, PAGE, user="dave", role="user")
    assert mine.errors is None, mine.errors
    assert [e["node"]["instance"]["businessKey"] for e in mine.data["incidents"]["edges"]] == [
        "ORDER-5"
    ]
    everyone = await run(workflow, migrated_db, PAGE, {"first": 50}, user="adam", role="admin")
    assert len(everyone.data["incidents"]["edges"]) == len(ORDERS)
    for variables, code in (
        ({"after": "nonsense"}, "invalid_cursor"),
        ({"first": 0}, "invalid_page"),
    ):
        refused = await run(workflow, migrated_db, PAGE, variables)
        assert refused.errors is not None
        assert refused.errors[0].extensions["code"] == code
    anonymous = await schema.execute(PAGE, context_value=make_context(workflow, migrated_db, None))
    assert anonymous.errors
    assert (anonymous.errors[0].extensions or {}).get("code") == "unauthenticated"


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        seen.append((str(args[2]), args[3]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_page_loads_its_instances_in_one_query(
    workflow: Workflow, migrated_db: Database
) -> None:
    with statements(migrated_db) as two:
        result = await run(workflow, migrated_db, PAGE, {"first": 2})
    assert len(result.data["incidents"]["edges"]) == 2
    with statements(migrated_db) as seven:
        result = await run(workflow, migrated_db, PAGE, {"first": 7})
    assert len(result.data["incidents"]["edges"]) == 7
    assert len(two) == len(seven) == 2, seven  # the page, then its instances


async def test_the_contract_operation_reads_a_page_a_user_may_see(
    workflow: Workflow, migrated_db: Database
) -> None:
    document = operation_text("Incidents")
    variables = {"filter": {"status": "OPEN", "definitionKey": "order-processing"}, "first": 2}
    context = make_context(workflow, migrated_db, principal("bob", "user"))
    result = await schema.execute(
        document, variable_values=variables, context_value=context, operation_name="IncidentsPage"
    )
    assert result.errors is None, result.errors
    data: Any = result.data
    rows = [e["node"] for e in data["incidents"]["edges"]]
    # bob's open incidents of order-processing: ORDER-4 and ORDER-1 (ORDER-0's is resolved)
    assert [r["instance"]["businessKey"] for r in rows] == ["ORDER-4", "ORDER-1"]
    assert data["incidents"]["pageInfo"]["hasNextPage"] is False


async def test_postgresql_reads_a_page_from_an_index_without_sorting(
    workflow: Workflow, migrated_db: Database
) -> None:
    if migrated_db.is_sqlite:
        pytest.skip("the plan is PostgreSQL's (SQLite plans are checked by no test)")
    for where in (IncidentFilter(status="open"), IncidentFilter()):
        with statements(migrated_db) as seen:
            async with migrated_db.reading() as session:
                page = await incident_page(session, where, first=2)
                await incident_page(session, where, first=2, after=page.end_cursor)
        async with migrated_db.engine.connect() as connection:
            # a handful of rows: without this the planner rightly prefers reading the table
            await connection.execute(text("SET enable_seqscan = off"))
            for statement, parameters in seen:
                plan = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                lines = "\n".join(row[0] for row in plan)
                index = "ix_incidents_status_created" if where.status else "ix_incidents_created"
                assert index in lines and "Sort" not in lines, lines
