"""The websocket handshake's ``Origin`` check (Starlette's CORS middleware skips websockets).

A browser always sends ``Origin`` and lets any page open a websocket to any server, carrying
the user's cookies: checking it stops cross-site websocket hijacking. Clients that are not
browsers send none and are let through (they authenticate with a token in connection_init).
"""

from __future__ import annotations

from collections.abc import Collection


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    """True for no Origin, an origin in ``allowed`` (scheme://host[:port], any case), or any
    origin when ``allowed`` holds ``*``. ``null`` (sandboxed pages, files) is never allowed
    unless listed."""
    if origin is None:
        return True
    normal = {_normal(item) for item in allowed}
    if "*" in normal and _normal(origin) != "null":
        return True
    return _normal(origin) in normal
