"""Roles grant permissions, defined once; unknown role names grant nothing. Also the two small
start-up and handshake rules: the signing key (no default) and websocket origins."""

from __future__ import annotations

import pytest

from server.auth.errors import AuthError
from server.auth.origins import origin_allowed
from server.auth.roles import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    can,
    parse_roles,
    require,
)
from server.auth.tokens import KeyConfigError, signing_key

P = Permission


def principal(*roles: Role) -> Principal:
    return Principal(user_id=1, username="u", roles=frozenset(roles))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.USER, {P.DEFINITIONS_READ, P.INSTANCES_START, P.TASKS_WORK}),
        (
            Role.DESIGNER,
            {P.DEFINITIONS_READ, P.INSTANCES_START, P.TASKS_WORK, P.DEFINITIONS_DEPLOY},
        ),
        (
            Role.OPERATOR,
            {P.DEFINITIONS_READ, P.INSTANCES_START, P.TASKS_WORK}
            | {P.INSTANCES_SEE_ALL, P.INSTANCES_OPERATE, P.TASKS_SEE_ALL, P.EXTERNAL_TASKS_WORK},
        ),
        (Role.ADMIN, set(Permission)),
    ],
)
def test_each_role_has_exactly_its_permissions(role: Role, allowed: set[Permission]) -> None:
    assert {p for p in Permission if can(principal(role), p)} == allowed


def test_every_role_is_defined() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_roles_add_up_and_nothing_is_granted_without_one() -> None:
    both = principal(Role.DESIGNER, Role.OPERATOR)
    assert can(both, P.DEFINITIONS_DEPLOY) and can(both, P.INSTANCES_OPERATE)
    assert not can(both, P.USERS_MANAGE)
    assert principal().permissions == frozenset()


def test_require_raises_forbidden() -> None:
    require(principal(Role.ADMIN), P.USERS_MANAGE)
    with pytest.raises(AuthError) as caught:
        require(principal(Role.USER), P.DEFINITIONS_DEPLOY)
    assert (caught.value.code, caught.value.status) == ("forbidden", 403)
    assert "definitions.deploy" in caught.value.message


def test_unknown_role_names_are_ignored() -> None:
    assert parse_roles(["admin", "offline_access", "ADMIN", ""]) == {Role.ADMIN}


def test_websocket_origins() -> None:
    allowed = ["https://app.example", "http://localhost:5173/"]
    assert origin_allowed(None, allowed)  # not a browser
    assert origin_allowed("https://APP.example", allowed)
    assert origin_allowed("http://localhost:5173", allowed)
    assert not origin_allowed("https://evil.example", allowed)
    assert not origin_allowed("https://app.example.evil.example", allowed)
    assert not origin_allowed("null", allowed)
    assert not origin_allowed("https://app.example", [])
    assert origin_allowed("https://any.example", ["*"]) and not origin_allowed("null", ["*"])


def test_the_signing_key_comes_from_the_key_file_or_the_secret_and_there_is_no_default() -> None:
    assert signing_key("s" * 32, None).algorithm == "HS256"
    with pytest.raises(KeyConfigError, match="set JWT_SECRET"):
        signing_key(None, None)
    with pytest.raises(KeyConfigError, match="set JWT_SECRET"):
        signing_key("", None)
