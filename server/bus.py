"""The event bus port, and the in-process hub that fans events out to subscribers.

Every API process has one ``Hub``. Payloads reach it from the bus (Redis pub/sub in
production, ``InMemoryBus`` in the embedded default): decoded once, then offered to every
local subscriber. A subscriber owns a bounded queue; the policy for one that does not keep up
is to cut it off with ``SubscriberTooSlow`` (the client resumes with its cursor), never to
buffer without bound nor to slow the others down.

When the bus itself loses messages (Redis restarted, the reader reconnected), the hub tells
every subscriber with ``GAP``: a resumable subscription then reads the history after its
cursor again, so nothing is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol

log = logging.getLogger(__name__)

Payload = dict[str, Any]
DEFAULT_QUEUE_SIZE = 1000


class _Gap:
    def __repr__(self) -> str:
        return "GAP"


GAP: Final = _Gap()  # messages may have been lost before this point: read the history again


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it was cut off (resume with a cursor)."""


class Subscription:
    """One local subscriber: a bounded queue the hub puts payloads (or ``GAP``) into."""

    def __init__(self, hub: Hub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Payload | _Gap] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, item: Payload | _Gap) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self._hub.discard(self)
            log.warning("a subscriber fell %d events behind: cut off", self._queue.maxsize)

    async def get(self) -> Payload | _Gap:
        if self.overflowed and self._queue.empty():
            raise SubscriberTooSlow(
                f"the subscriber fell more than {self._queue.maxsize} events behind and was "
                "cut off: subscribe again with the last cursor you received"
            )
        item = await self._queue.get()
        return item

    def close(self) -> None:
        self._hub.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """The local fan-out: one per process, shared by all its subscribers."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self.delivered = 0

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def deliver(self, payloads: Iterable[Payload]) -> None:
        subscribers = list(self._subscribers)
        for payload in payloads:
            for subscription in subscribers:
                subscription.offer(payload)
            self.delivered += len(subscribers)

    def gap(self) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(GAP)


class EventBus(Protocol):
    """Carries committed payloads from the process that made them to every API process."""

    hub: Hub

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, payloads: Sequence[Payload]) -> None:
        """Deliver, or raise: the relay keeps the outbox rows and tries again later."""
        ...


class InMemoryBus:
    """The embedded default: one process, so publishing is delivering."""

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub or Hub()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, payloads: Sequence[Payload]) -> None:
        self.hub.deliver(payloads)
