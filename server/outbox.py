"""The outbox relay: publishes committed outbox rows on the event bus, then deletes them.

Fast path: the service hands over the rows it has just committed (``committed``); one task
per process publishes them in batches, in commit order, and deletes them with one statement
per batch. Backstop: ``sweep`` (at start, then periodically) publishes rows older than a grace
period: those of a process that crashed between commit and publish, or of a publish that
failed (Redis down). With several processes, ``FOR UPDATE SKIP LOCKED`` gives each old row to
one sweeper; a payload published twice anyway (a crash after publishing, before deleting) is
recognised by subscribers from its sequence numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from server import metrics
from server.bus import EventBus, Payload
from server.db import Database
from server.models import OutboxRecord, utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        batch_size: int = 500,
        sweep_interval: float = 5.0,
        grace: timedelta = timedelta(seconds=10),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.grace = grace
        self.clock = clock
        self._pending: list[tuple[int, Payload]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0

    # --- the Publisher port of the services -------------------------------------------------

    def committed(self, records: Sequence[OutboxRecord]) -> None:
        for record in records:
            assert record.id is not None
            self._pending.append((record.id, record.payload))
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._relay_forever(), name="outbox-relay"),
            asyncio.create_task(self._sweep_forever(), name="outbox-sweeper"),
        ]

    async def stop(self) -> None:
        """Publish what is pending (best effort: the sweeper of the next start has the rest)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await self.flush()
        except Exception as error:
            log.warning("outbox: %d events left for the sweeper: %s", len(self._pending), error)

    async def flush(self) -> None:
        """Publish everything handed over so far (tests, and a graceful stop)."""
        while self._pending:
            batch = self._pending[: self.batch_size]
            del self._pending[: len(batch)]
            await self._publish(batch)

    # --- work ---------------------------------------------------------------------------------

    async def _relay_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as error:  # the rows stay in the outbox: the sweeper retries
                log.warning("outbox: publishing failed, the sweeper will retry: %s", error)
                self._pending.clear()

    async def _publish(self, batch: list[tuple[int, Payload]]) -> None:
        await self.bus.publish([payload for _, payload in batch])
        self.published += len(batch)
        metrics.events_published(len(batch))
        async with self.db.transaction() as session:
            await session.exec(
                delete(OutboxRecord).where(col(OutboxRecord.id).in_([i for i, _ in batch]))
            )

    async def sweep(self) -> int:
        """Publish rows older than the grace period; returns how many."""
        older = self.clock() - self.grace
        total = 0
        while True:
            async with self.db.transaction() as session:
                rows = list(
                    await session.exec(
                        select(OutboxRecord)
                        .where(col(OutboxRecord.created_at) < older)
                        .order_by(col(OutboxRecord.id))
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                )
                if not rows:
                    return total
                await self.bus.publish([row.payload for row in rows])
                await session.exec(
                    delete(OutboxRecord).where(col(OutboxRecord.id).in_([row.id for row in rows]))
                )
            total += len(rows)
            self.published += len(rows)
            metrics.events_published(len(rows))

    async def _sweep_forever(self) -> None:
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info("outbox: %d events published by the sweeper", swept)
            except Exception as error:
                log.warning("outbox sweep failed; again in %ss: %s", self.sweep_interval, error)
            await asyncio.sleep(self.sweep_interval)
