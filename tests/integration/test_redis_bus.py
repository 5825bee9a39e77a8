"""RedisBus on a real Redis: one subscription per process, fanned out by its hub; the reader
survives the server dropping it (what a Redis restart does to clients), says GAP, and carries
on; a subscriber that does not read is cut off instead of growing without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from server.bus import GAP, Hub, InMemoryBus, SubscriberTooSlow
from server.redis_bus import RedisBus, make_bus
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
WAIT = 10.0  # seconds: a bound on waiting, not a performance assertion


@pytest.fixture
async def two_processes(
    redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one channel, each with its own hub: two API processes."""
    first = RedisBus(redis_url, redis_prefix, Hub(), max_backoff=0.2)
    second = RedisBus(redis_url, redis_prefix, Hub(), max_backoff=0.2)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.stop()
        await second.stop()


async def test_a_batch_published_by_one_process_reaches_the_subscribers_of_both(
    two_processes: tuple[RedisBus, RedisBus],
) -> None:
    first, second = two_processes
    with first.hub.subscribe() as a, second.hub.subscribe() as b, second.hub.subscribe() as c:
        await first.publish([{"instance_id": 1, "n": 1}, {"instance_id": 2, "n": 2}])
        for subscription in (a, b, c):
            got = [await asyncio.wait_for(subscription.get(), WAIT) for _ in range(2)]
            assert got == [{"instance_id": 1, "n": 1}, {"instance_id": 2, "n": 2}]
    assert first.received == second.received == 1  # one message per process, decoded once


async def test_the_reader_reconnects_after_redis_drops_it_and_says_gap(
    two_processes: tuple[RedisBus, RedisBus], redis_url: str
) -> None:
    publisher, reader = two_processes
    with reader.hub.subscribe() as subscription:
        await publisher.publish([{"n": 1}])
        assert await asyncio.wait_for(subscription.get(), WAIT) == {"n": 1}

        admin = aioredis.Redis.from_url(redis_url)
        try:
            killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        finally:
            await admin.aclose()
        assert killed >= 2  # both buses' readers: what a restarted Redis does to them

        assert await asyncio.wait_for(subscription.get(), WAIT) is GAP
        assert reader.reconnects == 1
        await publisher.publish([{"n": 2}])
        assert await asyncio.wait_for(subscription.get(), WAIT) == {"n": 2}


async def test_a_subscriber_that_does_not_read_is_cut_off_and_told_so(
    redis_url: str, redis_prefix: str
) -> None:
    bus = RedisBus(redis_url, redis_prefix, Hub(queue_size=3))
    await bus.start()
    try:
        with bus.hub.subscribe() as slow, bus.hub.subscribe() as fast:
            for n in range(5):
                await bus.publish([{"n": n}])
                assert await asyncio.wait_for(fast.get(), WAIT) == {"n": n}
            assert bus.hub.subscribers == 1  # the slow one is out of the fan-out
            assert [await slow.get() for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
            with pytest.raises(SubscriberTooSlow, match="last cursor"):
                await slow.get()
    finally:
        await bus.stop()


async def test_a_message_that_is_not_ours_is_skipped(
    two_processes: tuple[RedisBus, RedisBus], redis_url: str
) -> None:
    publisher, reader = two_processes
    admin = aioredis.Redis.from_url(redis_url)
    try:
        with reader.hub.subscribe() as subscription:
            await admin.publish(reader.channel, b"not json")
            await admin.publish(reader.channel, b'{"a": "dict, not a list"}')
            await publisher.publish([{"n": 1}])
            assert await asyncio.wait_for(subscription.get(), WAIT) == {"n": 1}
    finally:
        await admin.aclose()


async def test_make_bus_picks_redis_only_when_a_url_is_set(redis_url: str) -> None:
    assert isinstance(make_bus(Settings(redis_url=None)), InMemoryBus)
    bus = make_bus(Settings(redis_url=redis_url, redis_prefix="p1"))
    assert isinstance(bus, RedisBus)
    assert bus.channel == "p1:events"
    await bus.stop()
