"""Schema migrations from Python: for the service, the tests and deploy scripts.

The scripts are alembic's: ``alembic/`` at the repository root, copied into an installed wheel as
``server/_alembic`` (pyproject.toml, ``force-include``). ``alembic.ini`` is not read here: it
belongs to the command line, and it configures logging, which a running service must not have
reconfigured under it. The script location is all that is needed.

Each call opens a short-lived engine on ``url`` and runs alembic on one connection, in one
transaction (alembic's connection-sharing recipe for asyncio: ``alembic/env.py`` takes the
connection from ``config.attributes`` instead of starting an event loop of its own). A migration
applies completely or not at all, on SQLite too (see :func:`migration_connection`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, pool, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from server.settings import async_url

T = TypeVar("T")

_PACKAGE = Path(__file__).resolve().parent
# An installed wheel has them in the package; a checkout at the repository root. (In
# site-packages the second path is alembic the library, which has no env.py: never taken.)
_SCRIPT_LOCATIONS = (_PACKAGE / "_alembic", _PACKAGE.parent / "alembic")


def script_location() -> Path:
    """The folder of ``env.py`` and ``versions/``."""
    for candidate in _SCRIPT_LOCATIONS:
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return candidate
    searched = ", ".join(str(path) for path in _SCRIPT_LOCATIONS)
    raise RuntimeError(f"the migration scripts were not found (searched {searched})")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the scripts, optionally bound to an open connection."""
    config = Config()
    # A ConfigParser value: a "%" in the path would be read as interpolation.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The revision that ``upgrade(url)`` brings a database to."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migration in {script_location()}")
    return revision


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, lambda connection: command.upgrade(alembic_config(connection), revision))
    if url.startswith("sqlite"):
        await _write_ahead_log(url)


async def _write_ahead_log(url: str) -> None:
    """SQLite's WAL mode is a property of the file: set once here, not on every connection
    (switching takes a lock without waiting on the busy timeout, so a connection opened while
    another one writes would fail with "database is locked")."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    """Down to ``revision``: an id, ``-1`` for one step, or ``base`` for an empty schema."""
    await _run(url, lambda connection: command.downgrade(alembic_config(connection), revision))


async def current(url: str) -> str | None:
    """The database's revision; None when it was never migrated (or is at base)."""
    return await _run(url, revision_of)


@asynccontextmanager
async def migration_connection(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is committed when the block ends, on an engine of its
    own that is closed after.

    On SQLite, DDL is made transactional: the sqlite3 module only opens a transaction before
    INSERT/UPDATE/DELETE, so a failed migration would leave the tables it had already created
    behind. The driver is told not to begin on its own and a BEGIN is sent instead (the
    recipe in SQLAlchemy's SQLite dialect documentation). Foreign keys stay unenforced on this
    connection (SQLite's default), as alembic's batch mode needs when it copies a table.
    """
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_no_implicit_begin)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    try:
        async with engine.begin() as connection:
            yield connection
    finally:
        await engine.dispose()


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    async with migration_connection(url) as connection:
        return await connection.run_sync(work)


def revision_of(connection: Connection) -> str | None:
    """The database's alembic revision, read quietly (``MigrationContext`` logs at INFO on
    every call: once per readiness probe would flood the log); None when never migrated."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def known_revisions() -> frozenset[str]:
    """Every revision of this code's migrations."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(r.revision for r in script.walk_revisions())


def _sqlite_no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
