"""The production event bus: Redis pub/sub, one subscription per API process.

``publish`` sends one batch of payloads as one JSON message on ``<prefix>:events``. Each
process runs one reader task that decodes every message once and hands the batch to its
``Hub``, which fans it out to the local subscribers: a Redis connection per process, never
per websocket client.

Pub/sub is at-most-once: a message published while the reader is disconnected is lost. The
reader therefore reconnects on its own (exponential backoff up to ``max_backoff``), subscribes
on a fresh connection and then tells the hub ``gap()``: resumable subscriptions read the
history after their cursor again, so nothing is missed. (redis-py's ``PubSub`` neither
reconnects by itself nor says when it silently resubscribed on a reconnect, hence a new
``PubSub`` per connection.) A connection that died without a word (a network partition) is
found by pinging when the channel is quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.bus import EventBus, Hub, InMemoryBus, Payload
from server.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 5.0  # start() waits this long for the first subscription


class RedisBus:
    def __init__(
        self,
        url: str,
        prefix: str,
        hub: Hub | None = None,
        *,
        max_backoff: float = 5.0,
        ping_interval: float = 5.0,
    ) -> None:
        self.hub = hub or Hub()
        self.channel = f"{prefix}:events"
        self.max_backoff = max_backoff
        self.ping_interval = ping_interval
        self._url = url
        self._client: aioredis.Redis = aioredis.Redis.from_url(url)  # publishing
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.reconnects = 0  # subscriptions after the first (each one a possible gap)
        self.received = 0  # messages decoded

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader and wait (briefly) for its subscription, so that what is published
        after start returns reaches this process. Redis down: the app starts anyway, the reader
        keeps trying, and its first subscription is then announced as a gap."""
        self._reader = asyncio.create_task(self._read_forever(), name="redis-bus-reader")
        try:
            await asyncio.wait_for(self._subscribed.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("event bus: not subscribed to Redis yet; the reader keeps trying")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._client.aclose()

    # --- the EventBus port ------------------------------------------------------------------

    async def publish(self, payloads: Sequence[Payload]) -> None:
        if payloads:
            await self._client.publish(self.channel, encode(payloads))

    # --- the reader ---------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        backoff = 0.1
        first = True
        while True:
            client: aioredis.Redis = aioredis.Redis.from_url(self._url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if not first:
                    self.reconnects += 1
                    log.info("event bus: subscribed to %s again", self.channel)
                if self.hub.subscribers:
                    # what was published before this subscription (while we were away, or
                    # before a late first one) is lost to us: subscribers read it again
                    self.hub.gap()
                first = False
                self._subscribed.set()
                backoff = 0.1
                await self._listen(pubsub)
            except (RedisError, OSError) as error:
                log.warning("event bus: Redis connection lost (%s); again in %.1fs", error, backoff)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            self._subscribed.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is None:
                if now - heard > self.ping_interval * 2 and pinged:
                    raise ConnectionError("no answer from Redis to a ping")
                if now - heard > self.ping_interval and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            heard, pinged = now, False
            if message["type"] != "message":
                continue  # subscribe confirmations, pongs
            batch = decode(message["data"])
            if batch is not None:
                self.received += 1
                self.hub.deliver(batch)


def encode(payloads: Sequence[Payload]) -> bytes:
    return json.dumps(list(payloads), separators=(",", ":")).encode()


def decode(data: Any) -> list[Payload] | None:
    """A batch, or None (logged) for a message that is not one of ours."""
    try:
        batch = json.loads(data)
    except (ValueError, TypeError) as error:
        log.error("event bus: a message that is not JSON was ignored: %s", error)
        return None
    if not isinstance(batch, list) or not all(isinstance(p, dict) for p in batch):
        log.error("event bus: a message that is not a list of payloads was ignored")
        return None
    return batch


def make_bus(settings: Settings, hub: Hub | None = None) -> EventBus:
    """Redis pub/sub when REDIS_URL is set, else the in-memory bus (the embedded default)."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_prefix, hub)
    return InMemoryBus(hub)
