"""Alembic's environment: which database, which metadata, how to compare and render.

Three ways in:
- the command line (``.venv/bin/alembic upgrade head``): the URL is ``-x url=...`` if given,
  else the service's own setting (``DATABASE_URL``, or the embedded SQLite file); a connection
  is opened here as ``server.migrations`` opens one, and closed when done;
- ``server.migrations`` (the service, the tests): it opens the connection itself and hands it
  over in ``config.attributes["connection"]`` (alembic's connection-sharing recipe), so that
  nothing here starts an event loop;
- ``--sql`` (offline): the script is printed for the URL's dialect, nothing connects.

SQLite cannot ALTER most things in place: ``render_as_batch`` makes autogenerate write
``batch_alter_table`` blocks, which copy the table when needed and run as plain ALTERs on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import server.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from server.migrations import migration_connection
from server.settings import Settings, async_url

config = context.config
if config.config_file_name is not None:  # the command line; never when called from the service
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    url: str | None = context.get_x_argument(as_dictionary=True).get("url")
    return async_url(url) if url else Settings().sqlalchemy_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write our column types as the plain SQLAlchemy types they store (``AutoString(150)`` as
    ``sa.String(length=150)``, ``UTCDateTime`` as ``sa.DateTime(timezone=True)``), so that a
    migration never imports the models or sqlmodel and keeps working when they change."""
    if (
        type_ == "type"
        and isinstance(obj, TypeDecorator)
        and type(obj).__module__.startswith(("server.", "sqlmodel."))
    ):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy.sql"):
            return f"sa.{impl!r}"
    return False


def configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(url.partition(":")[0].partition("+")[0]),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # The same connection as the service's migrations: one transaction, on SQLite too.
    async with migration_connection(database_url()) as connection:
        await connection.run_sync(do_run_migrations)


def run_migrations_online() -> None:
    shared: Connection | None = config.attributes.get("connection")
    if shared is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(shared)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
