"""Reading incidents across every instance: the root incident list (Camunda Cockpit's), newest
first, filtered, paged by the keyset cursors of ``server.services.queries``.

A page is one range scan of an incident index walked backwards, ``ix_incidents_status_created``
(status, created_at, id) with a status, ``ix_incidents_created`` (created_at, id) without one;
the instance is joined by its primary key only when a filter or the row-level rule needs it.
The step and error filters are checked on the rows the scan reads: a list of incidents is
short next to the instances (most of 100,000 instances never fail).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.models import Incident, Instance
from server.services.queries import IncidentOrder, Page, Viewer, instance_visible_to, keyset_page

ORDER = IncidentOrder.CREATED


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Every given condition holds; ``visible_to`` narrows the list to the incidents of the
    instances that viewer may see (``server.auth.visibility.instance_viewer``)."""

    status: str | None = None  # open | resolved; None: both
    definition_key: str | None = None  # of the incident's instance
    step_id: str | None = None
    error: str | None = None  # a stable code: job_failed, unhandled_error, ...
    visible_to: Viewer | None = None


async def incident_page(
    session: AsyncSession,
    where: IncidentFilter,
    *,
    first: int = 20,
    after: str | None = None,
) -> Page[Incident]:
    """Incidents, newest first (by when they were raised, then id)."""
    query = select(Incident)
    for column, value in (
        (Incident.status, where.status),
        (Incident.step_id, where.step_id),
        (Incident.error, where.error),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if where.definition_key is not None or where.visible_to is not None:
        query = query.join(Instance, col(Instance.id) == col(Incident.instance_id))
        if where.definition_key is not None:
            query = query.where(col(Instance.definition_key) == where.definition_key)
        if where.visible_to is not None:
            query = query.where(instance_visible_to(where.visible_to))
    return await keyset_page(session, query, Incident, ORDER, first=first, after=after)
