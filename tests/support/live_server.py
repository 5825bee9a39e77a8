"""A real uvicorn server of ``create_app`` on a free port, with users who log in, and real
websocket clients (``gql``) that authenticate in ``connection_init``: shared by the
subscription tests (tests/integration/test_subscriptions.py, test_ws_auth.py).

Two modes, one code path: the embedded default (SQLite, in-memory bus) and production
(PostgreSQL with the Redis bus), chosen by the database under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import make_url
from starlette.applications import Starlette

from server.app import create_app
from server.auth.sessions import AuthService
from server.bus import Hub, InMemoryBus
from server.db import Database
from server.redis_bus import RedisBus
from server.settings import Settings
from support.auth import PASSWORD, TEST_AUTH
from support.contract import operation_text

OPERATIONS = Path(__file__).parents[2] / "frontend-contract" / "operations"
WAIT = 15.0  # seconds: a bound on waiting for something that must happen, never a benchmark
TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # graphql-transport-ws
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # graphql-ws
REVIEW = {
    "key": "review",
    "name": "Review",
    "version": "1",
    "variables": {"who": {"type": "string", "required": True}},
    "steps": [
        {"id": "start", "type": "start_event", "next": ["check"]},
        {
            "id": "check",
            "name": "Check it",
            "type": "user_task",
            "config": {"assignee": "${who}"},
            "next": ["done"],
        },
        {"id": "done", "type": "end_event"},
    ],
}


def operation(name: str, variables: dict[str, Any] | None = None) -> GraphQLRequest:
    """A contract operation as a request (gql 4: the variables travel with it)."""
    document = gql(operation_text(name))
    return GraphQLRequest(document, variable_values=variables)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


@dataclass
class Live:
    """The running server: its URL, its app, an HTTP client, and the admin's token."""

    url: str
    app: Starlette
    http: httpx.AsyncClient
    admin: str = ""  # an access token of the user "admin" (role admin)

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.bus.hub
        return hub

    @property
    def auth(self) -> AuthService:
        auth: AuthService = self.app.state.auth
        return auth

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/graphql"

    async def user(self, name: str, *roles: str, groups: tuple[str, ...] = ()) -> str:
        """A new user, logged in: their access token."""
        await self.auth.users.create(name, PASSWORD, roles or ["user"], groups=groups)
        session = await self.auth.login(name, PASSWORD)
        return session.access_token

    async def graphql(self, query: str, variables: dict[str, Any], token: str = "") -> Any:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token or self.admin}"},
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def start(self, who: str, business_key: str | None = None) -> int:
        data = await self.graphql(
            'mutation S($v: JSON, $b: String) { startInstance(key: "review", variables: $v, '
            "businessKey: $b) { __typename ... on InstanceSuccess { instance { id } } } }",
            {"v": {"who": who}, "b": business_key},
        )
        assert data["startInstance"]["__typename"] == "InstanceSuccess", data
        instance_id: int = data["startInstance"]["instance"]["id"]
        return instance_id

    async def open_task(self, instance_id: int) -> int:
        data = await self.graphql(
            "query T($id: Int!) { instance(id: $id) { tasks { id status } } }", {"id": instance_id}
        )
        [task] = [t for t in data["instance"]["tasks"] if t["status"] == "open"]
        task_id: int = task["id"]
        return task_id

    async def complete(self, instance_id: int, token: str = "") -> None:
        task_id = await self.open_task(instance_id)
        data = await self.graphql(
            "mutation C($id: Int!) { completeTask(id: $id) { __typename } }", {"id": task_id}, token
        )
        assert data["completeTask"]["__typename"] == "TaskSuccess", data

    async def history(self, instance_id: int) -> list[int]:
        data = await self.graphql(
            "query H($id: Int!) { instance(id: $id) { history { seq } } }", {"id": instance_id}
        )
        return [h["seq"] for h in data["instance"]["history"]]

    async def until_subscribers(self, count: int) -> None:
        """Wait until ``count`` feeds hold a hub subscription: a live-only feed (taskChanges)
        sees only what is published after that."""
        await until(lambda: self.hub.subscribers >= count)

    def client(
        self,
        token: str | None = None,
        *,
        protocol: str = TRANSPORT_WS,
        init_payload: dict[str, Any] | None = None,
    ) -> Client:
        """A websocket client authenticated as a browser would: the token in connection_init
        (the admin's unless given)."""
        payload = init_payload
        if payload is None:
            payload = {"Authorization": f"Bearer {token or self.admin}"}
        transport = WebsocketsTransport(
            url=self.ws_url, subprotocols=[protocol], init_payload=payload
        )
        return Client(transport=transport)


def settings_for(db: Database, redis_url: str, redis_prefix: str, **extra: Any) -> Settings:
    url = make_url(db.url)
    common: dict[str, Any] = {**TEST_AUTH, **extra}
    if url.get_backend_name() == "sqlite":  # the embedded default: in-memory bus
        assert url.database is not None
        return Settings(database_url=None, sqlite_path=Path(url.database), **common)
    return Settings(database_url=db.url, redis_url=redis_url, redis_prefix=redis_prefix, **common)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done())
        assert server.started, "the server did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        expected = InMemoryBus if settings.redis_url is None else RedisBus
        assert isinstance(app.state.bus, expected)  # the mode under test
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
            live = Live(url, app, http)
            live.admin = await live.user("admin", "admin")
            await live.graphql(
                "mutation D($d: JSON!) { deployDefinition(definition: $d) { __typename } }",
                {"d": REVIEW},
            )
            yield live
            # every feed that ended, or whose client left, gave its hub subscription back
            await until(lambda: live.hub.subscribers == 0)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def subscribed(session: Any, request: GraphQLRequest) -> AsyncIterator[Any]:
    """A subscription closed when the block ends (an abandoned one holds the client's close
    for its whole close_timeout)."""
    stream = session.subscribe(request)
    try:
        yield stream
    finally:
        await stream.aclose()


async def take(stream: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(WAIT):
        return [await anext(stream) for _ in range(count)]


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything until the server completes the stream."""
    async with asyncio.timeout(WAIT):
        return [item async for item in stream]
