"""Live feeds over websockets (graphql-transport-ws, and the legacy graphql-ws).

Every feed reads the process's ``Hub`` (one bus subscription per process, fanned out here),
and every event carries its instance's id and a cursor. A feed given a cursor subscribes to
the hub FIRST, then replays the history after the cursor, then goes live, skipping what the
replay already gave: nothing falls between the two, nothing comes twice. When the hub says
``GAP`` (the bus reconnected and may have lost messages) the feed replays again from the
last event it delivered. A subscriber that falls too far behind is cut off with the error
code ``subscriber_too_slow``: it subscribes again with its last cursor.

Who may subscribe to what is ``schema.permissions``' table (checked before a feed starts);
the feeds add the row-level rules: ``instanceEvents`` streams an instance only to a principal
who may see it (``instances.see_all``, or they started it or hold a task of it), and
``taskChanges`` delivers only the tasks the principal may see (every task with
``tasks.see_all``). The socket itself is authenticated in ``connection_init`` and closed
(4403) when its token expires or is revoked (``server.app``, ``server.auth.websocket``).

Bad arguments (an unknown instance, a cursor this API did not give out) are GraphQL errors
with ``extensions.code``, as for queries. See docs/subscriptions.md.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from schema import permissions
from schema.context import Context
from schema.fanout import IdentityCache, shareable
from schema.instances import InstanceStatus
from server import request_metrics
from server.auth.roles import Permission, Principal
from server.bus import GAP, Hub, Payload, SubscriberTooSlow
from server.bus import Subscription as HubSubscription
from server.db import Database
from server.services import feeds
from server.services.errors import NotFound

Info = strawberry.Info[Context, None]
F = TypeVar("F", bound=Callable[..., Any])
SEEN_LIMIT = 10_000  # instances / tasks a feed remembers for dedupe and "left the view" notices


def _subscription(description: str) -> Callable[[F], F]:
    """``strawberry.subscription`` with a description, typed for mypy (as ``schema.fields``)."""
    return cast("Callable[[F], F]", strawberry.subscription(description=description))


def _connected(info: Info, feed: str) -> AbstractContextManager[None]:
    """Counts the subscription as connected while it runs (``server.request_metrics``)."""
    name = info.operation.name
    return request_metrics.subscription_running(feed, None if name is None else name.value)


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _principal(info: Info) -> Principal:
    """The socket's principal (the permission table refuses anonymous callers first: this
    fails closed should a feed ever be reached without it)."""
    principal = info.context.principal
    if principal is None:
        raise _error("authentication required: send a token in connection_init", "unauthenticated")
    return principal


async def _check_instance_visible(info: Info, instance_id: int) -> None:
    """``not_found`` alike for an instance that does not exist and one the principal may not
    see: a feed says nothing about instances outside the caller's view."""
    ctx = info.context
    principal = _principal(info)
    if Permission.INSTANCES_SEE_ALL in principal.permissions:
        return  # the feed's own read says not_found for an unknown id
    row = await ctx.loaders.instance.load(instance_id)
    if row is None or not await permissions.may_see_instance(ctx, instance_id, row.started_by):
        raise _error(f"instance {instance_id} not found", "not_found")


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def _next(subscription: HubSubscription) -> Payload | None:
    """The next payload, None for a gap; a too-slow subscriber gets a clear error."""
    try:
        item = await subscription.get()
    except SubscriberTooSlow as error:
        raise _error(str(error), "subscriber_too_slow") from error
    return None if item is GAP else item  # type: ignore[return-value]  # GAP is the only other


class _Seen(OrderedDict[int, tuple[int, str]]):
    """A bounded memory of what a feed delivered, by id (the oldest forgotten first)."""

    def remember(self, key: int, value: tuple[int, str]) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > SEEN_LIMIT:
            self.popitem(last=False)


# --- one instance's events ------------------------------------------------------------------

_HistoryKey = tuple[int, int, int]  # (id of the database, instance id, after seq)
_running: dict[_HistoryKey, asyncio.Task[feeds.InstanceHistory]] = {}
_joinable: dict[_HistoryKey, asyncio.Task[feeds.InstanceHistory]] = {}


