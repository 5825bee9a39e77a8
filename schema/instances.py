"""Process instances: their state, work, incidents and history; starting and steering them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import inspect
from strawberry.scalars import JSON

from schema import fields
from schema.context import Context
from schema.definitions import ProcessDefinition
from schema.errors import (
    ArgumentError,
    ConflictError,
    NotFoundError,
    ValidationFailed,
    attempt,
    validation_failed,
)
from schema.pagination import PageInfo
from schema.permissions import (
    instance_viewer,
    may_see_instance,
    may_see_sensitive,
    may_see_task,
    task_viewer,
)
from server.auth.visibility import starter
from server.crypto import masked
from server.models import HistoryRecord, Instance
from server.models import Incident as IncidentRow
from server.services import queries
from server.services.batches import InstanceData, instance_data_of
from server.services.errors import ServiceError

if TYPE_CHECKING:
    from schema.tasks import Task

Info = strawberry.Info[Context, None]
DEFAULT_PAGE = 20


# the service's enum, registered as the GraphQL enum InstanceOrder (same members, same class)
strawberry.enum(
    queries.InstanceOrder,
    name="InstanceOrder",
    description="The order of an instance list: STARTED (most recently started first), "
    "UPDATED (most recently changed first).",
)


@strawberry.enum
class InstanceStatus(Enum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


@strawberry.type(description="One transition of an instance (append-only, numbered by seq).")
class HistoryEvent:
    seq: int
    type: str
    step_id: str | None
    actor: str | None
    at: datetime
    data: JSON | None

    @classmethod
    def from_row(cls, row: HistoryRecord) -> HistoryEvent:
        return cls(
            seq=row.seq,
            type=row.type,
            step_id=row.step_id,
            actor=row.actor,
            at=row.at,
            data=None if row.data is None else JSON(row.data),
        )


@strawberry.type(description="A step that failed and waits for a retry.")
class Incident:
    id: int
    step_id: str
    error: str
    message: str
    status: str
    created_at: datetime
    resolved_at: datetime | None
    instance_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: IncidentRow) -> Incident:
        assert row.id is not None
        return cls(
            id=row.id,
            step_id=row.step_id,
            error=row.error,
            message=row.message,
            status=row.status,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            instance_id=row.instance_id,
        )

    @fields.field("Its instance (the instances of a page of incidents load in one query).")
    async def instance(self, info: Info) -> ProcessInstance:
        return await load_instance(info, self.instance_id)


@strawberry.type(description="A running (or ended) process instance.")
class ProcessInstance:
    id: int
    business_key: str | None
    definition_key: str = strawberry.field(
        description="The key of the definition it runs (without reading the definition)."
    )
    status: InstanceStatus
    started_at: datetime
    started_by: str | None
    ended_at: datetime | None
    definition_id: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]
    data: strawberry.Private[InstanceData | None]  # None: not loaded with the row

    @classmethod
    def from_row(cls, row: Instance) -> ProcessInstance:
        """From a whole row, or a light one (the instance loader's: no JSON columns)."""
        assert row.id is not None
        light = "state" in inspect(row).unloaded
        return cls(
            id=row.id,
            business_key=row.business_key,
            definition_key=row.definition_key,
            status=InstanceStatus(row.status),
            started_at=row.started_at,
            started_by=row.started_by,
            ended_at=row.ended_at,
            definition_id=row.definition_id,
            parent_id=row.parent_id,
            data=None if light else instance_data_of(row.variables, row.state),
        )

    async def _data(self, info: Info) -> InstanceData:
        if self.data is None:
            self.data = await info.context.loaders.instance_data.load(self.id)
            assert self.data is not None  # the instance exists: its id came from a row
        return self.data

    @fields.field("The instance's variables.")
    async def variables(self, info: Info) -> JSON:
        values = (await self._data(info)).variables
        # Sensitive variables are stored sealed: shown as "***" unless the principal may see
        # them (operators, admins) and the keys are configured. The instance itself is
        # visible already: every path to it applies the row-level rule.
        vault = info.context.workflow.vault
        if may_see_sensitive(info.context.principal) and vault.enabled:
            return JSON(vault.open(self.id, values))
        return JSON(masked(values))

    @fields.field("The steps the instance's tokens are at (a step may appear twice).")
    async def current_steps(self, info: Info) -> list[str]:
        return (await self._data(info)).current_steps

    @fields.field("The definition version the instance runs (pinned at start).")
    async def definition(self, info: Info) -> ProcessDefinition:
        row = await info.context.loaders.definition.load(self.definition_id)
        assert row is not None  # a foreign key: versions are never deleted
        return ProcessDefinition.from_row(row)

    @fields.field("Its user tasks, open and closed, oldest first.")
    async def tasks(self, info: Info) -> list[Annotated[Task, strawberry.lazy("schema.tasks")]]:
        from schema.tasks import Task

        rows = await info.context.loaders.tasks.load(self.id)
        if task_viewer(info.context.principal) is not None:  # row-level rule
            rows = [r for r in rows if may_see_task(info.context.principal, r)]
        return [Task.from_row(r) for r in rows]

    @fields.field("Its incidents, open and resolved, oldest first.")
    async def incidents(self, info: Info) -> list[Incident]:
        rows = await info.context.loaders.incidents.load(self.id)
        return [Incident.from_row(r) for r in rows]

    @fields.field("Every transition, in order.")
    async def history(self, info: Info) -> list[HistoryEvent]:
        return [HistoryEvent.from_row(r) for r in await info.context.loaders.history.load(self.id)]

    @fields.field("The instance that started this one as a sub-process.")
    async def parent(self, info: Info) -> ProcessInstance | None:
        if self.parent_id is None:
            return None
        parent = await load_instance(info, self.parent_id)
        visible = await may_see_instance(info.context, parent.id, parent.started_by)
        return parent if visible else None


async def load_instance(info: Info, instance_id: int) -> ProcessInstance:
    row = await info.context.loaders.instance.load(instance_id)
    assert row is not None  # reached through a foreign key
    return ProcessInstance.from_row(row)


@strawberry.type
class InstanceEdge:
    cursor: str
    node: ProcessInstance


@strawberry.type
class InstanceConnection:
    edges: list[InstanceEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: queries.Page[Instance], order: queries.InstanceOrder
    ) -> InstanceConnection:
        edges = []
        for row in page.items:
            cursor = queries.encode_cursor(order, row)
            edges.append(InstanceEdge(cursor=cursor, node=ProcessInstance.from_row(row)))
        info = PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        return cls(edges=edges, page_info=info)


@strawberry.input
class InstanceFilterInput:
    definition_key: str | None = None
    definition_id: int | None = None
    status: InstanceStatus | None = None
    business_key: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    variables_equal: JSON | None = strawberry.field(
        default=None, description='Variables with these values, e.g. {"region": "EU"}.'
    )
    waiting_at: str | None = strawberry.field(
        default=None, description="A step with open work: a task, job, timer or message wait."
    )

    def to_filter(self) -> queries.InstanceFilter:
        equal: object = self.variables_equal or {}
        if not isinstance(equal, dict):
            raise ArgumentError(
                ServiceError("filter.variablesEqual: a JSON object", code="invalid_filter")
            )
        return queries.InstanceFilter(
            definition_key=self.definition_key,
            definition_id=self.definition_id,
            status=None if self.status is None else self.status.value,
            business_key=self.business_key,
            started_after=self.started_after,
            started_before=self.started_before,
            variables_equal=tuple(sorted(equal.items())),
            waiting_at=self.waiting_at,
        )


@strawberry.type
class InstanceSuccess:
    instance: ProcessInstance


InstanceResult = Annotated[
    InstanceSuccess | ValidationFailed | NotFoundError | ConflictError,
    strawberry.union("InstanceResult"),
]


def _success(row: Instance) -> InstanceSuccess:
    return InstanceSuccess(instance=ProcessInstance.from_row(row))


def _variables(value: object, path: str = "variables") -> dict[str, Any] | ValidationFailed:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return validation_failed(path, "invalid_type", "variables are a JSON object")
    return value


@strawberry.type
class Query:
    @fields.field("Instances, most recently started first unless orderBy says otherwise.")
    async def instances(
        self,
        info: Info,
        filter: InstanceFilterInput | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        order_by: queries.InstanceOrder = queries.InstanceOrder.STARTED,
    ) -> InstanceConnection:
        where = (filter or InstanceFilterInput()).to_filter()
        where = replace(where, visible_to=instance_viewer(info.context.principal))  # row rule
        try:
            async with info.context.db.reading() as session:
                page = await queries.instance_page(
                    session, where, first=first, after=after, order=order_by
                )
        except ServiceError as error:
            raise ArgumentError(error) from error
        for row in page.items:  # a task's instance on this page needs no query
            if row.id is not None:
                info.context.loaders.instance.prime(row.id, row)
        return InstanceConnection.from_page(page, order_by)

    @fields.field("An instance by id; null when none has it.")
    async def instance(self, info: Info, id: int) -> ProcessInstance | None:
        row = await info.context.loaders.instance.load(id)
        if row is None or not await may_see_instance(info.context, id, row.started_by):
            return None  # another's instance is not told apart from none
        return ProcessInstance.from_row(row)


@strawberry.type
class Mutation:
    @fields.mutation("Start an instance: by definition id, or key (+ version).")
    async def start_instance(
        self,
        info: Info,
        definition_id: int | None = None,
        key: str | None = None,
        version: str | None = None,
        business_key: str | None = None,
        variables: JSON | None = None,
    ) -> InstanceResult:
        if definition_id is None and key is None:
            return validation_failed("definitionId", "required", "give a definitionId or a key")
        values = _variables(variables)
        if isinstance(values, ValidationFailed):
            return values
        ctx = info.context
        return await attempt(
            lambda: ctx.workflow.start(
                definition_id=definition_id,
                key=key,
                version=version,
                business_key=business_key,
                variables=values,
                actor=ctx.user,
                starter=starter(ctx.principal),
            ),
            _success,
        )

    @strawberry.mutation
    async def cancel_instance(self, info: Info, id: int, reason: str = "") -> InstanceResult:
        ctx = info.context
        return await attempt(
            lambda: ctx.workflow.cancel(id, reason=reason, actor=ctx.user), _success
        )

    @strawberry.mutation
    async def suspend_instance(self, info: Info, id: int) -> InstanceResult:
        ctx = info.context
        return await attempt(lambda: ctx.workflow.suspend(id, actor=ctx.user), _success)

    @strawberry.mutation
    async def resume_instance(self, info: Info, id: int) -> InstanceResult:
        ctx = info.context
        return await attempt(lambda: ctx.workflow.resume(id, actor=ctx.user), _success)

    @fields.mutation("Set (merge) instance variables.")
    async def set_variables(self, info: Info, id: int, variables: JSON) -> InstanceResult:
        values = _variables(variables)
        if isinstance(values, ValidationFailed):
            return values
        ctx = info.context
        return await attempt(
            lambda: ctx.workflow.set_variables(id, values, actor=ctx.user), _success
        )

    @fields.mutation("Deliver a message to the instance waiting for it.")
    async def send_message(
        self,
        info: Info,
        name: str,
        correlation_key: str | None = None,
        variables: JSON | None = None,
    ) -> InstanceResult:
        values = _variables(variables)
        if isinstance(values, ValidationFailed):
            return values
        ctx = info.context
        return await attempt(
            lambda: ctx.workflow.send_message(
                name, correlation_key=correlation_key, variables=values, actor=ctx.user
            ),
            _success,
        )

    @fields.mutation("Retry the failed step of an incident.")
    async def retry_incident(self, info: Info, id: int) -> InstanceResult:
        ctx = info.context
        return await attempt(lambda: ctx.workflow.retry_incident(id, actor=ctx.user), _success)
