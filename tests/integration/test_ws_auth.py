"""Websocket authentication end to end, on both protocols (graphql-transport-ws and the legacy
graphql-ws) and both modes: the handshake's Origin check, the token of connection_init, the
socket closed (4403) when its token expires or its user is disabled, and taskChanges
delivering only what the subscriber may see.

Refusals are read with a raw ``websockets`` client (the close code and the legacy
``connection_error`` are the point); the feeds with ``gql``, as a frontend would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from gql.transport.exceptions import TransportQueryError
from support.live_server import (
    LEGACY_WS,
    TRANSPORT_WS,
    WAIT,
    Live,
    operation,
    serve,
    settings_for,
    subscribed,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from server.auth import websocket as ws_auth
from server.auth.tokens import AccessTokens
from server.db import Database

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
PROTOCOLS = pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
ALLOWED = "https://app.example.com"


@pytest.fixture
async def live(migrated_db: Database, redis_url: str, redis_prefix: str) -> AsyncIterator[Live]:
    settings = settings_for(migrated_db, redis_url, redis_prefix, allowed_origins=[ALLOWED])
    async with serve(settings) as running:
        yield running


@dataclass
class Outcome:
    """What the server did with a connection_init: the messages it sent, then how it closed
    (``code`` None: still open when we stopped listening)."""

    messages: list[dict[str, Any]]
    code: int | None
    reason: str = ""

    @property
    def acknowledged(self) -> bool:
        return any(m["type"] == "connection_ack" for m in self.messages)

    @property
    def rejected(self) -> bool:
        """Refused as each protocol refuses: 4403 (graphql-transport-ws); connection_error and
        a close (graphql-ws, strawberry closes it with 1011)."""
        legacy_error = any(m["type"] == "connection_error" for m in self.messages)
        return not self.acknowledged and (self.code == 4403 or (legacy_error and bool(self.code)))

    @property
    def error_code(self) -> str | None:
        for message in self.messages:
            if message["type"] == "connection_error":
                code: str = message["payload"]["code"]
                return code
        return None


async def _read(socket: ClientConnection, outcome: Outcome, *, until_closed: bool) -> None:
    try:
        async for raw in socket:
            outcome.messages.append(json.loads(raw))
            if outcome.acknowledged and not until_closed:
                return
    except ConnectionClosed:
        pass
    outcome.code, outcome.reason = socket.close_code, socket.close_reason or ""


async def init(live: Live, protocol: str, payload: dict[str, Any], **options: Any) -> Outcome:
    """Open a socket, send connection_init with ``payload``: acknowledged, or refused."""
    outcome = Outcome([], None)
    async with (
        asyncio.timeout(WAIT),
        connect(live.ws_url, subprotocols=[Subprotocol(protocol)], **options) as socket,
    ):
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        await _read(socket, outcome, until_closed=False)
    return outcome


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}


async def token_lasting(live: Live, token: str, ttl: timedelta) -> str:
    """A token of the same user and session as ``token``, living ``ttl`` (negative: expired
    already), signed with the server's key."""
    claims = await live.auth.authenticate(token)
    principal, issuer = claims.principal, live.auth.tokens
    assert principal.user_id is not None and principal.session_id is not None
    assert claims.token_version is not None
    short = AccessTokens(issuer.key, issuer=issuer.issuer, audience=issuer.audience, ttl=ttl)
    return short.issue(
        user_id=principal.user_id,
        username=principal.username,
        roles=principal.roles,
        groups=principal.groups,
        session_id=principal.session_id,
        token_version=claims.token_version,
    ).token


# --- connection_init ------------------------------------------------------------------------


@PROTOCOLS
async def test_a_valid_token_is_acknowledged_under_every_key(live: Live, protocol: str) -> None:
    for payload in (
        bearer(live.admin),
        {"authorization": f"bearer {live.admin}"},
        {"authToken": live.admin},
        {"token": f"Bearer {live.admin}"},
    ):
        assert (await init(live, protocol, payload)).acknowledged, payload


@PROTOCOLS
async def test_no_token_is_refused(live: Live, protocol: str) -> None:
    for payload in ({}, {"X-User": "admin"}, {"Authorization": f"Basic {live.admin}"}):
        outcome = await init(live, protocol, payload)
        assert outcome.rejected, (payload, outcome)
        if protocol == LEGACY_WS:
            assert outcome.error_code == "unauthenticated"


@PROTOCOLS
async def test_a_bad_or_expired_token_is_refused(live: Live, protocol: str) -> None:
    forged = live.admin[:-4] + ("AAAA" if not live.admin.endswith("AAAA") else "BBBB")
    expired = await token_lasting(live, live.admin, timedelta(minutes=-5))
    for token, code in ((forged, "invalid_token"), ("x.y.z", "invalid_token"), (expired, None)):
        outcome = await init(live, protocol, bearer(token))
        assert outcome.rejected, (token, outcome)
        if protocol == LEGACY_WS:
            assert outcome.error_code == (code or "token_expired")


async def test_a_second_connection_init_cannot_switch_users(live: Live) -> None:
    """The legacy protocol accepts connection_init twice: a second token would change whom
    the open socket acts for; it is refused, and the socket closed."""
    other = await live.user("alice")
    async with connect(live.ws_url, subprotocols=[Subprotocol(LEGACY_WS)]) as socket:
        for token in (live.admin, other):
            await socket.send(json.dumps({"type": "connection_init", "payload": bearer(token)}))
        outcome = await closed(socket)
    assert [m["type"] for m in outcome.messages] == ["connection_ack", "connection_error"]
    assert outcome.error_code == "already_initialised"


# --- the handshake's Origin -------------------------------------------------------------------


