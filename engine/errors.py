"""Typed errors of the engine: each says where (a JSON path) and why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition or an input, located by a JSON path.

    ``code`` is stable and machine-readable (clients switch on it); ``message`` is for the
    process designer and says what to change.
    """

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"


class DefinitionInvalid(EngineError):
    """A definition failed validation; ``problems`` lists every problem, not just the first."""

    code = "definition_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(str(p) for p in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"definition has {len(problems)} problem(s): {summary}{more}")


class EventRejected(EngineError):
    """An event cannot be applied to the instance in its current state.

    Nothing changed: the caller reports the error and keeps the previous state.
    """

    code = "event_rejected"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message)


class StaleEvent(EventRejected):
    """The event answers something that is no longer current (a job retried or cancelled, a
    task already completed, a timer already cancelled). At-least-once delivery makes this
    normal: callers ignore it quietly."""

    code = "stale_event"


class InvalidVariables(EventRejected):
    """Variables given with an event do not match the declared types or the task's form."""

    code = "invalid_variables"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems), code=self.code)
