"""What every resolver gets: the services, the current principal (None: anonymous), the
authentication service, the live feeds (the process's event hub and its shared counter feed)
and DataLoaders made for one operation.

A websocket's context lives as long as the socket and is shared by every operation on it, so
the loaders are not stored in it: ``Context.loaders`` hands out one set per operation, kept in
a context variable of the operation's own asyncio task (strawberry runs each websocket
operation in a task of its own; an HTTP request gets a new context anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from server.auth.roles import Principal
from server.auth.sessions import AuthService
from server.bus import Hub
from server.db import Database
from server.models import Definition, HistoryRecord, Incident, Instance, UserTask
from server.services import batches as loaders
from server.services.feeds import CounterFeed
from server.services.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Loaders:
    definition: DataLoader[int, Definition | None]
    instance: DataLoader[int, Instance | None]  # without the JSON columns: see instance_data
    instance_data: DataLoader[int, loaders.InstanceData | None]  # variables, current steps
    tasks: DataLoader[int, list[UserTask]]  # by instance id
    incidents: DataLoader[int, list[Incident]]  # by instance id
    history: DataLoader[int, list[HistoryRecord]]  # by instance id, ordered by seq
    versions: DataLoader[str, list[Definition]]  # by definition key, newest first


def make_loaders(db: Database) -> Loaders:
    return Loaders(
        definition=DataLoader(load_fn=partial(loaders.definitions, db)),
        instance=DataLoader(load_fn=partial(loaders.instances, db)),
        instance_data=DataLoader(load_fn=partial(loaders.instance_data, db)),
        tasks=DataLoader(load_fn=partial(loaders.tasks, db)),
        incidents=DataLoader(load_fn=partial(loaders.incidents, db)),
        history=DataLoader(load_fn=partial(loaders.history, db)),
        versions=DataLoader(load_fn=partial(loaders.versions, db)),
    )


# (the context the loaders belong to, the loaders): per asyncio task, i.e. per operation
_operation_loaders: ContextVar[tuple[Context, Loaders] | None] = ContextVar(
    "operation_loaders", default=None
)


@dataclass(slots=True)
class Context:
    workflow: Workflow
    db: Database
    # who the operation acts for (None: anonymous); a websocket sets it at connection_init
    principal: Principal | None
    hub: Hub = field(default_factory=Hub)  # the process's fan-out (the app passes its bus's)
    counters: CounterFeed | None = None  # shared by the process; see make_context
    auth: AuthService | None = None  # login, refresh, logout (None: a context without them)
    address: str | None = None  # the client's address: failed logins are throttled by it
    _connection_params: dict[str, Any] | None = None

    @property
    def loaders(self) -> Loaders:
        """This operation's loaders (made on first use)."""
        current = _operation_loaders.get()
        if current is not None and current[0] is self:
            return current[1]
        made = make_loaders(self.db)
        _operation_loaders.set((self, made))
        return made

    @property
    def connection_params(self) -> dict[str, Any] | None:
        return self._connection_params

    @connection_params.setter
    def connection_params(self, payload: dict[str, Any] | None) -> None:
        """The websocket's ``connection_init`` payload (strawberry sets it); the principal
        is taken from it by the app's websocket authentication, not here."""
        self._connection_params = payload

    @property
    def user(self) -> str | None:
        return None if self.principal is None else self.principal.username

    @property
    def groups(self) -> tuple[str, ...]:
        return () if self.principal is None else tuple(sorted(self.principal.groups))

    @property
    def counter_feed(self) -> CounterFeed:
        if self.counters is None:  # a context built without the app's (tests): its own
            self.counters = CounterFeed(self.db, self.hub)
        return self.counters


def make_context(
    workflow: Workflow,
    db: Database,
    principal: Principal | None = None,
    *,
    hub: Hub | None = None,
    counters: CounterFeed | None = None,
    auth: AuthService | None = None,
    address: str | None = None,
) -> Context:
    """A context for one HTTP operation, or one websocket connection: pass the process's
    ``hub`` and ``counters`` (a single counter feed serves every dashboard of the process)."""
    return Context(workflow, db, principal, hub or Hub(), counters, auth, address)


class OperationLoaders(SchemaExtension):
    """Fresh loaders at the start of every operation, in the operation's own task: the
    resolvers' tasks (graphql-core gathers fields in child tasks) inherit them, so one
    operation batches its loads, and no two operations share a cache."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            _operation_loaders.set((context, make_loaders(context.db)))
        yield
