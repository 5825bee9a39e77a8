"""GraphQL subscriptions end to end: a real uvicorn server of ``create_app`` on a free port, and
a real websocket client (``gql``) authenticated in connection_init, using the frontend
contract's operation documents. Authentication itself: test_ws_auth.py.

Two modes, one code path: the embedded default (SQLite, in-memory bus: test id ``[sqlite]``)
and production (PostgreSQL with the Redis bus: ``[postgresql]``). Both protocols are tested:
graphql-transport-ws (forced: gql offers the legacy protocol first) and the legacy graphql-ws.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError
from support.live_server import (
    LEGACY_WS,
    TRANSPORT_WS,
    WAIT,
    Live,
    collect,
    operation,
    serve,
    settings_for,
    subscribed,
    take,
    until,
)

from server.db import Database

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def live(migrated_db: Database, redis_url: str, redis_prefix: str) -> AsyncIterator[Live]:
    async with serve(settings_for(migrated_db, redis_url, redis_prefix)) as running:
        yield running


# --- one instance's events ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_instance_events_replay_then_live_then_end(live: Live, protocol: str) -> None:
    instance_id = await live.start("admin")
    async with live.client(protocol=protocol) as session:
        stream = session.subscribe(operation("InstanceEvents", {"instanceId": instance_id}))
        replayed = await take(stream, len(await live.history(instance_id)))
        await live.complete(instance_id)
        rest = await collect(stream)  # completes: the instance ended
    events = [e["instanceEvents"] for e in [*replayed, *rest]]
    assert [e["seq"] for e in events] == await live.history(instance_id)
    assert {e["instanceId"] for e in events} == {instance_id}
    assert rest, "the completion arrived live"
    assert any(e["type"] == "task_completed" and e["actor"] == "admin" for e in events)


async def test_resuming_with_a_cursor_gets_exactly_the_missed_events(live: Live) -> None:
    instance_id = await live.start("admin")
    request = operation("InstanceEvents", {"instanceId": instance_id})
    async with live.client() as session, subscribed(session, request) as stream:
        first = [e["instanceEvents"]["seq"] for e in await take(stream, 2)]
    assert first == [1, 2]

    await live.complete(instance_id)  # while nobody listens

    async with live.client() as session:
        stream = session.subscribe(
            operation("InstanceEvents", {"instanceId": instance_id, "afterSeq": first[-1]})
        )
        resumed = [e["instanceEvents"]["seq"] for e in await collect(stream)]
    assert [*first, *resumed] == await live.history(instance_id)  # no gap, no duplicate


async def test_after_a_gap_the_feed_reads_the_history_again(live: Live) -> None:
    """The bus lost a message (Redis restarted under the reader): the hub says GAP, and the
    feed replays from the last event it delivered."""
    instance_id = await live.start("admin")
    hub = live.hub
    dropped: list[object] = []
    request = operation("InstanceEvents", {"instanceId": instance_id})
    async with live.client() as session, subscribed(session, request) as stream:
        replayed = await take(stream, len(await live.history(instance_id)))
        hub.deliver = dropped.extend  # type: ignore[method-assign,assignment]  # lose the next
        try:
            await live.complete(instance_id)
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
    alice_token = await live.user("alice")
    bob_token = await live.user("bob", groups=("clerks",))
    async with (
        live.client(alice_token) as alice,
        live.client(bob_token, protocol=LEGACY_WS) as bob,
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


# --- instances matching a filter ------------------------------------------------------------------


async def test_instance_changes_resume_with_the_current_state(live: Live) -> None:
    where = {"filter": {"definitionKey": "review"}}
    async with (
        live.client() as session,
        subscribed(session, operation("InstanceChanges", where)) as stream,
    ):
        next_change = asyncio.ensure_future(anext(stream))
        await live.until_subscribers(1)
        instance_id = await live.start("admin", business_key="B-1")
        async with asyncio.timeout(WAIT):
            change = (await next_change)["instanceChanges"]
    assert (change["instanceId"], change["status"], change["businessKey"]) == (
        instance_id,
        "RUNNING",
        "B-1",
    )

    await live.complete(instance_id)  # while nobody listens

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

        await live.start("admin")

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
