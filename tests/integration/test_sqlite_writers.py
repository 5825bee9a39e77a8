"""The embedded SQLite file shared by two processes (the server and `workflow-engine deploy`,
say): their write transactions wait for each other instead of failing with "database is
locked". Two Database objects stand in for the two processes: each has its own writer lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from server import migrations
from server.db import Database
from server.models import User, utcnow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_two_writers_on_one_sqlite_file_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await migrations.upgrade(url)
    first, second = Database(url), Database(url)

    async def add_users(db: Database, prefix: str) -> None:
        for n in range(40):
            async with db.transaction() as session:
                # read, then write: the pattern of every transition
                taken = (await session.exec(select(func.count()).select_from(User))).one()
                session.add(User(username=f"{prefix}-{n}-{taken}", created_at=utcnow()))

    try:
        await asyncio.gather(add_users(first, "a"), add_users(second, "b"))
        async with first.reading() as session:
            count = (await session.exec(select(func.count()).select_from(User))).one()
            a_rows = (
                await session.exec(select(func.count()).where(col(User.username).like("a-%")))
            ).one()
        assert (count, a_rows) == (80, 40)
    finally:
        await first.close()
        await second.close()
