"""The authentication service on both databases: login, refresh rotation and reuse detection,
logout, disabling, and failed-login throttling in memory and on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import redis.asyncio as aioredis
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import event
from sqlmodel import col, select

from server.auth.errors import AuthError
from server.auth.passwords import Passwords
from server.auth.roles import Permission, Role, can
from server.auth.sessions import AuthService
from server.auth.throttle import LoginThrottle, MemoryThrottle, RedisThrottle, ThrottleLimits
from server.auth.tokens import AccessTokens, SigningKey
from server.db import Database
from server.models import RefreshToken, User
from server.services.errors import Conflict, InvalidInput, NotFound

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

CHEAP = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1)
LIMITS = ThrottleLimits(per_user=3, per_address=5, window_seconds=60)
PASSWORD = "correct horse battery"


class Clock:
    """One fake time for tokens, rows, caches and the throttle."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 28, 9, 0, tzinfo=UTC).timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def time(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_service(
    db: Database,
    clock: Clock,
    *,
    throttle: LoginThrottle | None = None,
    cache_seconds: float = 0.0,
    passwords: Passwords | None = None,
) -> AuthService:
    tokens = AccessTokens(
        SigningKey.hs256("k" * 40),
        issuer="workflow-engine",
        audience="workflow-engine",
        ttl=timedelta(minutes=15),
        clock=clock.time,
    )
    return AuthService(
        db,
        tokens,
        throttle or MemoryThrottle(LIMITS, clock=clock.time),
        passwords=passwords or Passwords(CHEAP),
        refresh_ttl=timedelta(days=14),
        revocation_cache_seconds=cache_seconds,
        now=clock.now,
        monotonic=clock.time,
    )


@pytest.fixture
def auth(migrated_db: Database, clock: Clock) -> AuthService:
    return make_service(migrated_db, clock)


async def alice(auth: AuthService, *roles: str) -> None:
    await auth.users.create("alice", PASSWORD, roles or ["operator"], groups=["clerks"])


async def rejected(call: Callable[[], Awaitable[object]]) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await call()
    return caught.value


async def test_login_gives_tokens_that_authenticate_the_user(auth: AuthService) -> None:
    await alice(auth)

    session = await auth.login("alice", PASSWORD, address="10.0.0.1")
    claims = await auth.authenticate(session.access_token)

    principal = claims.principal
    assert principal.username == "alice"
    assert principal.roles == frozenset({Role.OPERATOR})
    assert principal.groups == frozenset({"clerks"})
    assert can(principal, Permission.TASKS_SEE_ALL)
    assert session.principal == principal
    async with auth.db.reading() as db:
        (row,) = (await db.exec(select(RefreshToken))).all()
    assert row.token_hash != session.refresh_token and len(row.token_hash) == 64  # hashed


async def test_unknown_user_wrong_password_and_disabled_user_fail_alike(
    auth: AuthService,
) -> None:
    await alice(auth)
    await auth.users.create("bob", PASSWORD, ["user"])
    await auth.users.disable("bob")

    errors = [
        await rejected(lambda: auth.login("alice", "wrong password")),
        await rejected(lambda: auth.login("nobody", PASSWORD)),
        await rejected(lambda: auth.login("bob", PASSWORD)),
        await rejected(lambda: auth.login("alice", "")),
    ]

    assert {(e.code, e.message, e.status) for e in errors} == {
        ("invalid_credentials", "wrong username or password", 401)
    }


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    auth: AuthService, clock: Clock
) -> None:
    await alice(auth)
    first = await auth.login("alice", PASSWORD)
    clock.advance(60)

    second = await auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (await auth.authenticate(second.access_token)).principal.username == "alice"
    third = await auth.refresh(second.refresh_token)

    reused = await rejected(lambda: auth.refresh(first.refresh_token))

    assert reused.code == "token_reused"
    # the whole family is revoked: the newest refresh token and the access tokens too
    assert (await rejected(lambda: auth.refresh(third.refresh_token))).code == "token_revoked"
    for token in (second.access_token, third.access_token):
        assert (await rejected(partial(auth.authenticate, token))).code == "token_revoked"
    async with auth.db.reading() as db:
        rows = (await db.exec(select(RefreshToken).order_by(col(RefreshToken.id)))).all()
    assert [row.replaced_by for row in rows] == [rows[1].id, rows[2].id, None]
    assert all(row.revoked_at is not None for row in rows)


