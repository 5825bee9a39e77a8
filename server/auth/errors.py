"""Authentication's typed errors: one class, a stable ``code`` for clients to switch on.

They are ``ServiceError``s so that the API layers' existing mapping already answers them as
expected errors (never a 500). Messages are safe to show: a rejected token says which rule it
broke (expired, wrong audience), never what a signature check saw, and a failed login never
says whether the user exists.
"""

from __future__ import annotations

from typing import Literal

from server.services.errors import ServiceError

AuthCode = Literal[
    "invalid_token",  # malformed, bad signature, wrong algorithm, unknown key, missing claim
    "token_expired",
    "token_not_yet_valid",
    "invalid_audience",
    "invalid_issuer",
    "token_revoked",  # logged out, or the user disabled / logged out everywhere
    "token_reused",  # a rotated refresh token presented again: its session is revoked
    "invalid_credentials",
    "too_many_attempts",
    "forbidden",
    "issuer_unavailable",  # the external issuer's keys could not be fetched
]


class AuthError(ServiceError):
    """A request that is not authenticated (or not allowed); ``retry_after`` (seconds) is set
    with ``too_many_attempts``, for a ``Retry-After`` header."""

    code: str = "invalid_token"

    def __init__(self, code: AuthCode, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        """The HTTP status a REST facade should answer with."""
        if self.code == "too_many_attempts":
            return 429
        if self.code == "forbidden":
            return 403
        if self.code == "issuer_unavailable":
            return 503
        return 401
