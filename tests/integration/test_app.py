"""The HTTP app on real databases (SQLite and PostgreSQL): /health, the seed's REST calls end to
end, their error shapes, GraphQL over HTTP, and one real ``workflow-engine serve`` process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.routing import Route
from support.auth import PASSWORD, TEST_AUTH, bearer_headers
from typer.testing import CliRunner

from server import cli
from server.app import DatabaseNotAtHead, create_app
from server.db import Database
from server.graphql_view import GRAPHQL_RESPONSE, GraphQLView, accepts_graphql_response
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
SEED_START: dict[str, Any] = {
    "process_definition_id": 123,
    "business_key": "ORDER-001",
    "variables": {"order_id": "ORDER-001", "customer_id": "CUST-456", "total_amount": 999.99},
}


def settings_for(db: Database) -> Settings:
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return Settings(
            database_url=None,
            sqlite_path=Path(url.database),
            handler_modules=["server.demo_services"],
            redis_url=None,
            **TEST_AUTH,
        )
    return Settings(
        database_url=db.url, handler_modules=["server.demo_services"], redis_url=None, **TEST_AUTH
    )


@pytest.fixture
async def app(migrated_db: Database) -> AsyncIterator[Starlette]:
    application = create_app(settings_for(migrated_db))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as alice (admin, group managers)."""
    headers = await bearer_headers(app.state.auth, "alice", groups=["managers"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as http:
        yield http


def order_definition() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "order-processing.json").read_text())
    return data


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "problems"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


async def deploy_order(client: httpx.AsyncClient) -> int:
    response = await client.post("/api/v1/process-definitions", json=order_definition())
    assert response.status_code in (200, 201), response.text
    definition_id: int = response.json()["id"]
    return definition_id


