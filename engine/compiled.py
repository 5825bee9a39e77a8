"""A definition compiled for execution: ids resolved, expressions compiled, durations parsed.

Built once by :func:`engine.validation.compile_definition` and then only read, by any number
of instances. Everything the state machine needs per step is precomputed here, so a decision
never parses or compiles anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from engine.definition import FormField, ProcessDefinition, VariableSpec
from engine.expressions import Expression, Value


@dataclass(frozen=True, slots=True)
class Boundary:
    """An event attached to an activity: a timer or an error catch."""

    step_id: str
    target: tuple[str, ...]
    interrupting: bool = True
    duration: timedelta | None = None
    until: Value | None = None
    error_code: str | None = None  # for error boundaries; None catches every code


@dataclass(frozen=True, slots=True)
class Multi:
    """Multi-instance settings of an activity (compiled ``multi_instance``)."""

    items: Value | None
    cardinality: int | None
    element_variable: str
    sequential: bool
    completion: Expression | None
    output_collection: str | None
    synchronize: bool


@dataclass(frozen=True, slots=True)
class CompiledStep:
    id: str
    name: str
    kind: str
    next: tuple[str, ...]
    path: str  # JSON path of the step in its definition, for messages
    timers: tuple[Boundary, ...] = ()
    errors: tuple[Boundary, ...] = ()
    multi: Multi | None = None


@dataclass(frozen=True, slots=True)
class StartStep(CompiledStep):
    pass


@dataclass(frozen=True, slots=True)
class EndStep(CompiledStep):
    terminate: bool = False
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int
    backoff: timedelta
    multiplier: float
    max_backoff: timedelta

    def delay(self, failed_attempt: int) -> timedelta:
        """The wait after attempt ``failed_attempt`` (1-based) failed: deterministic, capped."""
        seconds = self.backoff.total_seconds() * self.multiplier ** (failed_attempt - 1)
        return min(timedelta(seconds=seconds), self.max_backoff)


@dataclass(frozen=True, slots=True)
class ServiceTaskStep(CompiledStep):
    service_name: str = ""
    method: str | None = None
    external: bool = False
    timeout: timedelta = timedelta(seconds=30)
    retry: Retry = Retry(3, timedelta(seconds=1), 2.0, timedelta(minutes=5))
    input: Mapping[str, Value] | None = None
    output: Mapping[str, Value] | None = None


@dataclass(frozen=True, slots=True)
class UserTaskStep(CompiledStep):
    assignee: Value | None = None
    candidate_users: Value | None = None
    candidate_groups: Value | None = None
    due: timedelta | Value | None = None
    priority: Value | None = None
    form: tuple[FormField, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReceiveTaskStep(CompiledStep):
    message: str = ""
    correlation_key: Value | None = None


@dataclass(frozen=True, slots=True)
class CallActivityStep(CompiledStep):
    process: str = ""
    version: str | None = None
    business_key: Value | None = None
    input: Mapping[str, Value] | None = None
    output: Mapping[str, Value] | None = None


@dataclass(frozen=True, slots=True)
class SetVariablesStep(CompiledStep):
    assign: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionalGatewayStep(CompiledStep):
    """Exclusive (first condition that holds) or inclusive (every one that holds)."""

    conditions: tuple[tuple[Expression, str], ...] = ()
    default: str | None = None


@dataclass(frozen=True, slots=True)
class ParallelGatewayStep(CompiledStep):
    branches: tuple[str, ...] = ()
    required: int = 0  # branches that must complete for the join to fire
    cancel_remaining: bool = False


@dataclass(frozen=True, slots=True)
class EventGatewayStep(CompiledStep):
    pass


@dataclass(frozen=True, slots=True)
class TimerStep(CompiledStep):
    """An intermediate timer (a wait); boundary timers are compiled into :class:`Boundary`."""

    duration: timedelta | None = None
    until: Value | None = None


@dataclass(frozen=True, slots=True)
class BoundaryStep(CompiledStep):
    """A boundary event's own node: never entered by a token, kept for lookups and diagrams."""

    attached_to: str = ""


@dataclass(frozen=True, slots=True)
class CompiledDefinition:
    key: str
    name: str
    version: str
    start: str
    steps: Mapping[str, CompiledStep]
    variables: Mapping[str, VariableSpec]
    sensitive: frozenset[str]  # variables masked in the history
    source: ProcessDefinition = field(repr=False, compare=False)

    def step(self, step_id: str) -> CompiledStep:
        return self.steps[step_id]

    def to_json(self) -> dict[str, Any]:
        """The definition as the designer wrote it (defaults filled in), for storage."""
        return self.source.model_dump(mode="json", by_alias=True, exclude_none=True)