async def test_reuse_ends_only_that_session(auth: AuthService) -> None:
    await alice(auth)
    laptop, phone = await auth.login("alice", PASSWORD), await auth.login("alice", PASSWORD)
    await auth.refresh(laptop.refresh_token)

    await rejected(lambda: auth.refresh(laptop.refresh_token))

    assert (await auth.authenticate(phone.access_token)).principal.username == "alice"
    assert await auth.refresh(phone.refresh_token)


async def test_unknown_and_expired_refresh_tokens_are_refused(
    auth: AuthService, clock: Clock
) -> None:
    await alice(auth)
    session = await auth.login("alice", PASSWORD)

    assert (await rejected(lambda: auth.refresh("made-up"))).code == "invalid_token"
    clock.advance(timedelta(days=14, seconds=1).total_seconds())
    assert (await rejected(lambda: auth.refresh(session.refresh_token))).code == "token_expired"


async def test_logout_revokes_the_session_and_its_access_tokens(auth: AuthService) -> None:
    await alice(auth)
    session, other = await auth.login("alice", PASSWORD), await auth.login("alice", PASSWORD)

    await auth.logout(session.refresh_token)
    await auth.logout(session.refresh_token)  # twice, or an unknown token: nothing to do
    await auth.logout("made-up")

    assert (await rejected(lambda: auth.refresh(session.refresh_token))).code == "token_revoked"
    error = await rejected(lambda: auth.authenticate(session.access_token))
    assert (error.code, error.message) == ("token_revoked", "the session has ended: log in again")
    assert await auth.authenticate(other.access_token)  # another session goes on

    await auth.end_session((await auth.authenticate(other.access_token)).principal)
    assert (await rejected(lambda: auth.authenticate(other.access_token))).code == "token_revoked"


async def test_disabling_a_user_revokes_every_token_at_once(auth: AuthService) -> None:
    await alice(auth)
    session = await auth.login("alice", PASSWORD)
    claims = await auth.authenticate(session.access_token)

    info = await auth.users.disable("alice")

    assert info.disabled
    assert (await rejected(lambda: auth.revalidate(claims))).code == "token_revoked"
    assert (await rejected(lambda: auth.refresh(session.refresh_token))).code == "token_revoked"
    assert (await rejected(lambda: auth.login("alice", PASSWORD))).code == "invalid_credentials"

    await auth.users.enable("alice")
    assert (await rejected(lambda: auth.revalidate(claims))).code == "token_revoked"  # old stays
    assert await auth.authenticate((await auth.login("alice", PASSWORD)).access_token)


async def test_another_process_sees_a_revocation_within_its_cache_period(
    migrated_db: Database, clock: Clock
) -> None:
    here = make_service(migrated_db, clock, cache_seconds=5)
    there = make_service(migrated_db, clock, cache_seconds=5)
    await alice(here)
    session = await here.login("alice", PASSWORD)
    assert await there.authenticate(session.access_token)  # cached there now

    await here.users.disable("alice")

    assert (await rejected(lambda: here.authenticate(session.access_token))).code == (
        "token_revoked"
    )
    assert await there.authenticate(session.access_token)  # still within its 5 seconds
    clock.advance(5.1)
    assert (await rejected(lambda: there.authenticate(session.access_token))).code == (
        "token_revoked"
    )


async def test_sockets_of_one_session_that_miss_the_cache_together_share_one_read(
    migrated_db: Database, clock: Clock
) -> None:
    # 10,000 websockets of one session wake every few seconds at once: one read, not 10,000
    auth = make_service(migrated_db, clock, cache_seconds=5)
    await alice(auth)
    claims = await auth.authenticate((await auth.login("alice", PASSWORD)).access_token)
    clock.advance(5.1)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sync_engine = migrated_db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(auth.revalidate(claims) for _ in range(200)))
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert sum("FROM users" in s for s in statements) == 1, statements

    await auth.users.disable("alice")  # forgets what this process read or is reading
    assert (await rejected(lambda: auth.revalidate(claims))).code == "token_revoked"


async def test_a_new_password_ends_every_session(auth: AuthService) -> None:
    await alice(auth)
    session = await auth.login("alice", PASSWORD)

    await auth.users.set_password("alice", "another long password")

    assert (await rejected(lambda: auth.authenticate(session.access_token))).code == (
        "token_revoked"
    )
    assert (await rejected(lambda: auth.login("alice", PASSWORD))).code == "invalid_credentials"
    assert await auth.login("alice", "another long password")


async def test_an_expired_access_token_fails_revalidation(auth: AuthService, clock: Clock) -> None:
    await alice(auth)
    claims = await auth.authenticate((await auth.login("alice", PASSWORD)).access_token)
    clock.advance(15 * 60)

    assert (await rejected(lambda: auth.revalidate(claims))).code == "token_expired"


