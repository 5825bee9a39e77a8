"""The root incident list: every incident the principal may see, newest first, filtered and
paged by cursor (an incident's instance is loaded for the whole page at once, by the
operation's instance loader)."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum

import strawberry

from schema import fields
from schema.context import Context
from schema.errors import ArgumentError
from schema.instances import Incident
from schema.pagination import PageInfo
from schema.permissions import instance_viewer
from server.models import Incident as IncidentRow
from server.services import incident_queries, queries
from server.services.errors import ServiceError

Info = strawberry.Info[Context, None]
DEFAULT_PAGE = 20


@strawberry.enum(description="An incident's status: OPEN (waits for a retry) or RESOLVED.")
class IncidentStatus(Enum):
    OPEN = "open"
    RESOLVED = "resolved"


@strawberry.input(description="Which incidents: each condition given must hold.")
class IncidentFilter:
    status: IncidentStatus | None = strawberry.field(
        default=None, description="OPEN or RESOLVED; null: both."
    )
    definition_key: str | None = strawberry.field(
        default=None, description="The key of the definition the incident's instance runs."
    )
    step_id: str | None = strawberry.field(default=None, description="The step that failed.")
    error: str | None = strawberry.field(
        default=None,
        description="The incident's error, a stable code: job_failed (a handler failed), "
        "unhandled_error (a business error no boundary catches: its message names the code), "
        "expression_failed, child_failed...",
    )

    def to_filter(self) -> incident_queries.IncidentFilter:
        return incident_queries.IncidentFilter(
            status=None if self.status is None else self.status.value,
            definition_key=self.definition_key,
            step_id=self.step_id,
            error=self.error,
        )


@strawberry.type
class IncidentEdge:
    cursor: str
    node: Incident


@strawberry.type
class IncidentConnection:
    edges: list[IncidentEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: queries.Page[IncidentRow]) -> IncidentConnection:
        edges = [
            IncidentEdge(
                cursor=queries.encode_cursor(incident_queries.ORDER, row),
                node=Incident.from_row(row),
            )
            for row in page.items
        ]
        info = PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        return cls(edges=edges, page_info=info)


@strawberry.type
class Query:
    @fields.field("Incidents of every instance the principal may see, most recently raised first.")
    async def incidents(
        self,
        info: Info,
        filter: IncidentFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> IncidentConnection:
        where = (filter or IncidentFilter()).to_filter()
        # the instances' row-level rule: the incidents of the instances the principal sees
        where = replace(where, visible_to=instance_viewer(info.context.principal))
        try:
            async with info.context.db.reading() as session:
                page = await incident_queries.incident_page(
                    session, where, first=first, after=after
                )
        except ServiceError as error:
            raise ArgumentError(error) from error
        return IncidentConnection.from_page(page)