async def _shared_history(db: Database, instance_id: int, after_seq: int) -> feeds.InstanceHistory:
    """``feeds.instance_history``, one query for all who ask the same while one runs.

    Thousands of subscribers opening on one instance at once (a deploy, a reconnect storm)
    otherwise each read the same page: measured, 10,000 subscribers exhausted the database
    pool and timed out. One read of a page runs at a time; whoever asks meanwhile joins the
    next one, which starts when it ends. A read is joined only until it starts: every reader
    subscribed to the hub before asking, so the page is read after all their subscriptions
    and nothing falls between it and their live events. Readers only read the shared page.
    """
    key = (id(db), instance_id, after_seq)  # the db is alive while its reads are
    reading = _joinable.get(key)
    if reading is None:
        reading = asyncio.create_task(
            _read_history(key, _running.get(key), db, instance_id, after_seq)
        )
        _joinable[key] = reading
        reading.add_done_callback(_retrieved)
    return await asyncio.shield(reading)  # one reader leaving does not cancel the others'


async def _read_history(
    key: _HistoryKey,
    previous: asyncio.Task[feeds.InstanceHistory] | None,
    db: Database,
    instance_id: int,
    after_seq: int,
) -> feeds.InstanceHistory:
    if previous is not None:
        await asyncio.wait([previous])
    this = _joinable.pop(key)  # closed to newcomers: they may have subscribed after it starts
    _running[key] = this
    try:
        return await feeds.instance_history(db, instance_id, after_seq)
    finally:
        if _running.get(key) is this:
            del _running[key]


def _retrieved(done: asyncio.Task[feeds.InstanceHistory]) -> None:
    if not done.cancelled():
        done.exception()  # every reader may have left before the read ended


@shareable  # every subscriber of the instance sees the same entry
@strawberry.type(description="One history entry of an instance, live or replayed.")
class InstanceEvent:
    instance_id: int
    seq: int = strawberry.field(description="The cursor: resume with afterSeq set to it.")
    id: int = strawberry.field(description="The entry's global id (instanceChanges' cursor).")
    type: str
    step_id: str | None
    token_id: str | None
    actor: str | None
    at: datetime
    data: JSON | None

    @classmethod
    def from_payload(cls, instance_id: int, entry: Payload) -> InstanceEvent:
        at = _moment(entry["at"])
        assert at is not None
        data = entry.get("data")
        return cls(
            instance_id=instance_id,
            seq=entry["seq"],
            id=entry["id"],
            type=entry["type"],
            step_id=entry.get("step_id"),
            token_id=entry.get("token_id"),
            actor=entry.get("actor"),
            at=at,
            data=None if data is None else JSON(data),
        )


# The entries of the last pages and payloads, each as one object for all its subscribers: the
# executor then runs their selection set once (schema.fanout). Entries are read-only dicts.
_events: IdentityCache[Payload, InstanceEvent] = IdentityCache(4096)


def _event(instance_id: int, entry: Payload) -> InstanceEvent:
    return _events.get(entry, lambda e: InstanceEvent.from_payload(instance_id, e))


class _InstanceStream:
    """The events of one instance after ``last``, in seq order, each once."""

    def __init__(self, db: Database, instance_id: int, last: int) -> None:
        self.db = db
        self.instance_id = instance_id
        self.last = last
        self.ended = False

    def _ends(self, instance: Payload | None) -> None:
        if instance is not None and instance["status"] in feeds.ENDED:
            self.ended = self.last >= instance["seq"]

    async def replay(self) -> AsyncIterator[InstanceEvent]:
        while True:
            try:
                page = await _shared_history(self.db, self.instance_id, self.last)
            except NotFound as error:
                raise _error(error.message, "not_found") from error
            for entry in page.events:
                self.last = entry["seq"]
                yield _event(self.instance_id, entry)
            if len(page.events) < feeds.REPLAY_PAGE:
                self._ends(page.instance)
                return

    async def live(self, payload: Payload) -> AsyncIterator[InstanceEvent]:
        events = payload["events"]
        if events and events[0]["seq"] > self.last + 1:
            # an earlier change has not reached us (published later by another process, or
            # lost): the history has it, and everything up to this payload
            async for event in self.replay():
                yield event
            return
        for entry in events:
            if entry["seq"] > self.last:  # a payload published twice is delivered once
                self.last = entry["seq"]
                yield _event(self.instance_id, entry)
        self._ends(payload["instance"])


async def _instance_events(
    hub: Hub, db: Database, instance_id: int, after_seq: int
) -> AsyncGenerator[InstanceEvent, None]:
    if after_seq < 0:
        raise _error("afterSeq: a sequence number, 0 or more", "invalid_cursor")
    stream = _InstanceStream(db, instance_id, after_seq)
    with hub.subscribe() as subscription:  # before the replay: nothing falls in between
        async for event in stream.replay():
            yield event
        while not stream.ended:
            payload = await _next(subscription)
            if payload is None:
                source = stream.replay()
            elif payload["instance_id"] == instance_id:
                source = stream.live(payload)
            else:
                continue
            async for event in source:
                yield event


