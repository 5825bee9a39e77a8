"""The production job queue: committed jobs and timers become arq jobs on Redis.

Each row is enqueued under a deterministic arq job id (``<prefix>:job:<id>``,
``<prefix>:timer:<id>``), so handing the same row over twice (the sweeper, a resume, two
processes) queues it once while it is queued or running. Work that is not due yet is a
deferred arq job (``_defer_until``): a retry's backoff, a timer's due time.

Timers due later than ``SOON`` are grouped: one deferred arq job per 100 ms of due times
(``<prefix>:timers:<ms>``) fires every timer of its slot, read from the database, in batches.
Ten thousand timers are then a few hundred arq jobs, not ten thousand polls, pickles and
locks. A timer due sooner gets a job of its own: a slot's job may be running already, and
would not see it.

Redis is not the source of truth: a row is pending in the database first, and the workers'
sweeper enqueues pending rows again (after a Redis restart, a FLUSHALL, a failed enqueue).
That is why a failed enqueue is logged, not raised: the transaction has committed already,
and its caller must not see an error for a change that was made.

Each arq job also carries the trace context and request id of the code that enqueued it (the
keyword argument ``carrier``, ``server.telemetry.job_carrier``): the worker's spans and log
lines for it join the request's. A job without one (enqueued by the sweeper, or before this
existed) runs in a trace of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from server.models import Job, Timer, utcnow
from server.telemetry import job_carrier

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The arq function names (workers.jobs registers functions under these names).
RUN_JOB = "run_job"
FIRE_TIMER = "fire_timer"
FIRE_TIMERS = "fire_timers"  # every timer due by the end of one slot
SLOT_MS = 100
SOON = timedelta(seconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STOP_WAIT_SECONDS = 5.0  # for enqueues still talking to Redis when the queue stops


def queue_name(prefix: str) -> str:
    return f"{prefix}:queue"


def job_key(prefix: str, job_id: int) -> str:
    return f"{prefix}:job:{job_id}"


def timer_key(prefix: str, timer_id: int) -> str:
    return f"{prefix}:timer:{timer_id}"


def slot_key(prefix: str, slot_ms: int) -> str:
    return f"{prefix}:timers:{slot_ms}"


def slot_of(due_at: datetime) -> int:
    """The end of the 100 ms slot of ``due_at``, in epoch milliseconds. In whole microseconds,
    not float seconds: a slot's job fires exactly the due times of ``slot_window``, and a float
    rounding up a due time that lies on a boundary would put it in the next slot, outside."""
    micros = (due_at - EPOCH) // timedelta(microseconds=1)
    return -(-micros // (SLOT_MS * 1000)) * SLOT_MS


def slot_time(slot_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=slot_ms)


def slot_window(slot_ms: int) -> tuple[datetime, datetime]:
    """The due times of the slot ending at ``slot_ms``: after its start, up to its end."""
    end = slot_time(slot_ms)
    return end - timedelta(milliseconds=SLOT_MS), end


class ArqQueue:
    """The ``JobQueue`` port on arq. ``start`` opens its Redis pool (or uses ``pool``: a
    worker shares its own), ``stop`` closes a pool it opened."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        *,
        pool: ArqRedis | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.queue_name = queue_name(prefix)
        self.clock = clock
        self._pool = pool
        self._owns_pool = pool is None
        self.enqueued = 0  # arq jobs created (a duplicate id creates none)
        self._inflight: set[asyncio.Task[Any]] = set()

    @property
    def pool(self) -> ArqRedis:
        if self._pool is None:
            raise RuntimeError("ArqQueue.start() was not called")
        return self._pool

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                RedisSettings.from_dsn(self.redis_url), default_queue_name=self.queue_name
            )
            self._owns_pool = True

    async def stop(self) -> None:
        if self._inflight:  # enqueues whose callers were cancelled: let them end first
            await asyncio.wait(self._inflight, timeout=STOP_WAIT_SECONDS)
        if self._pool is not None and self._owns_pool:
            await self._pool.aclose()
            self._pool = None

    # --- the JobQueue port --------------------------------------------------------------

    async def submit(self, jobs: Sequence[Job]) -> None:
        await self._enqueue_all(
            [(RUN_JOB, job.id, job_key(self.prefix, _id(job.id)), job.run_at) for job in jobs]
        )

    async def schedule(self, timers: Sequence[Timer]) -> None:
        soon = self.clock() + SOON
        alone = [t for t in timers if t.due_at <= soon]
        slots = sorted({slot_of(t.due_at) for t in timers if t.due_at > soon})
        await self._enqueue_all(
            [(FIRE_TIMER, t.id, timer_key(self.prefix, _id(t.id)), t.due_at) for t in alone]
            + [(FIRE_TIMERS, ms, slot_key(self.prefix, ms), slot_time(ms)) for ms in slots]
        )

    # --- enqueueing ---------------------------------------------------------------------

    async def _enqueue_all(self, entries: list[tuple[str, int | None, str, datetime]]) -> None:
        if not entries:
            return
        now = self.clock()
        failed: list[BaseException] = []
        carrier = job_carrier()
        extra = {} if carrier is None else {"carrier": carrier}  # workers.jobs reads it
        # a task group, not gather: cancelled, no enqueue is left behind unawaited (each one's
        # Redis conversation is shielded, see _uncut, and stop() waits for those)
        async with asyncio.TaskGroup() as group:
            for function, row_id, key, when in entries:
                group.create_task(self._enqueue(function, row_id, key, when, now, failed, extra))
        if failed:
            log.warning(
                "arq: %d of %d enqueues failed, the sweeper will enqueue them again: %s",
                len(failed),
                len(entries),
                failed[0],
            )

    async def _enqueue(
        self,
        function: str,
        row_id: int | None,
        key: str,
        when: datetime,
        now: datetime,
        failed: list[BaseException],
        extra: dict[str, Any],
    ) -> None:
        try:
            job = await self._uncut(
                self.pool.enqueue_job(
                    function,
                    row_id,
                    _job_id=key,
                    _queue_name=self.queue_name,
                    _defer_until=when if when > now else None,
                    **extra,
                )
            )
        except (RedisError, OSError) as error:
            failed.append(error)
            return
        if job is not None:
            self.enqueued += 1

    async def _uncut(self, conversation: Awaitable[T]) -> T:
        """Let a Redis conversation run to its end even if its caller is cancelled (the caller
        still sees its cancellation at once). arq's enqueue WATCHes in a pipeline: cut there
        and cancelled again while letting go (a task group aborting, a cancel scope that
        repeats), the pipeline keeps its connection and redis-py warns when it is collected,
        in whatever test or request happens to run then. arq shields its own last writes of
        a job the same way. ``stop`` waits for these before closing the pool."""
        task = asyncio.ensure_future(conversation)
        self._inflight.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that was cancelled no longer reads it


def _id(row_id: int | None) -> int:
    if row_id is None:
        raise ValueError("a job or timer is handed over before it has an id (not flushed)")
    return row_id
