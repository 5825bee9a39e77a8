"""The GraphQL schema on real databases (PostgreSQL and SQLite), through ``schema.execute``
with a context built per operation, as the app builds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from sqlalchemy import event
from sqlmodel import col, func, select
from support.auth import principal
from support.contract import with_fragments
from support.queues import RecordingQueue

from schema import schema
from schema.context import make_context
from server.db import Database
from server.models import HistoryRecord, Instance, Job
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
CONTRACT = ROOT / "frontend-contract"
CHECKS = ["inventory_check", "credit_check", "fraud_check"]


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / name).read_text())
    return data


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def workflow(migrated_db: Database, queue: RecordingQueue) -> Workflow:
    return Workflow(migrated_db, queue)


class Client:
    """``schema.execute`` with a fresh context per operation, like the app."""

    def __init__(self, workflow: Workflow, db: Database) -> None:
        self.workflow = workflow
        self.db = db

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: str | None = "alice",
        groups: tuple[str, ...] = (),
        roles: tuple[str, ...] = ("admin",),
    ) -> Any:
        who = None if user is None else principal(user, *roles, groups=groups)
        context = make_context(self.workflow, self.db, who)
        return await schema.execute(query, variable_values=variables, context_value=context)

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: str | None = "alice",
        groups: tuple[str, ...] = (),
        roles: tuple[str, ...] = ("admin",),
    ) -> dict[str, Any]:
        result = await self.raw(query, variables, user=user, groups=groups, roles=roles)
        assert result.errors is None, result.errors
        data: dict[str, Any] = result.data
        return data


@pytest.fixture
def gql(workflow: Workflow, migrated_db: Database) -> Client:
    return Client(workflow, migrated_db)


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.reading() as session:
        query = select(func.count()).select_from(table).where(*where)
        return int((await session.exec(query)).one())


DEPLOY = """
mutation Deploy($definition: JSON!) {
  deployDefinition(definition: $definition) {
    __typename
    ... on DeployDefinitionSuccess { created definition { id key revision versions { id } } }
    ... on ValidationFailed { code problems { path code message } }
  }
}
"""

START = """
mutation Start($key: String, $definitionId: Int, $businessKey: String, $variables: JSON) {
  startInstance(key: $key, definitionId: $definitionId, businessKey: $businessKey,
                variables: $variables) {
    __typename
    ... on InstanceSuccess { instance { id status currentSteps businessKey } }
    ... on ValidationFailed { code problems { path code } }
    ... on NotFoundError { kind message }
    ... on ConflictError { code message }
  }
}
"""

TASKS = """
query Tasks($filter: TaskFilterInput, $first: Int! = 20, $after: String) {
  tasks(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id stepId assignee candidateGroups priority form { id type required }
                          instance { id businessKey } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

COMPLETE = """
mutation Complete($id: Int!, $variables: JSON) {
  completeTask(id: $id, variables: $variables) {
    __typename
    ... on TaskSuccess { task { id status completedBy } }
    ... on ValidationFailed { code problems { path code } }
    ... on NotFoundError { kind }
    ... on ConflictError { code }
  }
}
"""

CLAIM = """
mutation Claim($id: Int!) {
  claimTask(id: $id) {
    __typename
    ... on TaskSuccess { task { id assignee } }
    ... on ConflictError { code message }
    ... on NotFoundError { kind }
  }
}
"""

INSTANCE = """
query Instance($id: Int!) {
  instance(id: $id) {
    id status variables currentSteps businessKey endedAt
    definition { key revision }
    tasks { stepId status completedBy }
    incidents { id stepId status }
    history { seq type stepId actor at data }
  }
}
"""


async def deploy_order(gql: Client) -> dict[str, Any]:
    data = await gql(DEPLOY, {"definition": example("order-processing.json")})
    result: dict[str, Any] = data["deployDefinition"]
    return result


async def start_order(gql: Client, business_key: str, amount: float = 5000) -> int:
    variables = {"order_id": business_key, "customer_id": "CUST-456", "total_amount": amount}
    data = await gql(
        START, {"key": "order-processing", "businessKey": business_key, "variables": variables}
    )
    result = data["startInstance"]
    assert result["__typename"] == "InstanceSuccess", result
    instance_id: int = result["instance"]["id"]
    return instance_id


async def test_deploy_returns_the_definition_and_redeploying_is_a_no_op(gql: Client) -> None:
    first = await deploy_order(gql)
    assert first["__typename"] == "DeployDefinitionSuccess"
    assert first["created"] is True
    assert first["definition"]["key"] == "order-processing"
    assert first["definition"]["revision"] == 1
    again = await deploy_order(gql)
    assert again["created"] is False
    assert again["definition"]["id"] == first["definition"]["id"]
    listed = await gql(
        "{ definitions(latestOnly: true) { key name version deployedAt definition } }"
    )
    [definition] = listed["definitions"]
    assert definition["definition"]["key"] == "order-processing"


async def test_a_broken_definition_is_validation_failed_with_json_paths(
    gql: Client, migrated_db: Database
) -> None:
    broken = {"name": "x", "steps": [{"id": "a", "type": "user_task", "next": "b"}]}
    result = (await gql(DEPLOY, {"definition": broken}))["deployDefinition"]
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "definition_invalid"
    assert [(p["path"], p["code"]) for p in result["problems"]] == [
        ("$.steps[0].next[0]", "unknown_step")
    ]
    not_an_object = (await gql(DEPLOY, {"definition": [1, 2]}))["deployDefinition"]
    assert not_an_object["__typename"] == "ValidationFailed"
    assert not_an_object["problems"][0]["path"] == "$"
    assert (await gql("{ definitions { id } }"))["definitions"] == []


async def test_the_order_runs_to_the_manager_and_completes_through_graphql(
    gql: Client, workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    await deploy_order(gql)
    instance_id = await start_order(gql, "ORDER-001")
    await workflow.job_finished(queue.job("validate_order"), variables={"valid": True})

    # the managers' group sees the task; it is nobody's yet
    group = {"filter": {"candidateGroup": "managers"}}
    [edge] = (await gql(TASKS, group))["tasks"]["edges"]
    task = edge["node"]
    assert (task["stepId"], task["candidateGroups"], task["priority"]) == (
        "manager_approval",
        ["managers"],
        70,
    )
    assert {f["id"]: f["type"] for f in task["form"]} == {
        "approved": "boolean",
        "comments": "string",
    }
    assert task["instance"] == {"id": instance_id, "businessKey": "ORDER-001"}
    claimable = {"filter": {"claimableByMe": True}}
    assert (await gql(TASKS, claimable, user="mgr", groups=("managers",)))["tasks"]["edges"]
    assert not (await gql(TASKS, claimable, user="bob", groups=("sales",)))["tasks"]["edges"]

    # claimed by mgr: it is mgr's task, and another user cannot take it
    mine = {"filter": {"assignedToMe": True}}
    assert (await gql(TASKS, mine, user="mgr"))["tasks"]["edges"] == []
    claimed = (await gql(CLAIM, {"id": task["id"]}, user="mgr"))["claimTask"]
    assert claimed == {"__typename": "TaskSuccess", "task": {"id": task["id"], "assignee": "mgr"}}
    [mine_edge] = (await gql(TASKS, mine, user="mgr"))["tasks"]["edges"]
    assert mine_edge["node"]["id"] == task["id"]
    taken = (await gql(CLAIM, {"id": task["id"]}, user="bob"))["claimTask"]
    assert (taken["__typename"], taken["code"]) == ("ConflictError", "task_claimed")

    # a completion that fails the form changes nothing
    before = await count(migrated_db, HistoryRecord)
    bad = (await gql(COMPLETE, {"id": task["id"], "variables": {"approved": "yes"}}))[
        "completeTask"
    ]
    assert bad["__typename"] == "ValidationFailed"
    assert bad["code"] == "invalid_variables"
    assert [(p["path"], p["code"]) for p in bad["problems"]] == [
        ("variables.approved", "invalid_type")
    ]
    assert await count(migrated_db, HistoryRecord) == before
    assert (await gql(TASKS, mine, user="mgr"))["tasks"]["edges"]  # still open

    good = {"id": task["id"], "variables": {"approved": True, "comments": "审批通过"}}
    done = (await gql(COMPLETE, good, user="mgr"))["completeTask"]
    assert done == {
        "__typename": "TaskSuccess",
        "task": {"id": task["id"], "status": "completed", "completedBy": "mgr"},
    }
    again = (await gql(COMPLETE, good, user="mgr"))["completeTask"]
    assert again == {"__typename": "ConflictError", "code": "task_not_open"}

    running = (await gql(INSTANCE, {"id": instance_id}))["instance"]
    assert running["status"] == "RUNNING"
    assert sorted(running["currentSteps"]) == sorted(CHECKS)
    for step in CHECKS:
        await workflow.job_finished(queue.job(step), variables={})
    await workflow.job_finished(queue.job("ship_order"), variables={"shipped": True})

    done_instance = (await gql(INSTANCE, {"id": instance_id}))["instance"]
    assert done_instance["status"] == "COMPLETED"
    assert done_instance["currentSteps"] == []
    assert done_instance["endedAt"] is not None
    assert done_instance["definition"] == {"key": "order-processing", "revision": 1}
    assert done_instance["tasks"] == [
        {"stepId": "manager_approval", "status": "completed", "completedBy": "mgr"}
    ]
    history = done_instance["history"]
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    completed = [h["stepId"] for h in history if h["type"] == "step_completed"]
    for step in ("validate_order", "manager_approval", *CHECKS, "ship_order"):
        assert completed.count(step) == 1, step
    assert [h["actor"] for h in history if h["type"] == "task_completed"] == ["mgr"]


async def test_instances_page_filters_and_cursors(gql: Client) -> None:
    await deploy_order(gql)
    ids = [await start_order(gql, f"ORDER-{i}") for i in range(3)]
    page_query = """
    query Page($filter: InstanceFilterInput, $first: Int!, $after: String) {
      instances(filter: $filter, first: $first, after: $after) {
        edges { cursor node { id businessKey status } }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
    first = (await gql(page_query, {"first": 2}))["instances"]
    assert [e["node"]["id"] for e in first["edges"]] == [ids[2], ids[1]]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    rest = (await gql(page_query, {"first": 2, "after": first["pageInfo"]["endCursor"]}))[
        "instances"
    ]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[0]]
    assert rest["pageInfo"]["hasNextPage"] is False
    by_key = {"first": 5, "filter": {"businessKey": "ORDER-1", "status": "RUNNING"}}
    [only] = (await gql(page_query, by_key))["instances"]["edges"]
    assert only["node"]["id"] == ids[1]
    waiting = {"first": 5, "filter": {"waitingAt": "validate_order"}}
    assert len((await gql(page_query, waiting))["instances"]["edges"]) == 3


async def test_order_by_sorts_pages_and_refuses_a_cursor_of_another_order(gql: Client) -> None:
    await deploy_order(gql)
    ids = [await start_order(gql, f"ORDER-{i}") for i in range(3)]
    await gql(
        'mutation($id: Int!) { setVariables(id: $id, variables: {note: "x"}) { __typename } }',
        {"id": ids[0]},
    )
    page_query = """
    query Page($first: Int!, $after: String, $orderBy: InstanceOrder!) {
      instances(first: $first, after: $after, orderBy: $orderBy) {
        edges { cursor node { id } }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
    seen: list[int] = []
    after = None
    while True:
        page = (await gql(page_query, {"first": 2, "after": after, "orderBy": "UPDATED"}))[
            "instances"
        ]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [ids[0], ids[2], ids[1]]  # the changed one first, then newest first
    started = {"first": 2, "after": after, "orderBy": "STARTED"}
    refused = await gql.raw(page_query, started)
    assert refused.errors is not None
    assert refused.errors[0].extensions["code"] == "invalid_cursor"
    tasks = """
    query($orderBy: TaskOrder!) { tasks(orderBy: $orderBy, first: 5) { edges { node { id } } } }
    """
    assert (await gql(tasks, {"orderBy": "DUE"}))["tasks"]["edges"] == []


async def test_unknown_ids_are_not_found_errors_and_null_lookups(gql: Client) -> None:
    missing = (await gql(START, {"definitionId": 4242}))["startInstance"]
    assert missing["__typename"] == "NotFoundError"
    assert missing["kind"] == "process definition"
    missing_key = (await gql(START, {"key": "no-such-process"}))["startInstance"]
    assert missing_key["__typename"] == "NotFoundError"
    none_given = (await gql(START, {}))["startInstance"]
    assert none_given["__typename"] == "ValidationFailed"
    task = (await gql(COMPLETE, {"id": 999}))["completeTask"]
    assert task == {"__typename": "NotFoundError", "kind": "task"}
    for mutation in ("cancelInstance", "suspendInstance", "resumeInstance", "retryIncident"):
        result = (await gql(f"mutation {{ {mutation}(id: 999) {{ __typename }} }}"))[mutation]
        assert result == {"__typename": "NotFoundError"}, mutation
    message = await gql(
        'mutation { sendMessage(name: "nobody-waits") { ... on NotFoundError { kind } } }'
    )
    assert message["sendMessage"]["kind"] == "instance waiting for message"
    lookups = await gql(
        "{ instance(id: 999) { id } task(id: 999) { id } definition(id: 9) { id } }"
    )
    assert lookups == {"instance": None, "task": None, "definition": None}


async def test_malformed_input_gives_clear_errors_and_writes_nothing(
    gql: Client, migrated_db: Database
) -> None:
    await deploy_order(gql)
    wrong_types = {"order_id": 7, "total_amount": "x"}
    result = (await gql(START, {"key": "order-processing", "variables": wrong_types}))[
        "startInstance"
    ]
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "invalid_variables"
    assert {p["path"] for p in result["problems"]} == {
        "variables.order_id",
        "variables.total_amount",
    }
    not_an_object = (await gql(START, {"key": "order-processing", "variables": "x"}))[
        "startInstance"
    ]
    assert not_an_object["__typename"] == "ValidationFailed"
    assert not_an_object["problems"] == [{"path": "variables", "code": "invalid_type"}]
    assert await count(migrated_db, Instance) == 0

    # a variable of the wrong GraphQL type: refused before any resolver runs, never masked
    wrong = await gql.raw(COMPLETE, {"id": "seven"})
    assert wrong.errors and "Int" in wrong.errors[0].message
    syntax = await gql.raw("{ instances { ")
    assert syntax.errors and "Syntax Error" in syntax.errors[0].message
    unknown = await gql.raw("{ nope }")
    assert unknown.errors and "nope" in unknown.errors[0].message

    # bad query arguments: a GraphQL error with the service's message and code
    cursor = await gql.raw('{ instances(after: "garbage!") { edges { cursor } } }')
    assert cursor.errors
    assert cursor.errors[0].extensions["code"] == "invalid_cursor"
    assert "cursor" in cursor.errors[0].message
    page = await gql.raw("{ tasks(first: 100000) { edges { cursor } } }")
    assert page.errors and page.errors[0].extensions["code"] == "invalid_page"
    no_user = await gql.raw(
        "{ tasks(filter: {assignedToMe: true}) { edges { cursor } } }", user=None
    )
    assert no_user.errors and no_user.errors[0].extensions["code"] == "unauthenticated"


async def test_unexpected_failures_are_masked_as_internal_error(
    gql: Client,
    workflow: Workflow,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret database password in a traceback")

    monkeypatch.setattr(workflow, "suspend", broken)
    result = await gql.raw("mutation { suspendInstance(id: 1) { __typename } }")
    assert result.errors is not None
    assert [e.message for e in result.errors] == ["internal error"]
    assert "secret" in caplog.text  # logged for us, not shown to the client


async def test_depth_and_alias_limits_refuse_abusive_queries(gql: Client) -> None:
    deep = "{ tasks { edges { node" + " { instance { tasks" * 5 + " { id }" + " } }" * 5 + " } } }"
    result = await gql.raw(deep)
    assert result.errors and "depth" in result.errors[0].message
    aliases = "{ " + " ".join(f"a{i}: definitions {{ id }}" for i in range(50)) + " }"
    result = await gql.raw(aliases)
    assert result.errors and "aliases" in result.errors[0].message


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


NESTED_PAGE = """
{
  instances(first: 10) {
    edges { node { id status definition { key versions { id } }
                   tasks { id instance { id } } incidents { id } history { seq } parent { id } } }
  }
}
"""


async def test_a_nested_page_costs_the_same_number_of_queries_for_2_or_10_instances(
    gql: Client, workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    await deploy_order(gql)

    async def add(n: int) -> None:
        for _ in range(n):
            instance_id = await start_order(gql, f"ORDER-{len(queue.jobs)}")
            await workflow.job_finished(queue.job("validate_order", instance_id), variables={})
            # a failed fraud check would need the approval first: an incident via the checks
            # is covered elsewhere; the relation is loaded (empty) for every instance anyway

    await add(2)
    with statements(migrated_db) as two:
        data = await gql(NESTED_PAGE)
    assert len(data["instances"]["edges"]) == 2
    assert all(e["node"]["tasks"] for e in data["instances"]["edges"])

    await add(8)
    with statements(migrated_db) as ten:
        data = await gql(NESTED_PAGE)
    assert len(data["instances"]["edges"]) == 10
    assert len(ten) == len(two), (two, ten)
    # the page, then one query per relation: definitions, versions, tasks, incidents, history
    # (the tasks' instances are the page's rows, primed in the loader)
    assert len(ten) == 6, ten


async def test_incidents_are_listed_and_retried(
    gql: Client, workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    await deploy_order(gql)
    instance_id = await start_order(gql, "ORDER-INC", amount=10)
    failure = ("validation service down", None, False)
    await workflow.job_finished(queue.job("validate_order"), failure=failure)
    data = await gql(INSTANCE, {"id": instance_id})
    [incident] = data["instance"]["incidents"]
    assert (incident["stepId"], incident["status"]) == ("validate_order", "open")
    retried = await gql(
        """mutation Retry($id: Int!) { retryIncident(id: $id) {
             __typename ... on InstanceSuccess { instance { id status } } } }""",
        {"id": incident["id"]},
    )
    assert retried["retryIncident"]["__typename"] == "InstanceSuccess"
    assert await count(migrated_db, Job, col(Job.step_id) == "validate_order") == 2


async def test_suspend_resume_cancel_and_set_variables(gql: Client) -> None:
    await deploy_order(gql)
    instance_id = await start_order(gql, "ORDER-S")
    steer = """mutation Steer($id: Int!) {
      suspendInstance(id: $id) { __typename ... on InstanceSuccess { instance { status } } }
    }"""
    data = await gql(steer, {"id": instance_id})
    assert data["suspendInstance"]["instance"]["status"] == "SUSPENDED"
    again = await gql(steer, {"id": instance_id})
    assert again["suspendInstance"] == {"__typename": "ConflictError"}
    resumed = await gql(
        "mutation R($id: Int!) { resumeInstance(id: $id) { ... on InstanceSuccess "
        "{ instance { status } } } }",
        {"id": instance_id},
    )
    assert resumed["resumeInstance"]["instance"]["status"] == "RUNNING"
    updated = await gql(
        "mutation V($id: Int!, $v: JSON!) { setVariables(id: $id, variables: $v) "
        "{ ... on InstanceSuccess { instance { variables } } } }",
        {"id": instance_id, "v": {"note": "rush"}},
    )
    assert updated["setVariables"]["instance"]["variables"]["note"] == "rush"
    cancelled = await gql(
        'mutation C($id: Int!) { cancelInstance(id: $id, reason: "test") '
        "{ ... on InstanceSuccess { instance { status endedAt } } } }",
        {"id": instance_id},
    )
    assert cancelled["cancelInstance"]["instance"]["status"] == "CANCELLED"


# --- the frontend contract ----------------------------------------------------------------


def test_the_checked_in_sdl_is_the_schema() -> None:
    exported = str(schema) + "\n"
    checked_in = (CONTRACT / "schema.graphql").read_text()
    assert checked_in == exported, (
        "frontend-contract/schema.graphql is out of date: regenerate it with "
        "`python -m schema > frontend-contract/schema.graphql`"
    )


@pytest.mark.parametrize(
    "operation", sorted(p.name for p in (CONTRACT / "operations").glob("*.graphql"))
)
def test_every_contract_operation_is_valid_against_the_schema(operation: str) -> None:
    document = parse(with_fragments((CONTRACT / "operations" / operation).read_text()))
    errors = validate(schema._schema, document)
    assert errors == [], [e.message for e in errors]


def test_the_contract_has_operations() -> None:
    assert len(list((CONTRACT / "operations").glob("*.graphql"))) >= 6
