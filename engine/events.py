"""What can happen to an instance: the inputs of :func:`engine.decide`.

``actor`` is who caused the event (a user id, a worker, ``None`` for the engine itself); it is
recorded in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class InstanceStarted:
    variables: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceTaskCompleted:
    job_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceTaskFailed:
    """A handler failed. With ``error_code`` it is a business error (routed to an error boundary,
    never retried); without, a technical failure (retried by the step's policy)."""

    job_id: str
    message: str
    error_code: str | None = None
    retryable: bool = True
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class UserTaskCompleted:
    task_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer_id: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class MessageReceived:
    name: str
    variables: dict[str, Any] = field(default_factory=dict)
    correlation_key: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ChildInstanceCompleted:
    child_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ChildInstanceFailed:
    child_id: str
    message: str
    error_code: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    reason: str = ""
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentRetried:
    incident_id: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class VariablesUpdated:
    variables: dict[str, Any]
    actor: str | None = None


Event = (
    InstanceStarted
    | ServiceTaskCompleted
    | ServiceTaskFailed
    | UserTaskCompleted
    | TimerFired
    | MessageReceived
    | ChildInstanceCompleted
    | ChildInstanceFailed
    | CancelRequested
    | IncidentRetried
    | VariablesUpdated
)
