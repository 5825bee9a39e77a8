"""What every resolver gets: the services, the current user, and DataLoaders made for one
operation (a websocket's context lives as long as the socket, so loaders never go there)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from strawberry.dataloader import DataLoader

from server.db import Database
from server.models import Definition, HistoryRecord, Incident, Instance, UserTask
from server.services import batches as loaders
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


@dataclass(slots=True)
class Context:
    workflow: Workflow
    db: Database
    user: str | None
    groups: tuple[str, ...]
    loaders: Loaders


def make_context(
    workflow: Workflow, db: Database, user: str | None, groups: tuple[str, ...] = ()
) -> Context:
    """A context for ONE operation: fresh loaders every call."""
    return Context(workflow, db, user, tuple(groups), make_loaders(db))
