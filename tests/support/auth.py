"""Authentication for tests: a signing secret, users with a role, bearer headers.

Apps built by tests sign with ``SECRET`` (``TEST_AUTH`` merges into their Settings); a test
creates a user through ``server.auth.users`` and logs in through the app's own AuthService (or
over HTTP for a server in another process), as a client would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import SecretStr

from server.auth.passwords import Passwords
from server.auth.roles import Principal, Role
from server.auth.sessions import AuthService
from server.auth.users import Users
from server.db import Database
from server.services.errors import Conflict
from server.settings import async_url

SECRET = "tests-only-signing-secret-0123456789abcdef"  # HS256: at least 32 bytes
PASSWORD = "correct horse battery staple"
TEST_AUTH: dict[str, Any] = {"jwt_secret": SecretStr(SECRET)}  # Settings(**TEST_AUTH, ...)
ENV = {"JWT_SECRET": SECRET}  # the same, for a server in a subprocess


def principal(username: str = "alice", *roles: str, groups: Iterable[str] = ()) -> Principal:
    """A principal for ``schema.execute`` tests (admin unless roles are given)."""
    return Principal(
        user_id=None,
        username=username,
        roles=frozenset(Role(r) for r in roles or ("admin",)),
        groups=frozenset(groups),
    )


async def ensure_user(
    users: Users, username: str, roles: Iterable[str], groups: Iterable[str] = ()
) -> None:
    try:
        await users.create(username, PASSWORD, list(roles), groups=list(groups))
    except Conflict:
        pass  # made by an earlier call of the same test


async def bearer_headers(
    auth: AuthService,
    username: str = "alice",
    *roles: str,
    groups: Iterable[str] = (),
) -> dict[str, str]:
    """``Authorization`` for a user of the role(s) (admin unless given), made if missing."""
    await ensure_user(auth.users, username, roles or ("admin",), groups)
    session = await auth.login(username, PASSWORD)
    return {"Authorization": f"Bearer {session.access_token}"}


async def create_user(db_url: str, username: str, *roles: str, groups: Iterable[str] = ()) -> None:
    """A user in the database at ``db_url`` (for a server running in another process)."""
    db = Database(async_url(db_url))
    try:
        await ensure_user(Users(db, Passwords()), username, roles or ("admin",), groups)
    finally:
        await db.close()


async def http_login(client: httpx.AsyncClient, username: str = "alice") -> dict[str, str]:
    """Log in over HTTP (``POST /api/v1/auth/login``); the bearer headers."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def http_login_sync(base_url: str, username: str = "alice") -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