async def wait_for_task(
    client: httpx.AsyncClient, instance_id: int, params: dict[str, str], timeout: float = 15.0
) -> dict[str, Any]:
    """The first open task of the instance listed with ``params`` (the runner works meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/api/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        found = [t for t in response.json()["items"] if t["process_instance_id"] == instance_id]
        if found:
            task: dict[str, Any] = found[0]
            return task
        assert time.monotonic() < deadline, f"no task for instance {instance_id} with {params}"
        await asyncio.sleep(0.05)


async def wait_for_status(
    client: httpx.AsyncClient, business_key: str, status: str, timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(
            "/api/v1/process-instances", params={"business_key": business_key}
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if items and items[0]["status"] == status:
            instance: dict[str, Any] = items[0]
            return instance
        assert time.monotonic() < deadline, f"{business_key} not {status}: {items}"
        await asyncio.sleep(0.05)


# --- health -------------------------------------------------------------------------------------


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_is_503_when_the_database_is_down(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    working = app.state.db
    down = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app.state.db = down
    try:
        response = await client.get("/health")
    finally:
        app.state.db = working
        await down.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert body["detail"]


# --- the seed's REST calls ----------------------------------------------------------------------


async def test_seed_order_process_end_to_end(app: Starlette, client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/process-definitions", json=order_definition())
    assert created.status_code == 201, created.text
    assert created.json()["created"] is True
    again = await client.post("/api/v1/process-definitions", json=order_definition())
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    listed = await client.get("/api/v1/process-definitions")
    assert [d["key"] for d in listed.json()["items"]] == ["order-processing"]

    body = {**SEED_START, "process_definition_id": created.json()["id"]}
    body["variables"] = {**SEED_START["variables"], "total_amount": 1999.99}  # needs approval
    started = await client.post("/api/v1/process-instances", json=body)
    assert started.status_code == 201, started.text
    instance = started.json()
    assert instance["status"] == "running"
    assert instance["business_key"] == "ORDER-001"

    # validate_order runs through the demo handler, then the manager's task opens
    task = await wait_for_task(client, instance["id"], {"candidate_group": "managers"})
    assert task["step_id"] == "manager_approval"
    assert task["assignee"] is None

    # assigned to the current user (claimed through the service: the facade has no claim call)
    await app.state.workflow.claim(task["id"], "alice")
    response = await client.get("/api/v1/tasks", params={"assignee": "current_user"})
    assert [t["id"] for t in response.json()["items"]] == [task["id"]]
    bob = await bearer_headers(app.state.auth, "bob")
    nobody = await client.get("/api/v1/tasks", params={"assignee": "current_user"}, headers=bob)
    assert nobody.json()["items"] == []

    done = await client.put(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"variables": {"approved": True, "comments": "审批通过"}},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["completed_by"] == "alice"

    finished = await wait_for_status(client, "ORDER-001", "completed")
    assert finished["variables"]["approved"] is True
    assert finished["variables"]["tracking_number"].startswith("SF")

    by_key = await client.get(
        "/api/v1/process-instances", params={"process_definition_key": "order-processing"}
    )
    assert [i["id"] for i in by_key.json()["items"]] == [instance["id"]]


async def test_start_by_key(client: httpx.AsyncClient) -> None:
    await deploy_order(client)
    body = {
        "process_definition_key": "order-processing",
        "business_key": "ORDER-KEY",
        "variables": SEED_START["variables"],
    }
    started = await client.post("/api/v1/process-instances", json=body)
    assert started.status_code == 201, started.text
    assert started.json()["process_definition_key"] == "order-processing"
    await wait_for_status(client, "ORDER-KEY", "completed")  # under 1000: auto-approved


# --- errors -------------------------------------------------------------------------------------


async def test_rest_login_and_bearer_tokens(app: Starlette) -> None:
    """The seed's login; every other route needs a valid token and its permission."""
    await bearer_headers(app.state.auth, "dora", "designer")  # creates dora
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        wrong = await http.post("/api/v1/auth/login", json={"username": "dora", "password": "x"})
        assert_error(wrong, 401, "invalid_credentials")
        assert_error(await http.post("/api/v1/auth/login", json={"username": "dora"}), 400)
        login = await http.post(
            "/api/v1/auth/login", json={"username": "dora", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert tokens["token_type"] == "Bearer"
        assert 0 < tokens["expires_in"] <= 15 * 60
        assert tokens["refresh_token"]

        anonymous = await http.get("/api/v1/process-definitions")
        assert_error(anonymous, 401, "invalid_token")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        forged = {"Authorization": "Bearer " + tokens["access_token"][:-4] + "AAAA"}
        assert_error(await http.get("/api/v1/tasks", headers=forged), 401, "invalid_token")
        basic = {"Authorization": "Basic YWxpY2U6eA=="}
        assert_error(await http.get("/api/v1/tasks", headers=basic), 401, "invalid_token")

        dora = {"Authorization": f"Bearer {tokens['access_token']}"}
        listed = await http.get("/api/v1/process-definitions", headers=dora)
        assert listed.status_code == 200
        # a designer may not operate: starting is allowed, nothing else of an operator
        assert_error(
            await http.post("/api/v1/process-instances", json=SEED_START, headers=dora), 404
        )


async def test_rest_login_is_throttled_with_retry_after(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        bad = {"username": "eve", "password": "not the password"}
        for _ in range(app.state.settings.login_max_failures_per_user):
            assert_error(await http.post("/api/v1/auth/login", json=bad), 401)
        throttled = await http.post("/api/v1/auth/login", json=bad)
        assert_error(throttled, 429, "too_many_attempts")
        assert int(throttled.headers["retry-after"]) > 0


async def test_unknown_definition_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/process-instances", json=SEED_START)
    error = assert_error(response, 404, "not_found")
    assert "123" in error["message"]
    by_key = {**SEED_START, "process_definition_id": None, "process_definition_key": "nope"}
    assert_error(await client.post("/api/v1/process-instances", json=by_key), 404)


async def test_bad_variables_are_400_with_problems(client: httpx.AsyncClient) -> None:
    definition_id = await deploy_order(client)
    body = {**SEED_START, "process_definition_id": definition_id}
    body["variables"] = {"order_id": "ORDER-001", "total_amount": "lots"}
    error = assert_error(await client.post("/api/v1/process-instances", json=body), 400)
    assert error["code"] == "invalid_variables"
    assert [p["path"] for p in error["problems"]] == ["variables.total_amount"]
    listed = await client.get("/api/v1/process-instances")
    assert listed.json()["items"] == []  # nothing written


async def test_invalid_definition_is_400_with_problems(client: httpx.AsyncClient) -> None:
    broken = {**order_definition(), "steps": []}
    error = assert_error(await client.post("/api/v1/process-definitions", json=broken), 400)
    assert error["code"] == "definition_invalid"
    assert error["problems"]
    assert all({"path", "code", "message"} == set(p) for p in error["problems"])


async def test_request_shape_errors_are_400(client: httpx.AsyncClient) -> None:
    malformed = await client.post(
        "/api/v1/process-instances",
        content=b'{"process_definition_id": ',
        headers={"content-type": "application/json"},
    )
    assert_error(malformed, 400, "malformed_json")
    assert_error(await client.post("/api/v1/process-definitions", json=[1, 2]), 400)
    no_id = await client.post("/api/v1/process-instances", json={"variables": {}})
    assert_error(no_id, 400, "required")
    wrong_type = {**SEED_START, "process_definition_id": "123"}
    assert_error(await client.post("/api/v1/process-instances", json=wrong_type), 400)
    anyone = await client.get("/api/v1/tasks", params={"assignee": "current_user"})
    assert anyone.status_code == 200  # the principal of the token: no 400 any more
    assert_error(await client.get("/api/v1/tasks", params={"first": "x"}), 400)
    assert_error(await client.get("/api/v1/tasks", params={"after": "garbage"}), 400)


async def test_second_completion_is_409(client: httpx.AsyncClient) -> None:
    definition_id = await deploy_order(client)
    body = {**SEED_START, "process_definition_id": definition_id}
    body["variables"] = {**SEED_START["variables"], "total_amount": 5000}
    instance = (await client.post("/api/v1/process-instances", json=body)).json()
    task = await wait_for_task(client, instance["id"], {"candidate_group": "managers"})
    url = f"/api/v1/tasks/{task['id']}/complete"
    wrong = await client.put(url, json={"variables": {"approved": "yes"}})
    assert_error(wrong, 400)
    assert assert_error(wrong, 400)["problems"]
    first = await client.put(url, json={"variables": {"approved": False}})
    assert first.status_code == 200, first.text
    assert_error(await client.put(url, json={"variables": {"approved": True}}), 409)


async def test_unknown_task_and_route_are_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.put("/api/v1/tasks/999/complete", json={}), 404, "not_found")
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.delete("/api/v1/tasks"), 405)


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 1) + b'"}'
    response = await client.post(
        "/api/v1/process-definitions", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(20):
            yield b"x" * 65536

    streamed = await client.post("/api/v1/process-definitions", content=chunks())
    assert_error(streamed, 413, "payload_too_large")


async def test_unexpected_error_is_an_opaque_500(app: Starlette) -> None:
    class Broken:
        async def deploy(self, source: Any, *, actor: str | None = None) -> Any:
            raise RuntimeError("secret internals")

    headers = await bearer_headers(app.state.auth)
    working = app.state.workflow
    app.state.workflow = Broken()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as http:
            response = await http.post("/api/v1/process-definitions", json=order_definition())
    finally:
        app.state.workflow = working
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert error["problems"] == []


# --- GraphQL over HTTP --------------------------------------------------------------------------


@strawberry.type
class _Query:
    @strawberry.field
    def user(self, info: strawberry.Info) -> str | None:
        user: str | None = info.context["user"]
        return user

    @strawberry.field
    def boom(self) -> int:
        raise ValueError("resolver failed")


def _context(workflow: Any, db: Any, principal: Any, **_: Any) -> dict[str, Any]:
    return {"user": None if principal is None else principal.username}


@pytest.fixture
async def graphql_client() -> AsyncIterator[httpx.AsyncClient]:
    """The view over a tiny schema: the HTTP rules, independent of the real schema."""
    view = GraphQLView(strawberry.Schema(query=_Query), make_context=_context)
    bare = Starlette(routes=[Route("/graphql", view)])
    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def test_accept_negotiation() -> None:
    assert accepts_graphql_response(GRAPHQL_RESPONSE)
    assert accepts_graphql_response(f"{GRAPHQL_RESPONSE}, application/json;q=0.9")
    assert not accepts_graphql_response("application/json")
    assert not accepts_graphql_response("*/*")
    assert not accepts_graphql_response("")
    assert not accepts_graphql_response(f"{GRAPHQL_RESPONSE};q=0.5, application/json")


async def test_graphql_over_http_media_types_and_status(
    graphql_client: httpx.AsyncClient,
) -> None:
    modern = {"accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"}
    ok = await graphql_client.post("/graphql", json={"query": "{ user }"}, headers=modern)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert ok.json() == {"data": {"user": None}}  # no token: anonymous

    for document in ("{ user", "{ nope }"):  # does not parse; does not validate
        bad = await graphql_client.post("/graphql", json={"query": document}, headers=modern)
        assert bad.status_code == 400, document
        assert bad.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert "data" not in bad.json()
        assert bad.json()["errors"]
        legacy = await graphql_client.post(
            "/graphql", json={"query": document}, headers={"accept": "application/json"}
        )
        assert legacy.status_code == 200
        assert legacy.headers["content-type"].startswith("application/json")

    failed = await graphql_client.post("/graphql", json={"query": "{ boom }"}, headers=modern)
    assert failed.status_code == 200  # executed: a field error is not a request error
    assert failed.json()["data"] is None
    assert failed.json()["errors"][0]["path"] == ["boom"]

    ide = await graphql_client.get("/graphql", headers={"accept": "text/html"})
    assert ide.status_code == 404  # GraphiQL off


async def test_real_schema_is_mounted(client: httpx.AsyncClient, app: Starlette) -> None:
    modern = {"accept": GRAPHQL_RESPONSE}
    ok = await client.post("/graphql", json={"query": "{ __typename }"}, headers=modern)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"] == {"__typename": "Query"}
    bad = await client.post("/graphql", json={"query": "{"}, headers=modern)
    assert bad.status_code == 400


# --- a real process -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``workflow-engine serve --demo`` in a subprocess, on SQLite in tmp_path."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"SQLITE_PATH": str(tmp_path / "served.db"), "HANDLER_MODULES": ""}
    env.pop("JWT_SECRET", None)  # the demo needs none: it makes one up
    command = Path(sys.executable).parent / "workflow-engine"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [str(command), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready in 30 s"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_demo_process(served: str) -> None:
    health = httpx.get(f"{served}/health", timeout=5)  # the seed's `curl .../health`
    assert health.json() == {"status": "ok", "database": "ok"}
    anonymous = httpx.get(f"{served}/api/v1/process-definitions", timeout=5)
    assert anonymous.status_code == 401
    # the seed's login: the demo's admin / password123
    login = httpx.post(
        f"{served}/api/v1/auth/login",
        json={"username": "admin", "password": "password123"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    assert login.json()["token_type"] == "Bearer"
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    examples = httpx.get(
        f"{served}/api/v1/process-definitions", params={"latest": "true"}, headers=auth
    )
    assert "order-processing" in {d["key"] for d in examples.json()["items"]}
    deployed = httpx.post(
        f"{served}/api/v1/process-definitions", json=order_definition(), headers=auth
    )
    assert deployed.status_code == 200  # the demo deployed it already: unchanged
    body = {**SEED_START, "process_definition_id": deployed.json()["id"]}
    started = httpx.post(f"{served}/api/v1/process-instances", json=body, timeout=5, headers=auth)
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "running"


# --- start-up and the CLI -----------------------------------------------------------------------


async def test_production_refuses_a_database_not_at_head(empty_database_url: str) -> None:
    """With DATABASE_URL, nothing is migrated automatically; embedded SQLite migrates itself."""
    url = make_url(empty_database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        settings = Settings(
            database_url=None, sqlite_path=Path(url.database), redis_url=None, **TEST_AUTH
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                assert (await http.get("/health")).status_code == 200
        return
    application = create_app(Settings(database_url=empty_database_url, redis_url=None, **TEST_AUTH))
    with pytest.raises(DatabaseNotAtHead, match="workflow-engine migrate"):
        async with application.router.lifespan_context(application):
            pass


def test_cli_migrate_and_deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "cli.db"))
    runner = CliRunner()
    migrated = runner.invoke(cli.app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "database at revision" in migrated.output
    order = str(EXAMPLES / "order-processing.json")
    first = runner.invoke(cli.app, ["deploy", order, str(EXAMPLES / "contract-approval.yaml")])
    assert first.exit_code == 0, first.output
    assert first.output.count(": created ") == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**order_definition(), "steps": []}))
    second = runner.invoke(cli.app, ["deploy", order, str(bad)])
    assert second.exit_code == 1
    assert ": unchanged order-processing" in second.output
    assert "bad.json: not deployed" in second.output


def test_serve_refuses_to_start_without_a_signing_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Outside the demo there is no default secret: no JWT_SECRET (nor key file), no server."""
    for name in ("JWT_SECRET", "JWT_PRIVATE_KEY_FILE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "refused.db"))
    refused = CliRunner().invoke(cli.app, ["serve", "--port", "1"])
    assert refused.exit_code == 1
    assert "JWT_SECRET" in refused.output
    assert not (tmp_path / "refused.db").exists()  # refused before anything was touched
