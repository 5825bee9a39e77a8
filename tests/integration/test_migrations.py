"""The migrations on SQLite and PostgreSQL: up from nothing, down to nothing, up again; the
command line; and no drift between the migrations and the models (server/models.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, String, inspect, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlmodel import SQLModel, select

from server import migrations
from server.db import Database
from server.models import Definition, Instance, User, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ROOT = Path(__file__).parents[2]
MODEL_TABLES = set(SQLModel.metadata.tables)
VERSION_TABLE = "alembic_version"  # alembic's own: it stays, empty, at base


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    async with connect(url) as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


def differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write (the options of alembic/env.py)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def summary(diffs: list[Any]) -> set[tuple[str, str, str]]:
    """(operation, table, column or index) of each difference; column changes come grouped."""
    flat = [item for diff in diffs for item in (diff if isinstance(diff, list) else [diff])]
    result = set()
    for operation, *args in flat:
        if operation in ("add_column", "remove_column"):
            _schema, table, column = args
            result.add((operation, table, column.name))
        elif operation.startswith("modify_"):
            _schema, table, column, *_rest = args
            result.add((operation, table, column))
        elif operation in ("add_index", "remove_index"):
            result.add((operation, args[0].table.name, args[0].name))
        else:
            result.add((operation, "", repr(args)))
    return result


async def test_upgrade_from_an_empty_database_creates_every_table(empty_database_url: str) -> None:
    assert await table_names(empty_database_url) == set()
    assert await migrations.current(empty_database_url) is None

    await migrations.upgrade(empty_database_url)

    assert await table_names(empty_database_url) == MODEL_TABLES | {VERSION_TABLE}
    assert await migrations.current(empty_database_url) == migrations.head()


async def test_downgrade_to_base_removes_every_table_and_upgrade_works_again(
    empty_database_url: str,
) -> None:
    await migrations.upgrade(empty_database_url)

    await migrations.downgrade(empty_database_url, "base")
    assert await table_names(empty_database_url) == {VERSION_TABLE}
    assert await migrations.current(empty_database_url) is None

    await migrations.upgrade(empty_database_url)
    assert await table_names(empty_database_url) == MODEL_TABLES | {VERSION_TABLE}
    assert await migrations.current(empty_database_url) == migrations.head()


async def test_the_migrated_schema_is_the_models_schema(migrated_db: Database) -> None:
    """A model changed without a migration fails here: write the revision
    (``.venv/bin/alembic revision --autogenerate --rev-id 000N -m "..."``)."""
    async with migrated_db.engine.connect() as connection:
        diffs = await connection.run_sync(differences, SQLModel.metadata)
    assert diffs == []


async def test_the_drift_check_sees_a_model_change_that_has_no_migration(
    migrated_db: Database,
) -> None:
    """The test above can fail: the same comparison reports an added column, a longer string
    and a new index when the models have them and the migrations do not."""
    drifted = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(drifted)
    instances = drifted.tables["instances"]
    instances.append_column(Column("drift_probe", Integer, nullable=True, index=True))
    instances.c.business_key.type = String(length=300)

    async with migrated_db.engine.connect() as connection:
        diffs = await connection.run_sync(differences, drifted)

    assert summary(diffs) == {
        ("add_column", "instances", "drift_probe"),
        ("modify_type", "instances", "business_key"),
        ("add_index", "instances", "ix_instances_drift_probe"),
    }


async def test_a_business_key_is_unique_per_process_only_when_there_is_one(
    migrated_db: Database,
) -> None:
    """The partial unique index (uq_instances_business_key) on both backends."""
    now = utcnow()
    async with migrated_db.transaction() as session:
        definition = Definition(
            key="order",
            name="Order",
            version="1",
            revision=1,
            content_hash="h",
            source={},
            deployed_at=now,
        )
        session.add(definition)
        await session.flush()
        assert definition.id is not None
        definition_id = definition.id

    def instance(business_key: str | None) -> Instance:
        return Instance(
            definition_id=definition_id,
            definition_key="order",
            business_key=business_key,
            status="running",
            started_at=now,
            updated_at=now,
        )

    async with migrated_db.transaction() as session:
        session.add_all([instance(None), instance(None), instance("A-1"), instance("A-2")])

    with pytest.raises(IntegrityError):
        async with migrated_db.transaction() as session:
            session.add(instance("A-1"))


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_starts_with_empty_tables_and_ids_from_1(
    migrated_db: Database, run: int
) -> None:
    """Run twice on each backend: the second run sees nothing of the first."""
    async with migrated_db.transaction() as session:
        session.add(User(username=f"run-{run}", created_at=utcnow()))
    async with migrated_db.reading() as session:
        users = (await session.exec(select(User))).all()
    assert [(user.id, user.username) for user in users] == [(1, f"run-{run}")]


async def test_the_command_line_migrates_the_configured_database(
    empty_database_url: str, tmp_path: Path
) -> None:
    """``make migrate-up``, run from another folder. SQLite: the embedded file of the service's
    settings (no DATABASE_URL). PostgreSQL: ``-x url=...`` (the seed's ``postgres://`` form),
    which wins over DATABASE_URL."""
    url = make_url(empty_database_url)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH")}
    command = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    if url.get_backend_name() == "sqlite":
        env["SQLITE_PATH"] = str(url.database)
    else:
        env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/not_this_one"
        command += ["-x", f"url={url.set(drivername='postgres').render_as_string(False)}"]

    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [*command, "upgrade", "head"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    )

    assert done.returncode == 0, done.stderr
    assert await migrations.current(empty_database_url) == migrations.head()
    assert await table_names(empty_database_url) == MODEL_TABLES | {VERSION_TABLE}


async def test_a_failed_migration_leaves_nothing_behind(empty_database_url: str) -> None:
    """One transaction per run, DDL included: on SQLite only because migration_connection
    makes the driver send BEGIN (the sqlite3 module does not before CREATE TABLE)."""

    class Failure(Exception):
        pass

    with pytest.raises(Failure):
        async with migrations.migration_connection(empty_database_url) as connection:
            await connection.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
            raise Failure

    assert await table_names(empty_database_url) == set()
