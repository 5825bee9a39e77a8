"""``ArqQueue`` against a real Redis: what a cancelled caller leaves behind.

arq's enqueue WATCHes the job key inside a pipeline. A caller cancelled there, and cancelled
again while the pipeline lets go (a task group aborting, a cancel scope that repeats), used to
leave the pipeline holding its connection: redis-py warned when it was collected, in whatever
test ran then (CI once failed an unrelated test that way), and the job was not queued.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from server.arq_queue import ArqQueue, job_key, queue_name
from server.models import Job, utcnow

pytestmark = pytest.mark.anyio

#: Cancelled after 1..TICKS loop turns, then again after 0..GAPS more: the window where the
#: second cancel lands while the pipeline lets go is a few turns wide, somewhere in there. (A
#: caller cancelled before its first turn never asked for anything.)
TICKS, GAPS = 30, 6


@pytest.fixture
async def queue(redis_url: str, redis_prefix: str) -> AsyncIterator[ArqQueue]:
    arq = ArqQueue(redis_url, redis_prefix)
    await arq.start()
    yield arq
    await arq.stop()


def job(job_id: int) -> Job:
    later = utcnow() + timedelta(hours=1)  # deferred: nothing would run it anyway
    return Job(
        id=job_id, instance_id=1, key="k", token_id="t", step_id="s", service_name="x", run_at=later
    )


async def submit_cancelled_twice(queue: ArqQueue, job_id: int, ticks: int, gap: int) -> None:
    caller = asyncio.create_task(queue.submit([job(job_id)]))
    for _ in range(ticks):
        await asyncio.sleep(0)
    caller.cancel()
    for _ in range(gap):
        await asyncio.sleep(0)
    caller.cancel()
    try:
        await caller
    except asyncio.CancelledError:
        pass


async def test_an_enqueue_cancelled_twice_still_queues_its_job_and_keeps_no_connection(
    queue: ArqQueue, redis_url: str, redis_prefix: str
) -> None:
    ids = list(range(1, TICKS * GAPS + 1))
    for job_id in ids:
        ticks, gap = divmod(job_id - 1, GAPS)
        await submit_cancelled_twice(queue, job_id, ticks + 1, gap)
    await queue.stop()  # waits for the enqueues whose callers were cancelled
    # a pipeline left holding a connection warns here (ResourceWarning: an error in this suite)
    gc.collect()
    client = aioredis.Redis.from_url(redis_url)
    try:
        queued = set(await client.zrange(queue_name(redis_prefix), 0, -1))
    finally:
        await client.aclose()
    missing = [i for i in ids if job_key(redis_prefix, i).encode() not in queued]
    assert not missing, f"cancelled callers lost their enqueue: jobs {missing}"
