"""The database adapter: one async engine, and transactions that are safe on both backends.

PostgreSQL (asyncpg) is the production store; SQLite (aiosqlite) the embedded default. The
difference stays here: SQLite runs in WAL mode with a busy timeout, and its write
transactions are serialised by one lock per process (the "database is locked" errors
Prefect's users hit come from concurrent SQLite writers). Row locks (``FOR UPDATE``) are
used on PostgreSQL and are a no-op on SQLite, where the single writer already excludes races.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from server.telemetry import instrument_engine


class Database:
    """The engine and its sessions; opened by the app's lifespan, closed with it."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, echo=echo)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        instrument_engine(self.engine)  # database spans, when traces are exported
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed when the block ends, rolled back if it
        raises. Writes go through here."""
        if self._write_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for queries (never blocked by the SQLite writer)."""
        async with self.sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # WAL is set once on the file by server.migrations.upgrade: switching here, on every
    # connection, takes a lock without waiting and failed beside a busy writer
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
