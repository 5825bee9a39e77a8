"""The error convention of the whole schema.

- An expected failure (a service ``NotFound``, ``Conflict`` or ``InvalidInput``) of a mutation
  is a member of the mutation's result union: ``NotFoundError``, ``ConflictError`` or
  ``ValidationFailed``. Clients switch on ``__typename``; nothing is written when one comes back.
- A bad argument of a query (a cursor this API did not give out, a page size out of range) is
  a GraphQL error with the service's message and ``extensions.code``, as the GraphQL spec
  treats wrong arguments.
- Anything else is a bug: logged with its traceback and the request id, and answered as a
  GraphQL error that says only ``internal error`` with ``extensions`` ``{"code":
  "internal_error", "requestId": ...}``: the id finds the traceback in the server's log, and
  nothing of the exception (class, message, SQL, paths) reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from engine import Problem as EngineProblem
from server.request_id import current_request_id, new_request_id
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError

INTERNAL_ERROR = "internal error"
INTERNAL_ERROR_CODE = "internal_error"
log = logging.getLogger(__name__)


@strawberry.type(description="One thing wrong with an input, located by a JSON path.")
class Problem:
    path: str
    code: str
    message: str


@strawberry.type(description="The input was refused; `problems` says where and why.")
class ValidationFailed:
    message: str
    code: str
    problems: list[Problem]


@strawberry.type(description="Nothing of this kind has the given id.")
class NotFoundError:
    message: str
    kind: str


@strawberry.type(description="Valid, but the current state does not allow it.")
class ConflictError:
    message: str
    code: str


ExpectedError = ValidationFailed | NotFoundError | ConflictError
T = TypeVar("T")
R = TypeVar("R")


def validation_failed(path: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message=f"{path}: {message}",
        code=code,
        problems=[Problem(path=path, code=code, message=message)],
    )


def expected_error(error: ServiceError) -> ExpectedError:
    if isinstance(error, InvalidInput):
        return ValidationFailed(
            message=error.message,
            code=error.code,
            problems=[_problem(p) for p in error.problems],
        )
    if isinstance(error, NotFound):
        return NotFoundError(message=error.message, kind=error.kind)
    if isinstance(error, Conflict):
        return ConflictError(message=error.message, code=error.code)
    return ConflictError(message=error.message, code=error.code)


def _problem(problem: EngineProblem) -> Problem:
    return Problem(path=problem.path, code=problem.code, message=problem.message)


async def attempt(call: Callable[[], Awaitable[T]], success: Callable[[T], R]) -> R | ExpectedError:
    """Run a service call; its result through ``success``, an expected failure as a typed
    error. Anything else propagates (and is masked and logged)."""
    try:
        result = await call()
    except Forbidden as error:  # as the permission rules refuse: a GraphQL error, not a result
        raise GraphQLError(error.message, extensions={"code": error.code}) from error
    except ServiceError as error:
        return expected_error(error)
    return success(result)


class ArgumentError(GraphQLError):
    """A bad query argument: shown to the client with its code (never masked)."""

    def __init__(self, error: ServiceError) -> None:
        problems = [
            {"path": p.path, "code": p.code, "message": p.message}
            for p in getattr(error, "problems", [])
        ]
        super().__init__(error.message, extensions={"code": error.code, "problems": problems})


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False  # syntax, validation, variable coercion and argument errors: shown
    return True


class MaskInternalErrors(MaskErrors):
    """Logs an unexpected error with its traceback and request id, and hands the client only
    the masked error carrying the same id."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        # outside any request (a test's schema.execute) an id is made, so log and error match
        request_id = current_request_id() or new_request_id()
        original = error.original_error
        log.error(
            "internal error (request %s) at %s: %s",
            request_id,
            ".".join(str(p) for p in error.path or ()) or "(no path)",
            f"{type(original).__name__}: {original}",
            exc_info=original,
        )
        return GraphQLError(
            INTERNAL_ERROR,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": INTERNAL_ERROR_CODE, "requestId": request_id},
        )


def mask_errors() -> MaskErrors:
    return MaskInternalErrors(should_mask_error=_unexpected, error_message=INTERNAL_ERROR)


class Schema(strawberry.Schema):
    """strawberry's schema, leaving unexpected errors to ``MaskInternalErrors`` to log (once,
    with the request id); the others are logged by strawberry as before."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        super().process_errors([e for e in errors if not _unexpected(e)], execution_context)
