"""The service's typed errors: every expected failure is one of these, with a stable code.

The API layers map them to typed GraphQL results and HTTP statuses; anything else is a bug,
logged and answered as an opaque internal error.
"""

from __future__ import annotations

from engine import Problem


class ServiceError(Exception):
    code = "service_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind = kind


class Conflict(ServiceError):
    """The request is valid but the state does not allow it (now): a task already completed,
    an instance no longer running, a business key already used."""

    code = "conflict"


class Forbidden(ServiceError):
    """The caller may not do this to this object (a definition they may not start)."""

    code = "forbidden"


class InvalidInput(ServiceError):
    """The request itself is wrong; ``problems`` says where and why, each one."""

    code = "invalid_input"

    def __init__(self, problems: list[Problem], *, code: str | None = None) -> None:
        summary = "; ".join(str(p) for p in problems[:3])
        super().__init__(summary or "invalid input", code=code)
        self.problems = problems
