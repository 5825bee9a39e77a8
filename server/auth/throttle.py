"""Failed-login throttling, per username and per client address: a sliding window.

At most ``per_user`` failures for one username, and ``per_address`` for one address, within
``window_seconds``; past that, logins for it are refused before the password is even checked
(``too_many_attempts`` with the seconds until the oldest failure leaves the window). Refused
attempts are not counted, so a lockout ends on time however often the attacker knocks.

A success clears its username's failures but not its address's: otherwise an attacker with one
valid account would reset their address between guesses at others. The per-user limit lets an
attacker lock a user out for one window; that is the price of stopping online guessing, kept
small by a short window.

Two adapters, one rule: in memory (one process, the embedded mode) and Redis (shared by every
API process: sorted sets of failure times under ``<prefix>:auth:fail:``). Keys hold a hash of
the username or address, never the value itself.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.auth.errors import AuthError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleLimits:
    per_user: int = 5
    per_address: int = 20
    window_seconds: int = 300


class LoginThrottle(Protocol):
    async def check(self, username: str, address: str | None) -> None:
        """Raise ``too_many_attempts`` if either the username or the address is locked."""

    async def failed(self, username: str, address: str | None) -> None:
        """Count one failed login for both."""

    async def succeeded(self, username: str) -> None:
        """Forget the username's failures."""


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.casefold().encode()).hexdigest()[:32]}"


class _Window:
    """The rule shared by both adapters; they store failure times per key."""

    def __init__(self, limits: ThrottleLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(_key("user", username), self.limits.per_user)]
        if address:
            keys.append((_key("addr", address), self.limits.per_address))
        return keys

    def _retry_after(self, times: Sequence[float], limit: int, now: float) -> int | None:
        """Seconds until fewer than ``limit`` failures remain in the window, or None."""
        if len(times) < limit:
            return None
        # the failures that must leave the window first: all but the newest limit - 1
        release = sorted(times)[len(times) - limit] + self.limits.window_seconds
        return max(1, math.ceil(release - now))

    def _refuse(self, waits: Sequence[int | None]) -> None:
        longest = max((wait for wait in waits if wait is not None), default=None)
        if longest is not None:
            raise AuthError(
                "too_many_attempts",
                f"too many failed logins: try again in {longest} seconds",
                retry_after=longest,
            )


class MemoryThrottle(_Window):
    """One process's failures (the embedded mode); at most ``max_keys`` keys are kept, the
    stalest dropped first, so that random usernames cannot grow it without bound."""

    def __init__(
        self,
        limits: ThrottleLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        super().__init__(limits, clock)
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.limits.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    async def check(self, username: str, address: str | None) -> None:
        now = self.clock()
        self._refuse(
            [
                self._retry_after(self._recent(k, now), n, now)
                for k, n in self._keys(username, address)
            ]
        )

    async def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        for key, _limit in self._keys(username, address):
            times = self._recent(key, now)
            self._failures.pop(key, None)  # re-inserted last: dict order is staleness
            times.append(now)
            self._failures[key] = times
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    async def succeeded(self, username: str) -> None:
        self._failures.pop(_key("user", username), None)


class RedisThrottle(_Window):
    """Failures shared by every API process. Redis being down lets logins through unthrottled
    (logged): refusing every login would turn a Redis outage into a total one."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        limits: ThrottleLimits,
        *,
        clock: Callable[[], float] = time.time,  # shared by processes: wall-clock time
    ) -> None:
        super().__init__(limits, clock)
        self._client = client
        self._prefix = f"{prefix}:auth:fail:"

    async def check(self, username: str, address: str | None) -> None:
        now = self.clock()
        keys = self._keys(username, address)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key, _limit in keys:
                    name = self._prefix + key
                    pipe.zremrangebyscore(name, "-inf", now - self.limits.window_seconds)
                    pipe.zrange(name, 0, -1, withscores=True)
                replies = await pipe.execute()
        except RedisError as error:
            log.error("login throttle unavailable (Redis: %s): login not throttled", error)
            return
        entries = replies[1::2]
        self._refuse(
            [
                self._retry_after([score for _member, score in entry], limit, now)
                for entry, (_key_, limit) in zip(entries, keys, strict=True)
            ]
        )

    async def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        member = f"{now:.6f}:{secrets.token_hex(4)}"  # unique: two failures in one instant
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key, _limit in self._keys(username, address):
                    name = self._prefix + key
                    pipe.zadd(name, {member: now})
                    pipe.expire(name, self.limits.window_seconds + 1)
                await pipe.execute()
        except RedisError as error:
            log.error("login throttle unavailable (Redis: %s): failure not counted", error)

    async def succeeded(self, username: str) -> None:
        try:
            await self._client.delete(self._prefix + _key("user", username))
        except RedisError as error:
            log.error("login throttle unavailable (Redis: %s)", error)
