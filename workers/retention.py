"""The retention job of a worker: :class:`server.services.retention.RetentionLoop` on the
worker's database, started beside the sweeper and stopped with the worker.

Every worker starts one; a PostgreSQL advisory lock lets one run at a time (the others find
the lock held and wait for the next interval). Nothing runs when HISTORY_RETENTION_DAYS is
unset. The API process runs the same loop in the embedded mode (no workers there).
"""

from __future__ import annotations

from server.db import Database
from server.services.retention import Retention, RetentionLoop, RetentionPolicy
from server.settings import Settings


async def start_retention(db: Database, settings: Settings) -> RetentionLoop:
    """The loop for ``settings``' policy, started (a no-op loop when history is kept)."""
    loop = RetentionLoop(Retention(db, RetentionPolicy.of(settings)))
    await loop.start()
    return loop
