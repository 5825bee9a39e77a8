"""The order process end to end through the GraphQL endpoint over HTTP, on PostgreSQL and
SQLite, using the frontend contract's own operation documents: what a dashboard ships is
what is tested."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url
from starlette.applications import Starlette
from support.auth import PASSWORD, TEST_AUTH, bearer_headers
from support.contract import operation_text

from server.app import create_app
from server.db import Database
from server.graphql_view import GRAPHQL_RESPONSE
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
OPERATIONS = ROOT / "frontend-contract" / "operations"
ORDER = json.loads((ROOT / "examples" / "order-processing.json").read_text())


def settings_for(db: Database) -> Settings:
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return Settings(
            database_url=None,
            sqlite_path=Path(url.database),
            handler_modules=["server.demo_services"],
            **TEST_AUTH,
        )
    return Settings(database_url=db.url, handler_modules=["server.demo_services"], **TEST_AUTH)


@pytest.fixture
async def api(migrated_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings_for(migrated_db))
    async with app.router.lifespan_context(app):
        headers = await bearer_headers(app.state.auth, "alice", groups=["managers"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield client


async def call(
    api: httpx.AsyncClient,
    operation: str,
    variables: dict[str, Any],
    *,
    document: str | None = None,
) -> dict[str, Any]:
    """Run a named operation of the contract; fail on any GraphQL error."""
    text = operation_text(document or operation)
    response = await api.post(
        "/graphql",
        json={"query": text, "operationName": operation, "variables": variables},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def instance(api: httpx.AsyncClient, instance_id: int) -> dict[str, Any]:
    data = await call(api, "InstanceDetail", {"id": instance_id})
    found: dict[str, Any] = data["instance"]
    return found


async def until(
    api: httpx.AsyncClient, instance_id: int, *, step: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """Poll the instance (the in-process runner works in the background), bounded."""
    for _ in range(200):
        current = await instance(api, instance_id)
        if (step is None or step in current["currentSteps"]) and (
            status is None or current["status"] == status
        ):
            return current
        await asyncio.sleep(0.02)
    raise AssertionError(f"instance {instance_id} never reached {step or status}: {current}")


async def test_the_order_process_end_to_end_through_graphql(api: httpx.AsyncClient) -> None:
    deployed = await call(api, "DeployDefinition", {"definition": ORDER})
    assert deployed["deployDefinition"]["__typename"] == "DeployDefinitionSuccess"

    variables = {"order_id": "ORDER-001", "customer_id": "CUST-456", "total_amount": 5000}
    started = await call(
        api,
        "StartInstance",
        {"key": "order-processing", "businessKey": "ORDER-001", "variables": variables},
    )
    result = started["startInstance"]
    assert result["__typename"] == "InstanceSuccess", result
    instance_id = result["instance"]["id"]

    waiting = await until(api, instance_id, step="manager_approval")
    [task] = [t for t in waiting["tasks"] if t["status"] == "open"]

    claimed = await call(api, "ClaimTask", {"id": task["id"]})
    assert claimed["claimTask"]["__typename"] == "TaskSuccess"
    inbox = await call(api, "MyTasks", {})
    assert [t["node"]["id"] for t in inbox["assigned"]["edges"]] == [task["id"]]

    refused = await call(api, "CompleteTask", {"id": task["id"], "variables": {"approved": "yes"}})
    assert refused["completeTask"]["__typename"] == "ValidationFailed"
    assert refused["completeTask"]["problems"][0]["path"] == "variables.approved"

    done = await call(
        api, "CompleteTask", {"id": task["id"], "variables": {"approved": True, "comments": "好"}}
    )
    assert done["completeTask"]["__typename"] == "TaskSuccess"
    again = await call(api, "CompleteTask", {"id": task["id"], "variables": {"approved": True}})
    assert again["completeTask"]["__typename"] == "ConflictError"

    completed = await until(api, instance_id, status="COMPLETED")
    history = completed["history"]
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    steps_completed = [h["stepId"] for h in history if h["type"] == "step_completed"]
    for step in ("validate_order", "manager_approval", "credit_check", "ship_order"):
        assert steps_completed.count(step) == 1
    assert [h["actor"] for h in history if h["type"] == "task_completed"] == ["alice"]


async def test_a_broken_definition_comes_back_with_its_problems(api: httpx.AsyncClient) -> None:
    broken = {
        **ORDER,
        "steps": [*ORDER["steps"], {"id": "x", "type": "user_task", "next": "nowhere"}],
    }
    result = (await call(api, "DeployDefinition", {"definition": broken}))["deployDefinition"]
    assert result["__typename"] == "ValidationFailed"
    codes = {(p["path"], p["code"]) for p in result["problems"]}
    assert ("$.steps[16].next[0]", "unknown_step") in codes


LOGIN = """mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) {
  __typename ... on AuthTokens { accessToken refreshToken expiresIn tokenType }
  ... on AuthFailed { code message retryAfter } } }"""
ME = "{ me { username roles groups permissions } }"


async def post(
    api: httpx.AsyncClient, query: str, headers: dict[str, str], **variables: Any
) -> Any:
    return await api.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"accept": GRAPHQL_RESPONSE, **headers},
    )


async def test_login_me_refresh_and_logout_over_graphql(api: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}  # replaces the client's own token: no header sent
    failed = await post(api, LOGIN, anonymous, u="alice", p="wrong password")
    assert failed.json()["data"]["login"]["code"] == "invalid_credentials"

    # alice exists (the fixture made her): log in as a client would
    ok = await post(api, LOGIN, anonymous, u="alice", p=PASSWORD)
    tokens = ok.json()["data"]["login"]
    assert tokens["__typename"] == "AuthTokens" and tokens["tokenType"] == "Bearer"
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    me = (await post(api, ME, bearer)).json()["data"]["me"]
    assert (me["username"], me["roles"], me["groups"]) == ("alice", ["admin"], ["managers"])
    assert "definitions.deploy" in me["permissions"]
    assert (await post(api, ME, anonymous)).json() == {"data": {"me": None}}

    refreshed = await post(
        api,
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { __typename } }",
        bearer,
        t=tokens["refreshToken"],
    )
    assert refreshed.json()["data"]["refreshToken"]["__typename"] == "AuthTokens"
    reused = await post(
        api,
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { ... on AuthFailed { code } } }",
        anonymous,
        t=tokens["refreshToken"],
    )
    assert reused.json()["data"]["refreshToken"]["code"] == "token_reused"
    # the reuse ended the session: its access token is refused at once, with a 401
    revoked = await post(api, ME, bearer)
    assert revoked.status_code == 401
    assert revoked.json()["errors"][0]["extensions"]["code"] == "token_revoked"
    assert revoked.headers["www-authenticate"].startswith("Bearer")


async def test_a_bad_token_is_a_401_graphql_error(api: httpx.AsyncClient) -> None:
    for header, code in (
        ("Bearer not.a.token", "invalid_token"),
        ("Basic YWxpY2U6eA==", "invalid_token"),
    ):
        response = await post(api, ME, {"Authorization": header})
        assert response.status_code == 401, response.text
        assert response.json() == {
            "errors": [
                {"message": response.json()["errors"][0]["message"], "extensions": {"code": code}}
            ]
        }


async def test_anonymous_operations_are_refused_with_a_code(api: httpx.AsyncClient) -> None:
    response = await post(api, "{ tasks { edges { cursor } } }", {"Authorization": ""})
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "unauthenticated"
    assert response.json()["data"] is None
