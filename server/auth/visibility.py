"""The row-level rules, for every API layer (GraphQL and REST): which tasks and instances a
principal sees, and whether they see sensitive variables decrypted.

Without ``tasks.see_all`` a principal sees the tasks assigned to them or offered to them or one
of their groups; without ``instances.see_all``, the instances they started or hold such a task
of. A ``Viewer`` narrows a list in SQL (``server.services.queries``); ``may_see_task`` checks one
row already loaded.
"""

from __future__ import annotations

from server.auth.roles import Permission, Principal
from server.models import UserTask
from server.services.queries import Viewer
from server.services.workflow import Starter

P = Permission


def task_viewer(principal: Principal | None) -> Viewer | None:
    """The viewer a task list is narrowed to; None: not narrowed (``tasks.see_all``)."""
    if principal is not None and P.TASKS_SEE_ALL in principal.permissions:
        return None
    return _viewer(principal)


def instance_viewer(principal: Principal | None) -> Viewer | None:
    """The viewer an instance list is narrowed to; None: not narrowed."""
    if principal is not None and P.INSTANCES_SEE_ALL in principal.permissions:
        return None
    return _viewer(principal)


def _viewer(principal: Principal | None) -> Viewer:
    if principal is None:  # the rules refuse anonymous callers first; fail closed anyway
        return Viewer(user="", groups=())
    return Viewer(user=principal.username, groups=tuple(sorted(principal.groups)))


def may_see_task(principal: Principal | None, row: UserTask) -> bool:
    viewer = task_viewer(principal)
    if viewer is None:
        return True
    if not viewer.user:
        return False
    if row.assignee == viewer.user or viewer.user in row.candidate_users:
        return True
    return not set(viewer.groups).isdisjoint(row.candidate_groups)


def starter(principal: Principal | None) -> Starter:
    """Who starts an instance, for the definition's ``starters`` check: those who operate every
    instance may start any definition."""
    if principal is None:  # refused by the rules first; fail closed anyway
        return Starter(username="")
    return Starter(
        username=principal.username,
        groups=frozenset(principal.groups),
        unrestricted=P.INSTANCES_OPERATE in principal.permissions,
    )


def may_see_sensitive(principal: Principal | None) -> bool:
    """Sensitive variables decrypted: for those who operate instances (operator, admin)."""
    return principal is not None and P.INSTANCES_OPERATE in principal.permissions
