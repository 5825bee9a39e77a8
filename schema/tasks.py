"""User tasks: the lists people work from, claiming and completing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema import fields
from schema.context import Context
from schema.errors import (
    ArgumentError,
    ConflictError,
    NotFoundError,
    ValidationFailed,
    attempt,
    validation_failed,
)
from schema.pagination import PageInfo
from schema.permissions import forbidden, may_see_task, task_viewer
from server.models import UserTask
from server.services import queries
from server.services.errors import ServiceError

if TYPE_CHECKING:
    from schema.instances import ProcessInstance

Info = strawberry.Info[Context, None]
DEFAULT_PAGE = 20

# the service's enum, registered as the GraphQL enum TaskOrder (same members, same class)
strawberry.enum(
    queries.TaskOrder,
    name="TaskOrder",
    description="The order of a task list: CREATED (newest first), DUE (soonest due first; "
    "tasks without a due date last), PRIORITY (highest first, then newest).",
)


@strawberry.type(description="A field of a task's form: what completing the task asks for.")
class FormField:
    id: str
    label: str
    type: str
    required: bool
    values: list[str] = strawberry.field(description="The choices of an enum field.")
    description: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormField:
        return cls(
            id=str(data["id"]),
            label=str(data.get("label", "")),
            type=str(data.get("type", "string")),
            required=bool(data.get("required", False)),
            values=[str(v) for v in data.get("values", [])],
            description=str(data.get("description", "")),
        )


@strawberry.type(description="Work for a person; open until completed or withdrawn.")
class Task:
    id: int
    name: str
    step_id: str
    status: str
    assignee: str | None
    candidate_users: list[str]
    candidate_groups: list[str]
    due_at: datetime | None
    priority: int
    form: list[FormField]
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    instance_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: UserTask) -> Task:
        assert row.id is not None
        return cls(
            id=row.id,
            name=row.name,
            step_id=row.step_id,
            status=row.status,
            assignee=row.assignee,
            candidate_users=list(row.candidate_users),
            candidate_groups=list(row.candidate_groups),
            due_at=row.due_at,
            priority=row.priority,
            form=[FormField.from_json(f) for f in row.form or []],
            created_at=row.created_at,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            instance_id=row.instance_id,
        )

    @strawberry.field
    async def instance(
        self, info: Info
    ) -> Annotated[ProcessInstance, strawberry.lazy("schema.instances")]:
        from schema.instances import load_instance

        return await load_instance(info, self.instance_id)


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: queries.Page[UserTask], order: queries.TaskOrder) -> TaskConnection:
        edges = []
        for row in page.items:
            cursor = queries.encode_cursor(order, row)
            edges.append(TaskEdge(cursor=cursor, node=Task.from_row(row)))
        info = PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        return cls(edges=edges, page_info=info)


@strawberry.input
class TaskFilterInput:
    status: str | None = strawberry.field(
        default="open", description="The status: open unless given; null for every status."
    )
    assignee: str | None = None
    assigned_to_me: bool = strawberry.field(
        default=False, description="Only tasks assigned to the current user."
    )
    claimable_by_me: bool = strawberry.field(
        default=False,
        description="Only tasks the current user may claim: as a candidate user or through "
        "one of the user's groups.",
    )
    candidate_group: str | None = None
    candidate_groups: list[str] | None = None
    instance_id: int | None = None
    due_before: datetime | None = None

    def to_filter(self, user: str | None, groups: tuple[str, ...]) -> queries.TaskFilter:
        if (self.assigned_to_me or self.claimable_by_me) and user is None:
            raise ArgumentError(
                ServiceError("filter: no current user (log in)", code="no_current_user")
            )
        wanted = list(self.candidate_groups or [])
        if self.candidate_group is not None:
            wanted.append(self.candidate_group)
        candidate_user = None
        if self.claimable_by_me:
            candidate_user = user
            wanted.extend(groups)
        return queries.TaskFilter(
            status=self.status,
            assignee=user if self.assigned_to_me else self.assignee,
            candidate_user=candidate_user,
            candidate_groups=tuple(dict.fromkeys(wanted)),
            instance_id=self.instance_id,
            due_before=self.due_before,
        )


@strawberry.type
class TaskSuccess:
    task: Task


TaskResult = Annotated[
    TaskSuccess | ValidationFailed | NotFoundError | ConflictError,
    strawberry.union("TaskResult"),
]


def _success(row: UserTask) -> TaskSuccess:
    return TaskSuccess(task=Task.from_row(row))


def _no_user() -> ConflictError:
    return ConflictError(message="no current user (log in)", code="no_current_user")


async def _check_visible(info: Info, task_id: int) -> None:
    """A task the principal may not see is refused as ``forbidden`` (an unknown id is left to
    the service's NotFoundError)."""
    ctx = info.context
    if task_viewer(ctx.principal) is None:
        return
    async with ctx.db.reading() as session:
        row = await session.get(UserTask, task_id)
    if row is not None and not may_see_task(ctx.principal, row):
        raise forbidden("not allowed: the task is neither assigned nor offered to you")


@strawberry.type
class Query:
    @fields.field("Tasks, newest first unless orderBy says otherwise.")
    async def tasks(
        self,
        info: Info,
        filter: TaskFilterInput | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        order_by: queries.TaskOrder = queries.TaskOrder.CREATED,
    ) -> TaskConnection:
        ctx = info.context
        where = (filter or TaskFilterInput()).to_filter(ctx.user, ctx.groups)
        where = replace(where, visible_to=task_viewer(ctx.principal))  # row-level rule
        try:
            async with ctx.db.reading() as session:
                page = await queries.task_page(
                    session, where, first=first, after=after, order=order_by
                )
        except ServiceError as error:
            raise ArgumentError(error) from error
        return TaskConnection.from_page(page, order_by)

    @fields.field("A task by id; null when none has it.")
    async def task(self, info: Info, id: int) -> Task | None:
        async with info.context.db.reading() as session:
            row = await session.get(UserTask, id)
        if row is None or not may_see_task(info.context.principal, row):
            return None  # another's task is not told apart from none
        return Task.from_row(row)


@strawberry.type
class Mutation:
    @fields.mutation("Take an open task: it is then assigned to the current user.")
    async def claim_task(self, info: Info, id: int) -> TaskResult:
        ctx = info.context
        user = ctx.user
        if user is None:
            return _no_user()
        await _check_visible(info, id)
        return await attempt(lambda: ctx.workflow.claim(id, user), _success)

    @strawberry.mutation
    async def unclaim_task(self, info: Info, id: int) -> TaskResult:
        ctx = info.context
        await _check_visible(info, id)
        return await attempt(lambda: ctx.workflow.unclaim(id), _success)

    @fields.mutation("Assign an open task to a user (null: to nobody).")
    async def assign_task(self, info: Info, id: int, assignee: str | None) -> TaskResult:
        ctx = info.context
        return await attempt(lambda: ctx.workflow.assign(id, assignee), _success)

    @fields.mutation("Complete a task; variables are checked against its form.")
    async def complete_task(self, info: Info, id: int, variables: JSON | None = None) -> TaskResult:
        if variables is not None and not isinstance(variables, dict):
            return validation_failed("variables", "invalid_type", "variables are a JSON object")
        values: dict[str, Any] = variables or {}
        ctx = info.context
        await _check_visible(info, id)
        return await attempt(
            lambda: ctx.workflow.complete_task(id, values, actor=ctx.user), _success
        )