# --- instances matching a filter ------------------------------------------------------------


@strawberry.input(description="Which instances instanceChanges reports (all when empty).")
class InstanceChangeFilter:
    definition_key: str | None = None
    status: InstanceStatus | None = None


@strawberry.type(description="An instance as it is after a change.")
class InstanceChange:
    instance_id: int
    seq: int = strawberry.field(description="The instance's last history sequence number.")
    cursor: str = strawberry.field(
        description="The feed's position: resume with `after` set to the last one received."
    )
    definition_key: str
    business_key: str | None
    status: InstanceStatus
    updated_at: datetime
    ended_at: datetime | None

    @classmethod
    def from_payload(cls, instance: Payload, cursor: int) -> InstanceChange:
        updated = _moment(instance["updated_at"])
        assert updated is not None
        return cls(
            instance_id=instance["id"],
            seq=instance["seq"],
            cursor=str(cursor),
            definition_key=instance["definition_key"],
            business_key=instance.get("business_key"),
            status=InstanceStatus(instance["status"]),
            updated_at=updated,
            ended_at=_moment(instance.get("ended_at")),
        )


def _cursor(after: str) -> int:
    if not after.isdigit():
        raise _error("after: not a cursor this API gave out", "invalid_cursor")
    return int(after)


class _ChangeStream:
    """Changes of matching instances; an instance once delivered is reported again when it
    stops matching (its new status tells a list to drop it)."""

    def __init__(self, db: Database, where: feeds.ChangeFilter, position: int) -> None:
        self.db = db
        self.where = where
        self.position = position  # the highest history id covered
        self.seen = _Seen()  # instance id -> (seq, updated_at) delivered

    def _change(self, instance: Payload) -> InstanceChange | None:
        key = (instance["seq"], instance["updated_at"])
        previous = self.seen.get(instance["id"])
        if previous is not None and previous >= key:
            return None  # delivered already (by the replay, or a payload published twice)
        if previous is None and not self.where.matches(instance):
            return None
        self.seen.remember(instance["id"], key)
        return InstanceChange.from_payload(instance, self.position)

    async def replay(self) -> AsyncIterator[InstanceChange]:
        while True:
            page = await feeds.changes_after(self.db, self.position, self.where)
            for found in page:
                self.position = max(self.position, found.cursor)
                change = self._change(found.instance)
                if change is not None:
                    yield change
            if len(page) < feeds.REPLAY_PAGE:
                return

    def live(self, payload: Payload) -> InstanceChange | None:
        instance = payload["instance"]
        if instance is None:
            return None  # a task claimed or assigned: the instance did not change
        for entry in payload["events"]:
            self.position = max(self.position, entry["id"])
        return self._change(instance)


async def _instance_changes(
    hub: Hub, db: Database, where: feeds.ChangeFilter, after: str | None
) -> AsyncGenerator[InstanceChange, None]:
    with hub.subscribe() as subscription:
        if after is None:
            stream = _ChangeStream(db, where, await feeds.last_history_id(db))
        else:
            stream = _ChangeStream(db, where, _cursor(after))
            async for change in stream.replay():
                yield change
        while True:
            payload = await _next(subscription)
            if payload is None:
                async for change in stream.replay():
                    yield change
                continue
            live = stream.live(payload)
            if live is not None:
                yield live


# --- tasks ------------------------------------------------------------------------------------


@strawberry.type(description="A task as it is after a change.")
class TaskChange:
    instance_id: int
    seq: int | None = strawberry.field(
        description="The instance's sequence number after the change; null for a change of "
        "the task alone (claimed, assigned), which moves no instance."
    )
    id: int
    step_id: str
    name: str
    status: str
    assignee: str | None
    candidate_users: list[str]
    candidate_groups: list[str]
    priority: int
    due_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    visible: bool = strawberry.field(
        description="False once the task has left your view (assigned to someone else): "
        "drop it from your list."
    )

    @classmethod
    def from_payload(cls, task: Payload, seq: int | None, *, visible: bool) -> TaskChange:
        created = _moment(task["created_at"])
        assert created is not None
        return cls(
            instance_id=task["instance_id"],
            seq=seq,
            id=task["id"],
            step_id=task["step_id"],
            name=task["name"],
            status=task["status"],
            assignee=task.get("assignee"),
            candidate_users=list(task.get("candidate_users", [])),
            candidate_groups=list(task.get("candidate_groups", [])),
            priority=task["priority"],
            due_at=_moment(task.get("due_at")),
            created_at=created,
            completed_at=_moment(task.get("completed_at")),
            completed_by=task.get("completed_by"),
            visible=visible,
        )