@PROTOCOLS
async def test_a_foreign_origin_is_refused_before_the_socket_opens(
    live: Live, protocol: str
) -> None:
    with pytest.raises(InvalidStatus) as raised:
        await init(live, protocol, bearer(live.admin), origin=Origin("https://evil.example"))
    assert raised.value.response.status_code == 403
    # the same token from an allowed page, or from a client that is not a browser: accepted
    assert (await init(live, protocol, bearer(live.admin), origin=Origin(ALLOWED))).acknowledged
    assert (await init(live, protocol, bearer(live.admin))).acknowledged


# --- while the socket is open ---------------------------------------------------------------


async def subscribed_socket(live: Live, protocol: str, token: str) -> ClientConnection:
    """An authenticated socket running taskChanges (so a feed is live when it is closed)."""
    socket = await connect(live.ws_url, subprotocols=[Subprotocol(protocol)])
    await socket.send(json.dumps({"type": "connection_init", "payload": bearer(token)}))
    ack = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
    assert ack["type"] == "connection_ack", ack
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    query = "subscription { taskChanges { id } }"
    await socket.send(json.dumps({"id": "1", "type": kind, "payload": {"query": query}}))
    await live.until_subscribers(1)
    return socket


async def closed(socket: ClientConnection) -> Outcome:
    outcome = Outcome([], None)
    async with asyncio.timeout(WAIT):
        await _read(socket, outcome, until_closed=True)
    return outcome


@PROTOCOLS
async def test_the_socket_closes_when_its_token_expires(live: Live, protocol: str) -> None:
    token = await live.user("alice")
    short = await token_lasting(live, token, timedelta(seconds=3))
    socket = await subscribed_socket(live, protocol, short)
    outcome = await closed(socket)
    assert (outcome.code, outcome.reason) == (4403, "the token has expired")


@PROTOCOLS
async def test_the_socket_closes_when_its_user_is_disabled(
    live: Live, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_auth, "CHECK_SECONDS", 0.2)  # the check's period, shortened
    token = await live.user("alice")  # 15 minutes: only the revalidation can close it
    socket = await subscribed_socket(live, protocol, token)
    await live.auth.users.disable("alice")
    outcome = await closed(socket)
    assert (outcome.code, outcome.reason) == (4403, "the session has ended: log in again")


async def test_the_socket_closes_when_its_session_logs_out(live: Live) -> None:
    token = await live.user("alice")
    socket = await subscribed_socket(live, TRANSPORT_WS, token)
    principal = (await live.auth.authenticate(token)).principal
    await live.auth.end_session(principal)
    assert (await closed(socket)).code == 4403


# --- what a subscriber receives -----------------------------------------------------------------


async def test_user_a_never_receives_user_b_task_events(live: Live) -> None:
    alice = await live.user("alice")
    bob = await live.user("bob", groups=("clerks",))
    operator = await live.user("olga", "operator")
    async with (
        live.client(alice) as alice_ws,
        live.client(operator, protocol=LEGACY_WS) as operator_ws,
        subscribed(alice_ws, operation("TaskChanges")) as alice_feed,
        subscribed(operator_ws, operation("TaskChanges")) as operator_feed,
    ):
        alice_next = asyncio.ensure_future(anext(alice_feed))
        operator_next = asyncio.ensure_future(anext(operator_feed))  # gql subscribes on first use
        await live.until_subscribers(2)

        for_bob = await live.start("bob")
        await live.complete(for_bob, bob)  # bob's task opens, then closes
        for_alice = await live.start("alice")  # published after all of bob's

        async with asyncio.timeout(WAIT):
            first = (await alice_next)["taskChanges"]
            seen_by_operator = [(await operator_next)["taskChanges"]]
            seen_by_operator += [(await anext(operator_feed))["taskChanges"] for _ in range(2)]
    # alice's first event is her own: bob's two changes, published before, never reached her
    assert (first["instanceId"], first["assignee"], first["visible"]) == (for_alice, "alice", True)
    # one who sees every task (tasks.see_all) got all three, in order
    assert [(t["instanceId"], t["status"]) for t in seen_by_operator] == [
        (for_bob, "open"),
        (for_bob, "completed"),
        (for_alice, "open"),
    ]


async def test_a_user_cannot_follow_an_instance_they_may_not_see(live: Live) -> None:
    alice = await live.user("alice")
    for_bob = await live.start("bob")
    async with live.client(alice) as session:
        with pytest.raises(TransportQueryError) as raised:
            stream = session.subscribe(operation("InstanceEvents", {"instanceId": for_bob}))
            async with asyncio.timeout(WAIT):
                await anext(stream)
    [error] = raised.value.errors or []
    # the row-level rule answers as for an unknown instance: nothing of bob's instance arrives
    assert cast(dict[str, Any], error)["extensions"]["code"] == "not_found"


async def test_a_user_follows_an_instance_where_they_hold_a_task(live: Live) -> None:
    alice = await live.user("alice")
    for_alice = await live.start("alice")  # started by the admin; alice's task is open in it
    async with live.client(alice) as session:
        stream = session.subscribe(operation("InstanceEvents", {"instanceId": for_alice}))
        async with asyncio.timeout(WAIT):
            first = await anext(stream)
    assert first["instanceEvents"]["instanceId"] == for_alice
    assert first["instanceEvents"]["seq"] == 1


async def test_dashboard_counters_need_a_role_that_sees_everything(live: Live) -> None:
    alice = await live.user("alice")
    async with live.client(alice) as session:
        with pytest.raises(TransportQueryError) as raised:
            async with asyncio.timeout(WAIT):
                await anext(session.subscribe(operation("DashboardCounters")))
    assert (raised.value.errors or [{}])[0]["extensions"]["code"] == "forbidden"