async def test_a_hash_with_older_parameters_is_upgraded_at_login(
    migrated_db: Database, clock: Clock
) -> None:
    await alice(make_service(migrated_db, clock))
    stronger = Passwords(Argon2Hasher(time_cost=2, memory_cost=8192, parallelism=1))

    await make_service(migrated_db, clock, passwords=stronger).login("alice", PASSWORD)

    async with migrated_db.reading() as db:
        user = (await db.exec(select(User))).one()
    assert user.password_hash is not None and "t=2" in user.password_hash


async def test_users_are_validated_unique_and_listed(auth: AuthService) -> None:
    await alice(auth, "admin", "designer")

    with pytest.raises(Conflict):
        await auth.users.create("alice", PASSWORD, ["user"])
    with pytest.raises(InvalidInput) as invalid:
        await auth.users.create(" bad name", "short", ["root", "user"], groups=["a,b"])
    with pytest.raises(NotFound):
        await auth.users.disable("nobody")

    assert {p.code for p in invalid.value.problems} == {
        "invalid_username",
        "weak_password",
        "unknown_role",
        "invalid_group",
    }
    (listed,) = await auth.users.list()
    assert (listed.username, listed.roles, listed.disabled) == (
        "alice",
        ("admin", "designer"),
        False,
    )


# --- throttling -------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def throttle_redis(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """None for the in-memory throttle, else (redis_url, redis_prefix). (A sync fixture: an
    async one cannot ask for the async Redis fixtures by name.)"""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def throttle(
    throttle_redis: tuple[str, str] | None, clock: Clock
) -> AsyncIterator[MemoryThrottle | RedisThrottle]:
    if throttle_redis is None:
        yield MemoryThrottle(LIMITS, clock=clock.time)
        return
    url, prefix = throttle_redis
    client = aioredis.Redis.from_url(url)
    try:
        yield RedisThrottle(client, prefix, LIMITS, clock=clock.time)
    finally:
        await client.aclose()


async def test_failed_logins_lock_the_username_for_the_window(
    migrated_db: Database, clock: Clock, throttle: LoginThrottle
) -> None:
    auth = make_service(migrated_db, clock, throttle=throttle)
    await alice(auth)
    for _ in range(LIMITS.per_user):
        await rejected(lambda: auth.login("alice", "guess", address="10.0.0.1"))
        clock.advance(1)

    locked = await rejected(lambda: auth.login("alice", PASSWORD, address="10.0.0.2"))

    assert (locked.code, locked.status, locked.retry_after) == ("too_many_attempts", 429, 57)
    assert locked.message == "too many failed logins: try again in 57 seconds"
    clock.advance(56)
    assert (await rejected(lambda: auth.login("alice", PASSWORD))).code == "too_many_attempts"
    clock.advance(1)
    assert await auth.login("alice", PASSWORD)  # the oldest failure left the window


async def test_failed_logins_lock_the_address_for_every_username(
    migrated_db: Database, clock: Clock, throttle: LoginThrottle
) -> None:
    auth = make_service(migrated_db, clock, throttle=throttle)
    await alice(auth)
    for n in range(LIMITS.per_address):
        await rejected(partial(auth.login, f"user{n}", "guess", address="10.0.0.9"))

    locked = await rejected(lambda: auth.login("alice", PASSWORD, address="10.0.0.9"))

    assert locked.code == "too_many_attempts" and locked.retry_after == 60
    assert await auth.login("alice", PASSWORD, address="10.0.0.10")


async def test_a_success_clears_the_username_but_not_the_address(
    migrated_db: Database, clock: Clock, throttle: LoginThrottle
) -> None:
    auth = make_service(migrated_db, clock, throttle=throttle)
    await alice(auth)
    for _ in range(LIMITS.per_user - 1):
        await rejected(lambda: auth.login("alice", "guess", address="10.0.0.1"))
    await auth.login("alice", PASSWORD, address="10.0.0.1")
    for _ in range(LIMITS.per_user - 1):
        await rejected(lambda: auth.login("alice", "guess", address="10.0.0.1"))

    assert await auth.login("alice", PASSWORD, address="10.0.0.2")  # username not locked
    # but the address counted all (per_user - 1) * 2 failures + this one
    await rejected(lambda: auth.login("alice", "guess", address="10.0.0.1"))
    locked = await rejected(lambda: auth.login("alice", PASSWORD, address="10.0.0.1"))
    assert locked.code == "too_many_attempts"
