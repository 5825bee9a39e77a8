"""What HTTP says about bearer tokens (RFC 6750), for every HTTP layer (GraphQL and REST)."""

from __future__ import annotations

from server.auth.errors import AuthError


def bearer(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without the header. Another
    scheme, or an empty token, is an ``invalid_token`` error (not silently anonymous)."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("invalid_token", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def challenge(error: AuthError) -> dict[str, str]:
    """The headers of a refusal: ``WWW-Authenticate`` for a refused token, ``Retry-After``
    for throttled logins."""
    if error.code == "too_many_attempts":
        return {} if error.retry_after is None else {"Retry-After": str(error.retry_after)}
    if error.status != 401:
        return {}
    return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{error.code}"'}
