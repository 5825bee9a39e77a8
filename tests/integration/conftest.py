"""Real databases for the integration tests: each test session gets its own fresh ones.

- ``sqlite_url``: a file in the session's temporary folder.
- ``postgres_url``: a database ``wf_test_<hex>`` created on the PostgreSQL server of
  ``TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``: host, port,
  user and password, and the database to connect to for CREATE DATABASE), dropped at the end.
  A server that cannot be reached skips those tests with a loud reason, or, when CI=true, fails
  them: CI never skips silently.
- ``database_url``: both of them, one after the other (test ids ``[sqlite]``, ``[postgresql]``).
- ``migrated_db``: a ``server.db.Database`` on that database migrated to head; its tables are
  emptied after each test, so that no test sees another's rows.
- ``empty_database_url``: a brand-new database of the same backend for one test, for tests that
  migrate from nothing.
- ``redis_url`` / ``redis_prefix``: the Redis server of ``TEST_REDIS_URL`` (default
  ``redis://127.0.0.1:6379/0``; unreachable: a loud skip, or under CI=true a failure) and a key
  prefix ``wft_<hex>`` of its own for each test, whose keys are deleted after it.

Async fixtures and tests run on anyio (asyncio); tests are marked ``@pytest.mark.anyio``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlmodel import SQLModel

import server.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from server import migrations
from server.db import Database
from server.settings import async_url

BACKENDS = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}  # test id: fixture
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CONNECT_TIMEOUT_SECONDS = 5


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Session-scoped, so that session fixtures and tests share one event loop."""
    return "asyncio"


def sqlite_file_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def postgres_server() -> URL:
    """The server to create test databases on; its database is the one to connect to."""
    url = make_url(async_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL))
    return url.set(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        username=url.username or "postgres",
        database=url.database or "postgres",
    )


async def _connect(server: URL) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        database=server.database,
        timeout=CONNECT_TIMEOUT_SECONDS,
    )


def _unreachable(server: URL, error: BaseException) -> NoReturn:
    where = f"{server.host}:{server.port} (user {server.username})"
    cause = f"{type(error).__name__}: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"PostgreSQL not reachable at {where} ({cause}). CI=true: the integration tests on "
            "PostgreSQL must run, never be skipped. Start PostgreSQL (.ci/run does) or set "
            "TEST_POSTGRES_URL.",
            pytrace=False,
        )
    pytest.skip(
        f"PostgreSQL not reachable at {where} ({cause}): integration tests on PostgreSQL "
        "SKIPPED — start it to run them (or set TEST_POSTGRES_URL)"
    )


@asynccontextmanager
async def fresh_postgres_database(server: URL) -> AsyncIterator[str]:
    """Create ``wf_test_<hex>``, yield its URL, drop it (closing any connection left open)."""
    name = f"wf_test_{secrets.token_hex(6)}"
    try:
        admin = await _connect(server)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        _unreachable(server, error)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await _connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_server()) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_file_url(tmp_path_factory.mktemp("sqlite") / "workflow-engine.db")


@pytest.fixture(scope="session", params=list(BACKENDS))
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(BACKENDS[request.param])
    return url


@pytest.fixture
async def empty_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of ``database_url``'s backend that nothing has touched, for one test."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield sqlite_file_url(tmp_path / "empty.db")
        return
    async with fresh_postgres_database(postgres_server()) as url:
        yield url


@pytest.fixture
async def fresh_postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL database of its own for one test (for tests that run several processes)."""
    async with fresh_postgres_database(postgres_server()) as url:
        yield url


@pytest.fixture
async def migrated_db(database_url: str) -> AsyncIterator[Database]:
    await migrations.upgrade(database_url)  # a no-op after the first test of the session
    db = Database(database_url)
    try:
        yield db
    finally:
        try:
            await empty_tables(db)
        finally:
            await db.close()


async def empty_tables(db: Database) -> None:
    """Every table of the models, emptied; ids start at 1 again. (After the test: the fixtures
    that used the database, a runner's tasks for one, have been torn down already.)"""
    tables = SQLModel.metadata.sorted_tables  # parents before children
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            # No AUTOINCREMENT tables: an emptied table numbers its rows from 1 again.
            for table in reversed(tables):
                await connection.execute(table.delete())
        else:
            quote = connection.dialect.identifier_preparer.format_table
            names = ", ".join(quote(table) for table in tables)
            await connection.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))


# --- Redis ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await client.ping()
    except (OSError, RedisError) as error:
        cause = f"{type(error).__name__}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"Redis not reachable at {url} ({cause}). CI=true: the integration tests on "
                "Redis must run, never be skipped. Start Redis (.ci/run does) or set "
                "TEST_REDIS_URL.",
                pytrace=False,
            )
        pytest.skip(
            f"Redis not reachable at {url} ({cause}): integration tests on Redis SKIPPED — "
            "start it to run them (or set TEST_REDIS_URL)"
        )
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys (arq's included) are deleted afterwards."""
    prefix = f"wft_{secrets.token_hex(6)}"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
