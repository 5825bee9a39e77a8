"""Live feeds that survive disconnects: each keeps the cursor of the last event it yielded and
subscribes again with it, so nothing is missed and nothing comes twice.

Written by hand and copied into the generated package (``files_to_include``). The server
closes a socket with 4403 when its token expires or its session ends: the feed refreshes the
session's tokens and resumes. docs/subscriptions.md says why resuming by cursor is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from websockets.exceptions import ConnectionClosed, InvalidStatus

from .exceptions import GraphQLClientError, GraphQLClientGraphQLMultiError
from .input_types import InstanceChangeFilter
from .instance_changes import InstanceChangesInstanceChanges
from .instance_events import InstanceEventsInstanceEvents
from .session import Session

ENDED = frozenset({"instance_completed", "instance_failed", "instance_cancelled", "instance_ended"})
FORBIDDEN = 4403  # the token expired, or its session ended


class _Backoff:
    def __init__(self, retries: int, first: float = 0.25, cap: float = 5.0) -> None:
        self.retries, self.first, self.cap, self.failures = retries, first, cap, 0

    async def wait(self, error: BaseException) -> None:
        self.failures += 1
        if self.failures > self.retries:
            raise error
        await asyncio.sleep(min(self.cap, self.first * 2 ** (self.failures - 1)))


async def _recover(session: Session, error: BaseException, backoff: _Backoff) -> None:
    """Wait before resuming after ``error``; a 4403 close first renews the tokens."""
    if isinstance(error, ConnectionClosed) and error.rcvd is not None:
        if error.rcvd.code == FORBIDDEN:
            await session.refresh()
    await backoff.wait(error)


# a lost or refused connection, a missing ack: worth resuming (GraphQL errors are not)
RETRYABLE = (ConnectionClosed, InvalidStatus, OSError, GraphQLClientError)


async def instance_events(
    session: Session, instance_id: int, after_seq: int = 0, *, retries: int = 10
) -> AsyncIterator[InstanceEventsInstanceEvents]:
    """One instance's history after ``after_seq``, then its events live, until it ends.

    A GraphQL error (``not_found``, ``forbidden``) raises ``GraphQLClientGraphQLMultiError``;
    a connection lost more than ``retries`` times in a row raises its error.
    """
    seq = after_seq
    backoff = _Backoff(retries)
    while True:
        delivered = False
        try:
            async with await session.client() as client:
                async for message in client.instance_events(instance_id=instance_id, after_seq=seq):
                    event = message.instance_events
                    seq, delivered, backoff.failures = event.seq, True, 0
                    yield event
                    if event.type_ in ENDED:
                        return
        except GraphQLClientGraphQLMultiError:
            raise
        except RETRYABLE as error:
            await _recover(session, error, backoff)
            continue
        if not delivered:
            return  # completed with nothing after the cursor: the instance had ended
        # completed early (a subscriber cut off as too slow): resume from the cursor


async def instance_changes(
    session: Session,
    filter: InstanceChangeFilter | None = None,
    after: str | None = None,
    *,
    retries: int = 10,
) -> AsyncIterator[InstanceChangesInstanceChanges]:
    """Instances matching ``filter`` as they change; resumed from the last ``cursor`` (the
    instances changed meanwhile come first, in their current state). Never ends by itself."""
    cursor = after
    backoff = _Backoff(retries)
    while True:
        try:
            async with await session.client() as client:
                async for message in client.instance_changes(filter_=filter, after=cursor):
                    change = message.instance_changes
                    cursor, backoff.failures = change.cursor, 0
                    yield change
        except GraphQLClientGraphQLMultiError:
            raise
        except RETRYABLE as error:
            await _recover(session, error, backoff)
