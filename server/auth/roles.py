"""Roles and permissions, defined once, as data.

The API checks permissions, never role names: a rule written as ``can(p, DEFINITIONS_DEPLOY)``
keeps meaning the same thing when a role gains or loses a permission here. Row-level rules
(a user sees only tasks assigned to them or their candidate groups) are the queries' business;
``tasks.see_all`` is what lifts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from server.auth.errors import AuthError


class Permission(StrEnum):
    DEFINITIONS_READ = "definitions.read"
    DEFINITIONS_DEPLOY = "definitions.deploy"
    INSTANCES_START = "instances.start"
    INSTANCES_SEE_ALL = "instances.see_all"
    # cancel, suspend, resume, retry incidents, set variables
    INSTANCES_OPERATE = "instances.operate"
    TASKS_SEE_ALL = "tasks.see_all"
    # see, claim and complete tasks assigned to oneself or one's candidate groups
    TASKS_WORK = "tasks.work"
    USERS_MANAGE = "users.manage"
    # fetch, lock, complete and fail external tasks: an external worker logs in as a user
    # holding it (operator or admin), e.g. a service account made with `users create`
    EXTERNAL_TASKS_WORK = "external_tasks.work"


class Role(StrEnum):
    ADMIN = "admin"
    DESIGNER = "designer"
    OPERATOR = "operator"
    USER = "user"


_USER = frozenset({Permission.DEFINITIONS_READ, Permission.INSTANCES_START, Permission.TASKS_WORK})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.USER: _USER,
    Role.DESIGNER: _USER | {Permission.DEFINITIONS_DEPLOY},
    Role.OPERATOR: _USER
    | {
        Permission.INSTANCES_SEE_ALL,
        Permission.INSTANCES_OPERATE,
        Permission.TASKS_SEE_ALL,
        Permission.EXTERNAL_TASKS_WORK,
    },
    Role.ADMIN: frozenset(Permission),
}


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """The known roles among ``names`` (stored rows, an external issuer's claim); others are
    ignored, so that an issuer's own roles (``offline_access``) grant nothing here."""
    known = {role.value: role for role in Role}
    return frozenset(known[name] for name in names if name in known)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. ``user_id`` is None for a user known only to an external OIDC
    issuer; ``session_id`` is the refresh-token family of a local login (for logout)."""

    user_id: int | None
    username: str
    roles: frozenset[Role]
    groups: frozenset[str] = frozenset()
    session_id: str | None = None
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        granted = frozenset(p for role in self.roles for p in ROLE_PERMISSIONS[role])
        object.__setattr__(self, "permissions", granted)


def can(principal: Principal, permission: Permission) -> bool:
    return permission in principal.permissions


def require(principal: Principal, permission: Permission) -> None:
    """Raise ``forbidden`` unless the principal has the permission."""
    if permission not in principal.permissions:
        raise AuthError("forbidden", f"not allowed: needs the permission {permission.value}")
