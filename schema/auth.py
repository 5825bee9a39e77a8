"""Logging in and out: tokens for a username and password, their refresh, and who I am.

``login`` and ``refreshToken`` are the only operations an anonymous caller may use (``me``
answers null to them). A refused login or refresh is the ``AuthFailed`` member of the result,
with a stable ``code`` (``invalid_credentials``, ``too_many_attempts`` with ``retryAfter``,
``token_reused``...): see server/auth/errors.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from schema import fields
from schema.context import Context
from server.auth.errors import AuthError
from server.auth.sessions import AuthService, Session
from server.models import utcnow

Info = strawberry.Info[Context, None]


@strawberry.type(description="An access token (Authorization: Bearer) and its refresh token.")
class AuthTokens:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds the access token is valid for.")
    token_type: str = "Bearer"

    @classmethod
    def of(cls, session: Session) -> AuthTokens:
        left = (session.access_expires_at - utcnow()).total_seconds()
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_in=max(0, int(left)),
        )


@strawberry.type(description="Authentication refused; `code` says why.")
class AuthFailed:
    message: str
    code: str
    retry_after: int | None = strawberry.field(
        default=None, description="Seconds to wait before trying again (too_many_attempts)."
    )

    @classmethod
    def of(cls, error: AuthError) -> AuthFailed:
        return cls(message=error.message, code=error.code, retry_after=error.retry_after)


@strawberry.type(description="The refresh token's session has ended.")
class LoggedOut:
    ok: bool = True


@strawberry.type(description="The current principal, and what they may do.")
class Me:
    username: str
    roles: list[str]
    groups: list[str]
    permissions: list[str]


AuthResult = Annotated[AuthTokens | AuthFailed, strawberry.union("AuthResult")]
LogoutResult = Annotated[LoggedOut | AuthFailed, strawberry.union("LogoutResult")]


def _service(info: Info) -> AuthService:
    auth = info.context.auth
    if auth is None:  # a context built without authentication (a bug of the composition)
        raise RuntimeError("no authentication service in the context")
    return auth


async def _tokens(call: Callable[[], Awaitable[Session]]) -> AuthTokens | AuthFailed:
    try:
        return AuthTokens.of(await call())
    except AuthError as error:
        return AuthFailed.of(error)


@strawberry.type
class Query:
    @fields.field("Who the access token is for; null without one.")
    def me(self, info: Info) -> Me | None:
        principal = info.context.principal
        if principal is None:
            return None
        return Me(
            username=principal.username,
            roles=sorted(principal.roles),
            groups=sorted(principal.groups),
            permissions=sorted(principal.permissions),
        )


@strawberry.type
class Mutation:
    @fields.mutation("Log in: tokens for a username and password.")
    async def login(self, info: Info, username: str, password: str) -> AuthResult:
        auth, address = _service(info), info.context.address
        return await _tokens(lambda: auth.login(username, password, address=address))

    @fields.mutation("New tokens for a refresh token, which is used up (rotation).")
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthResult:
        auth = _service(info)
        return await _tokens(lambda: auth.refresh(refresh_token))

    @fields.mutation("End the refresh token's session: its tokens stop working at once.")
    async def logout(self, info: Info, refresh_token: str) -> LogoutResult:
        try:
            await _service(info).logout(refresh_token)
        except AuthError as error:
            return AuthFailed.of(error)
        return LoggedOut()