async def _task_changes(hub: Hub, principal: Principal) -> AsyncGenerator[TaskChange, None]:
    see_all = Permission.TASKS_SEE_ALL in principal.permissions
    user, groups = principal.username, tuple(principal.groups)
    shown: set[int] = set()  # tasks delivered as visible: told once when they leave the view
    with hub.subscribe() as subscription:
        while True:
            payload = await _next(subscription)
            if payload is None:
                continue  # nothing to replay: tasks have no cursor (see docs/subscriptions.md)
            instance = payload["instance"]
            seq = None if instance is None else instance["seq"]
            for task in payload["tasks"]:
                visible = see_all or feeds.may_see_task(task, user, groups)
                if visible:
                    shown.add(task["id"])
                    if len(shown) > SEEN_LIMIT:
                        shown.pop()
                elif task["id"] in shown:
                    shown.discard(task["id"])
                    task = {**task, "assignee": None, "candidate_users": [], "candidate_groups": []}
                else:
                    continue
                yield TaskChange.from_payload(task, seq, visible=visible)


# --- dashboard counters -----------------------------------------------------------------------


@strawberry.type(description="Instances of one definition key, by status.")
class DefinitionCounters:
    definition_key: str
    active: int = strawberry.field(description="Running or suspended.")
    completed: int
    failed: int
    cancelled: int


@strawberry.type(description="What a dashboard shows: a fresh snapshot after changes.")
class DashboardCounters:
    definitions: list[DefinitionCounters]
    open_tasks: int
    open_incidents: int

    @classmethod
    def from_counters(cls, counters: feeds.Counters) -> DashboardCounters:
        rows = []
        for key, by_status in sorted(counters.by_definition.items()):
            rows.append(
                DefinitionCounters(
                    definition_key=key,
                    active=by_status.get("running", 0) + by_status.get("suspended", 0),
                    completed=by_status.get("completed", 0),
                    failed=by_status.get("failed", 0),
                    cancelled=by_status.get("cancelled", 0),
                )
            )
        return cls(
            definitions=rows,
            open_tasks=counters.open_tasks,
            open_incidents=counters.open_incidents,
        )


# --- the root type ----------------------------------------------------------------------------


@strawberry.type
class Subscription:
    @_subscription(
        description="The history of one instance after afterSeq (0: from the start), then its "
        "events as they happen; ends after the last event of an ended instance."
    )
    async def instance_events(
        self, info: Info, instance_id: int, after_seq: int = 0
    ) -> AsyncGenerator[InstanceEvent, None]:
        ctx = info.context
        with _connected(info, "instanceEvents"):
            await _check_instance_visible(info, instance_id)  # once: see docs/subscriptions.md
            async for event in _instance_events(ctx.hub, ctx.db, instance_id, after_seq):
                yield event

    @_subscription(
        description="Instances matching the filter as they change. With `after` (a cursor of "
        "this feed), first every matching instance changed since, in its current state."
    )
    async def instance_changes(
        self, info: Info, filter: InstanceChangeFilter | None = None, after: str | None = None
    ) -> AsyncGenerator[InstanceChange, None]:
        with _connected(info, "instanceChanges"):
            if Permission.INSTANCES_SEE_ALL not in _principal(info).permissions:
                # every instance's changes: the table asks instances.see_all; kept here too, as
                # the feed has no row-level rule of its own
                raise permissions.forbidden("not allowed: needs the permission instances.see_all")
            given = filter or InstanceChangeFilter()
            where = feeds.ChangeFilter(
                definition_key=given.definition_key,
                status=None if given.status is None else given.status.value,
            )
            ctx = info.context
            async for change in _instance_changes(ctx.hub, ctx.db, where, after):
                yield change

    @_subscription(
        description="Changes of the tasks the current user may see: assigned to them, or "
        "claimable by them or one of their groups (every task with tasks.see_all)."
    )
    async def task_changes(self, info: Info) -> AsyncGenerator[TaskChange, None]:
        with _connected(info, "taskChanges"):
            async for change in _task_changes(info.context.hub, _principal(info)):
                yield change

    @_subscription(
        description="Instance, task and incident counters: one snapshot at once, then a fresh "
        "one after changes (at most about four a second)."
    )
    async def dashboard_counters(self, info: Info) -> AsyncGenerator[DashboardCounters, None]:
        with _connected(info, "dashboardCounters"):
            async for counters in info.context.counter_feed.watch():
                yield DashboardCounters.from_counters(counters)
