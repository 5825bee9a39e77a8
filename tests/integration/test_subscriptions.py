"""GraphQL subscriptions end to end: a real uvicorn server of ``create_app`` on a free port, and
a real websocket client (``gql``), using the frontend contract's operation documents.

Two modes, one code path: the embedded default (SQLite, in-memory bus: test id ``[sqlite]``)
and production (PostgreSQL with the Redis bus: ``[postgresql]``). Both protocols are tested:
graphql-transport-ws (forced: gql offers the legacy protocol first) and the legacy graphql-ws.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import make_url
from starlette.applications import Starlette

from server.app import create_app
from server.bus import Hub, InMemoryBus
from server.db import Database
from server.redis_bus import RedisBus
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
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
    document = gql((OPERATIONS / f"{name}.graphql").read_text())
    return GraphQLRequest(document, variable_values=variables)


@dataclass
class Live:
    """The running server: its URL, its app, and an HTTP client for mutations and queries."""

    url: str
    app: Starlette
    http: httpx.AsyncClient

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.bus.hub
        return hub

    async def graphql(self, query: str, variables: dict[str, Any], user: str = "alice") -> Any:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"x-user": user, "x-user-groups": "managers"},
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

    async def complete(self, instance_id: int, user: str) -> None:
        task_id = await self.open_task(instance_id)
        data = await self.graphql(
            "mutation C($id: Int!) { completeTask(id: $id) { __typename } }", {"id": task_id}, user
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
        *,
        protocol: str = TRANSPORT_WS,
        user: str | None = "alice",
        groups: str = "managers",
        init_payload: dict[str, Any] | None = None,
    ) -> Client:
        headers = {} if user is None else {"X-User": user, "X-User-Groups": groups}
        transport = WebsocketsTransport(
            url=self.url.replace("http", "ws") + "/graphql",
            subprotocols=[protocol],
            headers=headers,
            init_payload=init_payload or {},
        )
        return Client(transport=transport)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


def settings_for(db: Database, redis_url: str, redis_prefix: str) -> Settings:
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":  # the embedded default: in-memory bus
        assert url.database is not None
        return Settings(database_url=None, sqlite_path=Path(url.database))
    return Settings(database_url=db.url, redis_url=redis_url, redis_prefix=redis_prefix)


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


@pytest.fixture
async def live(migrated_db: Database, redis_url: str, redis_prefix: str) -> AsyncIterator[Live]:
    async with serve(settings_for(migrated_db, redis_url, redis_prefix)) as running:
        yield running


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


# --- one instance's events ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_instance_events_replay_then_live_then_end(live: Live, protocol: str) -> None:
    instance_id = await live.start("alice")
    async with live.client(protocol=protocol) as session:
        stream = session.subscribe(operation("InstanceEvents", {"instanceId": instance_id}))
        replayed = await take(stream, len(await live.history(instance_id)))
        await live.complete(instance_id, "alice")
        rest = await collect(stream)  # completes: the instance ended
    events = [e["instanceEvents"] for e in [*replayed, *rest]]
    assert [e["seq"] for e in events] == await live.history(instance_id)
    assert {e["instanceId"] for e in events} == {instance_id}
    assert rest, "the completion arrived live"
    assert any(e["type"] == "task_completed" and e["actor"] == "alice" for e in events)


async def test_resuming_with_a_cursor_gets_exactly_the_missed_events(live: Live) -> None:
    instance_id = await live.start("alice")
    request = operation("InstanceEvents", {"instanceId": instance_id})
    async with live.client() as session, subscribed(session, request) as stream:
        first = [e["instanceEvents"]["seq"] for e in await take(stream, 2)]
    assert first == [1, 2]

    await live.complete(instance_id, "alice")  # while nobody listens

    async with live.client() as session:
        stream = session.subscribe(
            operation("InstanceEvents", {"instanceId": instance_id, "afterSeq": first[-1]})
        )
        resumed = [e["instanceEvents"]["seq"] for e in await collect(stream)]
    assert [*first, *resumed] == await live.history(instance_id)  # no gap, no duplicate


async def test_after_a_gap_the_feed_reads_the_history_again(live: Live) -> None:
    """The bus lost a message (Redis restarted under the reader): the hub says GAP, and the
    feed replays from the last event it delivered."""
    instance_id = await live.start("alice")
    hub = live.hub
    dropped: list[object] = []
    request = operation("InstanceEvents", {"instanceId": instance_id})
    async with live.client() as session, subscribed(session, request) as stream:
        replayed = await take(stream, len(await live.history(instance_id)))
        hub.deliver = dropped.extend  # type: ignore[method-assign,assignment]  # lose the next
        try:
            await live.complete(instance_id, "alice")
            await until(lambda: bool(dropped))
        finally:
            del hub.deliver  # the class's method again
        hub.gap()
        rest = await collect(stream)
    seqs = [e["instanceEvents"]["seq"] for e in [*replayed, *rest]]
    assert rest and seqs == await live.history(instance_id)


async def test_an_unknown_instance_is_a_clear_error(live: Live) -> None:
    async with live.client() as session:
        with pytest.raises(TransportQueryError) as raised:
            await collect(session.subscribe(operation("InstanceEvents", {"instanceId": 999_999})))
    [error] = raised.value.errors or []
    assert error["extensions"]["code"] == "not_found"
    assert "999999" in error["message"]


# --- tasks: only what the user may see ----------------------------------------------------------


async def test_a_user_receives_only_the_tasks_they_may_see(live: Live) -> None:
    async with (
        live.client(user="alice") as alice,
        # no headers: the user comes from connection_init, as a browser sends it
        live.client(user=None, init_payload={"X-User": "bob", "X-User-Groups": "clerks"}) as bob,
        subscribed(alice, operation("TaskChanges")) as alice_feed,
        subscribed(bob, operation("TaskChanges")) as bob_feed,
    ):
        alice_next = asyncio.ensure_future(anext(alice_feed))
        bob_next = asyncio.ensure_future(anext(bob_feed))
        await live.until_subscribers(2)

        for_alice = await live.start("alice")
        for_bob = await live.start("bob")  # bob's first task change must be this one's

        async with asyncio.timeout(WAIT):
            seen_by_alice = (await alice_next)["taskChanges"]
            seen_by_bob = (await bob_next)["taskChanges"]
    assert (seen_by_alice["instanceId"], seen_by_alice["assignee"]) == (for_alice, "alice")
    assert (seen_by_bob["instanceId"], seen_by_bob["assignee"]) == (for_bob, "bob")
    assert seen_by_bob["visible"] and seen_by_bob["seq"] is not None


async def test_task_changes_need_a_user(live: Live) -> None:
    async with live.client(user=None) as session:
        with pytest.raises(TransportQueryError) as raised:
            await collect(session.subscribe(operation("TaskChanges")))
    assert (raised.value.errors or [{}])[0]["extensions"]["code"] == "no_current_user"


# --- instances matching a filter ------------------------------------------------------------------


async def test_instance_changes_resume_with_the_current_state(live: Live) -> None:
    where = {"filter": {"definitionKey": "review"}}
    async with (
        live.client() as session,
        subscribed(session, operation("InstanceChanges", where)) as stream,
    ):
        next_change = asyncio.ensure_future(anext(stream))
        await live.until_subscribers(1)
        instance_id = await live.start("alice", business_key="B-1")
        async with asyncio.timeout(WAIT):
            change = (await next_change)["instanceChanges"]
    assert (change["instanceId"], change["status"], change["businessKey"]) == (
        instance_id,
        "RUNNING",
        "B-1",
    )

    await live.complete(instance_id, "alice")  # while nobody listens

    request = operation("InstanceChanges", {**where, "after": change["cursor"]})
    async with live.client() as session, subscribed(session, request) as stream:
        [resumed] = await take(stream, 1)
    assert resumed["instanceChanges"]["instanceId"] == instance_id
    assert resumed["instanceChanges"]["status"] == "COMPLETED"
    assert int(resumed["instanceChanges"]["cursor"]) > int(change["cursor"])


async def test_a_cursor_this_api_did_not_give_out_is_refused(live: Live) -> None:
    async with live.client() as session:
        with pytest.raises(TransportQueryError) as raised:
            await collect(session.subscribe(operation("InstanceChanges", {"after": "x1"})))
    assert (raised.value.errors or [{}])[0]["extensions"]["code"] == "invalid_cursor"


# --- dashboard counters -------------------------------------------------------------------------


def _review(snapshot: dict[str, Any]) -> dict[str, Any]:
    counters = snapshot["dashboardCounters"]
    found = [d for d in counters["definitions"] if d["definitionKey"] == "review"]
    return {"openTasks": counters["openTasks"], **(found[0] if found else {"active": 0})}


async def test_dashboard_counters_start_with_a_snapshot_and_follow_changes(live: Live) -> None:
    request = operation("DashboardCounters")
    async with (
        live.client() as one,
        live.client() as two,
        subscribed(one, request) as first,
        subscribed(two, request) as second,
    ):
        [a] = await take(first, 1)
        [b] = await take(second, 1)
        assert _review(a) == _review(b) == {"openTasks": 0, "active": 0}

        await live.start("alice")

        async def until_counted(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
            async with asyncio.timeout(WAIT):
                async for snapshot in stream:
                    if _review(snapshot)["active"] == 1:
                        return _review(snapshot)
            raise AssertionError("the stream ended")

        assert (await until_counted(first))["openTasks"] == 1
        assert (await until_counted(second))["openTasks"] == 1
        feed = live.app.state.counters
        assert feed.queries <= 3  # shared by both subscribers: not one query per subscriber
