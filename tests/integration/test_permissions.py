"""The permission matrix: every root field of the schema, for every role, allowed or refused as
schema/permissions.py says; and the row-level rules through every path to a task or instance.

The fields are enumerated from the schema object itself: a field added without a document here,
or without a rule there, fails this file (and ``build_schema`` refuses a field without a rule).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import col, func, select
from support.auth import principal
from support.queues import RecordingQueue

from schema import schema
from schema.context import make_context
from schema.permissions import RULES, MissingRule, guard_root_fields
from server.auth.passwords import Passwords
from server.auth.roles import ROLE_PERMISSIONS, Principal, Role
from server.auth.sessions import AuthService
from server.auth.throttle import MemoryThrottle, ThrottleLimits
from server.auth.tokens import AccessTokens, SigningKey
from server.db import Database
from server.models import Instance
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROLES: list[str | None] = [None, "user", "designer", "operator", "admin"]  # None: anonymous
REFUSALS = {"forbidden", "unauthenticated"}
MISSING = 999_999  # ids that exist nowhere: an allowed call comes back NotFound, writing nothing

QUERIES = {
    "me": "{ me { username } }",
    "definitions": "{ definitions { id } }",
    "definition": "{ definition(id: 1) { id } }",
    "instances": "{ instances { edges { node { id } } } }",
    "instance": f"{{ instance(id: {MISSING}) {{ id }} }}",
    "incidents": "{ incidents { edges { node { id } } } }",
    "tasks": "{ tasks { edges { node { id } } } }",
    "task": f"{{ task(id: {MISSING}) {{ id }} }}",
    "externalTask": f"{{ externalTask(id: {MISSING}) {{ id }} }}",
}
M = MISSING
MUTATIONS = {
    "login": 'login(username: "nobody", password: "wrong password")',
    "refreshToken": 'refreshToken(refreshToken: "not-a-token")',
    "logout": 'logout(refreshToken: "not-a-token")',
    "deployDefinition": "deployDefinition(definition: [])",
    "startInstance": 'startInstance(key: "no-such-definition")',
    "cancelInstance": f"cancelInstance(id: {M})",
    "suspendInstance": f"suspendInstance(id: {M})",
    "resumeInstance": f"resumeInstance(id: {M})",
    "setVariables": f"setVariables(id: {M}, variables: {{}})",
    "sendMessage": 'sendMessage(name: "nobody-waits")',
    "retryIncident": f"retryIncident(id: {M})",
    "claimTask": f"claimTask(id: {M})",
    "unclaimTask": f"unclaimTask(id: {M})",
    "completeTask": f"completeTask(id: {M})",
    "assignTask": f"assignTask(id: {M}, assignee: null)",
    "fetchAndLockExternalTasks": 'fetchAndLockExternalTasks(workerId: "w", topics: [])',
    "extendExternalTaskLock": f'extendExternalTaskLock(id: {M}, workerId: "w", '
    "lockDurationMs: 1000)",
    "completeExternalTask": f'completeExternalTask(id: {M}, workerId: "w")',
    "failExternalTask": f'failExternalTask(id: {M}, workerId: "w", message: "m")',
    "reportExternalTaskError": f'reportExternalTaskError(id: {M}, workerId: "w", errorCode: "E")',
}
SUBSCRIPTIONS = {
    "instanceEvents": f"subscription {{ instanceEvents(instanceId: {M}) {{ seq }} }}",
    "instanceChanges": "subscription { instanceChanges { instanceId } }",
    "taskChanges": "subscription { taskChanges { id } }",
    "dashboardCounters": "subscription { dashboardCounters { openTasks } }",
}
# the table, read by a person: what each role may call beyond what every user may
EXPECTED_ONLY_FOR = {
    "deployDefinition": {"designer", "admin"},
    "cancelInstance": {"operator", "admin"},
    "retryIncident": {"operator", "admin"},
    "assignTask": {"operator", "admin"},
    "fetchAndLockExternalTasks": {"operator", "admin"},
    "externalTask": {"operator", "admin"},
    "dashboardCounters": {"operator", "admin"},
}
ANONYMOUS_MAY = {"me", "login", "refreshToken"}

REVIEW = {
    "name": "Review",
    "key": "review",
    "version": "1",
    "variables": {
        "owner": {"type": "string", "required": True},
        "teams": {"type": "array", "required": True},
        "note": {"type": "string"},
    },
    "steps": [
        {"id": "start", "type": "start_event", "next": ["review"]},
        {
            "id": "review",
            "type": "user_task",
            "config": {"assignee": "${owner}", "candidate_groups": "${teams}"},
            "next": ["done"],
        },
        {"id": "done", "type": "end_event"},
    ],
}


@pytest.fixture
async def auth(migrated_db: Database) -> AuthService:
    tokens = AccessTokens(
        SigningKey.hs256("k" * 40),
        issuer="workflow-engine",
        audience="workflow-engine",
        ttl=timedelta(minutes=15),
    )
    limits = ThrottleLimits(per_user=100, per_address=100, window_seconds=60)
    cheap = Passwords(Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1))
    return AuthService(migrated_db, tokens, MemoryThrottle(limits), passwords=cheap)


@pytest.fixture
def workflow(migrated_db: Database) -> Workflow:
    return Workflow(migrated_db, RecordingQueue())


def who(role: str | None, username: str = "pat", groups: tuple[str, ...] = ()) -> Principal | None:
    return None if role is None else principal(username, role, groups=groups)


def document(field: str) -> str:
    if field in QUERIES:
        return QUERIES[field]
    return f"mutation {{ {MUTATIONS[field]} {{ __typename }} }}"


def allowed_by_table(type_name: str, field: str, role: str | None) -> bool:
    rule = RULES[type_name][field]
    if rule.public:
        return True
    if role is None:
        return False
    return rule.needs is None or rule.needs in ROLE_PERMISSIONS[Role(role)]


def refusal_codes(result: Any) -> set[str]:
    return {
        (error.extensions or {}).get("code", "")
        for error in result.errors or []
        if (error.extensions or {}).get("code") in REFUSALS
    }


def test_every_root_field_has_a_rule_and_a_document_here() -> None:
    graphql_schema = schema._schema
    assert graphql_schema.query_type is not None and graphql_schema.mutation_type is not None
    assert graphql_schema.subscription_type is not None
    for root, documents in (
        (graphql_schema.query_type, QUERIES),
        (graphql_schema.mutation_type, MUTATIONS),
        (graphql_schema.subscription_type, SUBSCRIPTIONS),
    ):
        assert set(root.fields) == set(RULES[root.name]), root.name
        assert set(root.fields) == set(documents), f"{root.name}: add a document here"


def test_a_root_field_without_a_rule_is_refused_at_build() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def definitions(self) -> int:
            return 1

        @strawberry.field
        def secret_report(self) -> int:  # no rule
            return 42

    with pytest.raises(MissingRule, match="secretReport"):
        guard_root_fields(strawberry.Schema(query=Query))


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
async def test_the_matrix_of_queries_and_mutations(
    role: str | None, workflow: Workflow, migrated_db: Database, auth: AuthService
) -> None:
    outcomes: dict[str, bool] = {}
    for type_name, fields in (("Query", QUERIES), ("Mutation", MUTATIONS)):
        for field in fields:
            context = make_context(workflow, migrated_db, who(role), auth=auth)
            result = await schema.execute(document(field), context_value=context)
            refused = refusal_codes(result)
            allowed = allowed_by_table(type_name, field, role)
            assert (not refused) == allowed, (field, role, result.errors)
            if not allowed:  # refused as a typed error on the field, and nothing leaked
                assert refused == {"unauthenticated" if role is None else "forbidden"}
                assert result.data is None or result.data.get(field) is None
            else:  # allowed: no other error either (wrong ids come back as typed results)
                assert result.errors is None, (field, role, result.errors)
            outcomes[field] = allowed
    # and the table says what the issue says, read independently of it
    for field, roles in EXPECTED_ONLY_FOR.items():
        if field in outcomes:
            assert outcomes[field] == (role in roles), (field, role)
    if role is None:
        assert {f for f, ok in outcomes.items() if ok} == ANONYMOUS_MAY


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
async def test_the_matrix_of_subscriptions(
    role: str | None, workflow: Workflow, migrated_db: Database
) -> None:
    for field, text in SUBSCRIPTIONS.items():
        context = make_context(workflow, migrated_db, who(role))
        subscribed = await schema.subscribe(text, context_value=context)
        allowed = allowed_by_table("Subscription", field, role)
        result: Any = subscribed
        if isinstance(subscribed, AsyncGenerator):
            result = None
            if not allowed:
                result = await anext(subscribed)  # a refusal comes as the first (only) result
            await subscribed.aclose()
        refused = set() if result is None else refusal_codes(result)
        assert (not refused) == allowed, (field, role, result)
    if role == "user":
        assert not allowed_by_table("Subscription", "dashboardCounters", role)


# --- row-level rules ----------------------------------------------------------------------------


async def run(
    workflow: Workflow, db: Database, user: Principal | None, text: str, **variables: Any
) -> Any:
    context = make_context(workflow, db, user)
    return await schema.execute(text, variable_values=variables, context_value=context)


async def test_a_user_never_sees_another_users_task_or_variables(
    workflow: Workflow, migrated_db: Database
) -> None:
    await workflow.deploy(REVIEW, actor="admin")
    alices = await workflow.start(
        key="review", variables={"owner": "alice", "teams": ["a-team"], "note": "A"}, actor="carol"
    )
    bobs = await workflow.start(
        key="review", variables={"owner": "bob", "teams": ["b-team"], "note": "B"}, actor="carol"
    )
    # bob starts one for alice: he sees the instance he started, not alice's task in it
    bob_started = await workflow.start(
        key="review", variables={"owner": "alice", "teams": ["a-team"], "note": "C"}, actor="bob"
    )
    alice = principal("alice", "user")
    bob = principal("bob", "user")
    teammate = principal("dan", "user", groups=["b-team"])  # a candidate through his group

    async def task_of(instance_id: int | None) -> int:
        data = await run(workflow, migrated_db, principal("root"), TASKS_OF, i=instance_id)
        assert data.errors is None, data.errors
        ids: list[int] = [t["id"] for t in data.data["instance"]["tasks"]]
        return ids[0]

    alices_task = await task_of(alices.id)
    bobs_task = await task_of(bobs.id)
    hidden_task = await task_of(bob_started.id)

    # Query.tasks
    listed = await run(workflow, migrated_db, alice, "{ tasks { edges { node { id } } } }")
    assert {e["node"]["id"] for e in listed.data["tasks"]["edges"]} == {alices_task, hidden_task}
    listed = await run(workflow, migrated_db, bob, "{ tasks { edges { node { id } } } }")
    assert {e["node"]["id"] for e in listed.data["tasks"]["edges"]} == {bobs_task}
    listed = await run(workflow, migrated_db, teammate, "{ tasks { edges { node { id } } } }")
    assert {e["node"]["id"] for e in listed.data["tasks"]["edges"]} == {bobs_task}
    # explicit filters cannot widen it
    wide = '{ tasks(filter: {candidateGroup: "a-team", status: null}) { edges { node { id } } } }'
    assert (await run(workflow, migrated_db, bob, wide)).data["tasks"]["edges"] == []

    # Query.task
    one = "query($t: Int!) { task(id: $t) { id instance { id variables } } }"
    assert (await run(workflow, migrated_db, alice, one, t=bobs_task)).data == {"task": None}
    mine = (await run(workflow, migrated_db, alice, one, t=alices_task)).data["task"]
    assert mine["instance"]["variables"]["note"] == "A"

    # Query.instance and its tasks and variables
    detail = "query($i: Int!) { instance(id: $i) { id variables tasks { id } history { seq } } }"
    assert (await run(workflow, migrated_db, alice, detail, i=bobs.id)).data == {"instance": None}
    assert (await run(workflow, migrated_db, bob, detail, i=alices.id)).data == {"instance": None}
    started = (await run(workflow, migrated_db, bob, detail, i=bob_started.id)).data["instance"]
    assert started["tasks"] == []  # alice's task in the instance bob started
    seen = (await run(workflow, migrated_db, alice, detail, i=bob_started.id)).data["instance"]
    assert [t["id"] for t in seen["tasks"]] == [hidden_task]

    # Query.instances
    page = "{ instances { edges { node { id variables } } } }"
    alice_page = (await run(workflow, migrated_db, alice, page)).data["instances"]["edges"]
    assert {e["node"]["id"] for e in alice_page} == {alices.id, bob_started.id}
    assert {e["node"]["variables"]["note"] for e in alice_page} == {"A", "C"}
    bob_page = (await run(workflow, migrated_db, bob, page)).data["instances"]["edges"]
    assert {e["node"]["id"] for e in bob_page} == {bobs.id, bob_started.id}

    # acting on another's task: refused before anything is written
    claim = "mutation($t: Int!) { claimTask(id: $t) { __typename } }"
    refused = await run(workflow, migrated_db, alice, claim, t=bobs_task)
    assert refusal_codes(refused) == {"forbidden"}
    complete = "mutation($t: Int!) { completeTask(id: $t) { __typename } }"
    refused = await run(workflow, migrated_db, bob, complete, t=alices_task)
    assert refusal_codes(refused) == {"forbidden"}
    still = await run(workflow, migrated_db, principal("root"), one, t=alices_task)
    assert still.data["task"]["id"] == alices_task
    done = await run(workflow, migrated_db, alice, complete, t=alices_task)
    assert done.data["completeTask"]["__typename"] == "TaskSuccess", done

    # an operator sees everything
    everything = (await run(workflow, migrated_db, principal("olga", "operator"), page)).data
    assert len(everything["instances"]["edges"]) == 3


TASKS_OF = "query($i: Int!) { instance(id: $i) { tasks { id } } }"


# --- who may start a definition -----------------------------------------------------------------

RESTRICTED = {
    "name": "Payroll run",
    "key": "payroll",
    "starters": {"users": ["paula"], "groups": ["payroll"]},
    "steps": [
        {"id": "start", "type": "start_event", "next": ["done"]},
        {"id": "done", "type": "end_event"},
    ],
}
START_PAYROLL = 'mutation { startInstance(key: "payroll") { __typename } }'


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        (principal("paula", "user"), True),  # named
        (principal("gus", "user", groups=["payroll"]), True),  # by group
        (principal("olga", "operator"), True),  # operates every instance
        (principal("mallory", "user", groups=["sales"]), False),
        (principal("dave", "designer"), False),  # may deploy it, not start it
    ],
    ids=["named", "group", "operator", "other-group", "designer"],
)
async def test_a_definition_with_starters_is_started_only_by_them(
    workflow: Workflow, migrated_db: Database, user: Principal, allowed: bool
) -> None:
    await workflow.deploy(RESTRICTED, actor="admin")
    result = await run(workflow, migrated_db, user, START_PAYROLL)
    if allowed:
        assert result.errors is None and result.data is not None
        assert result.data["startInstance"]["__typename"] == "InstanceSuccess"
    else:
        assert refusal_codes(result) == {"forbidden"}
        assert result.data is None
    async with migrated_db.reading() as session:
        started = (await session.exec(select(func.count(col(Instance.id))))).one()
    assert started == (1 if allowed else 0)
