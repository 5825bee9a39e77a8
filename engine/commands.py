"""What the engine asks the world to do: the outputs of :func:`engine.decide`.

Ids (``job_id``, ``task_id``, ...) are unique within their instance and deterministic; a
service makes them global by prefixing the instance id. They double as idempotency keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from engine.definition import FormField


@dataclass(frozen=True, slots=True)
class RunServiceTask:
    job_id: str
    token_id: str
    step_id: str
    service_name: str
    method: str | None
    variables: dict[str, Any]
    attempt: int
    max_attempts: int
    timeout_seconds: float
    run_at: datetime | None = None  # a retry waits for its backoff; None: at once
    external: bool = False  # fetched and locked by a client through the API, not run by a worker


@dataclass(frozen=True, slots=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True, slots=True)
class CreateUserTask:
    task_id: str
    token_id: str
    step_id: str
    name: str
    assignee: str | None
    candidate_users: tuple[str, ...]
    candidate_groups: tuple[str, ...]
    due_at: datetime | None
    priority: int
    form: tuple[FormField, ...] | None
    variables: dict[str, Any]  # what the task shows: the instance's variables and its element


@dataclass(frozen=True, slots=True)
class CancelUserTask:
    task_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    timer_id: str
    token_id: str
    step_id: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class SubscribeMessage:
    subscription_id: str
    token_id: str
    step_id: str
    message: str
    correlation_key: str | None


@dataclass(frozen=True, slots=True)
class CancelSubscription:
    subscription_id: str


@dataclass(frozen=True, slots=True)
class StartChildInstance:
    child_id: str
    token_id: str
    step_id: str
    process: str
    version: str | None
    business_key: str | None
    variables: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CancelChildInstance:
    child_id: str


@dataclass(frozen=True, slots=True)
class RaiseIncident:
    incident_id: str
    token_id: str
    step_id: str
    error: str  # a stable code: job_failed, unhandled_error, expression_failed, ...
    message: str


@dataclass(frozen=True, slots=True)
class ResolveIncident:
    incident_id: str
    resolution: str  # retried | cancelled


@dataclass(frozen=True, slots=True)
class InstanceCompleted:
    variables: dict[str, Any]
    terminated_at: str | None = None  # the end event that terminated it, if one did


@dataclass(frozen=True, slots=True)
class InstanceFailed:
    error_code: str
    message: str


@dataclass(frozen=True, slots=True)
class InstanceCancelled:
    reason: str


Command = (
    RunServiceTask
    | CancelJob
    | CreateUserTask
    | CancelUserTask
    | ScheduleTimer
    | CancelTimer
    | SubscribeMessage
    | CancelSubscription
    | StartChildInstance
    | CancelChildInstance
    | RaiseIncident
    | ResolveIncident
    | InstanceCompleted
    | InstanceFailed
    | InstanceCancelled
)


class HistoryEvent(NamedTuple):
    """One transition, for the append-only history; ``seq`` orders an instance's events.

    A named tuple rather than a frozen dataclass: decisions make one per transition, and a
    tuple is built several times faster (measured by make bench-engine)."""

    seq: int
    type: str
    at: datetime
    step_id: str | None = None
    token_id: str | None = None
    actor: str | None = None
    data: dict[str, Any] | None = None
