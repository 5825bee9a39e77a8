"""A websocket's authentication: the token of its ``connection_init``, and the watch that
closes the socket once that token stops holding.

strawberry authenticates a websocket once, when it connects, and never again; a socket may
stay open for hours. ``ConnectionGuard`` is the one task per connection that closes it when
the token expires (scheduled at its ``exp``) or when ``AuthService.revalidate`` refuses it
(the user disabled, the session logged out), checked every few seconds. Nothing here knows
websockets: the caller hands in how to close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from server.auth.errors import AuthError
from server.auth.sessions import AuthService
from server.auth.tokens import AccessClaims
from server.models import utcnow

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # how late a disabled user's or logged-out session's socket may close
MIN_SLEEP_SECONDS = 0.05  # a floor: an expiry a hair away never spins the loop
TOKEN_KEYS = ("authorization", "authtoken", "token")  # connection_init keys, any case
CLOSE_CODE = 4403  # what strawberry closes a refused connection_init with: "Forbidden"

CloseSocket = Callable[[AuthError], Awaitable[None]]


def bearer_token(params: Mapping[str, object] | None) -> str | None:
    """The access token of a ``connection_init`` payload: ``Authorization: Bearer <token>``,
    or ``authToken`` / ``token`` (Apollo's and other clients' habits; ``Bearer `` optional
    there). None when the payload holds none."""
    given = {str(key).lower(): value for key, value in (params or {}).items()}
    for key in TOKEN_KEYS:
        value = given.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            return rest.strip() or None
        if key == "authorization":
            return None  # another scheme (Basic ...): not ours, and no guessing
        return value.strip()
    return None


class ConnectionGuard:
    """Closes one connection when its token stops holding; ``stop`` when the socket closes."""

    def __init__(
        self,
        auth: AuthService,
        claims: AccessClaims,
        close: CloseSocket,
        *,
        every: float | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.auth = auth
        self.claims = claims
        self.close = close
        self.every = CHECK_SECONDS if every is None else every  # read now: tests shorten it
        self._now = now
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="websocket-auth-guard")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])  # its end, without taking on its CancelledError

    def _sleep_seconds(self) -> float:
        remaining = (self.claims.expires_at - self._now()).total_seconds()
        return max(MIN_SLEEP_SECONDS, min(self.every, remaining))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._sleep_seconds())
            try:
                await self.auth.revalidate(self.claims)
            except AuthError as error:
                await self.close(error)
                return
            except Exception:  # the database unreachable: keep the socket, ask again later
                # (revalidate checks the expiry before reading: an expired token still closes)
                log.warning("websocket: could not revalidate the token", exc_info=True)
