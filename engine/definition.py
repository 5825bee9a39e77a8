"""The definition language: what a process designer writes, as pydantic models.

The shape is the seed's: a definition has ``name``, ``description``, ``version``, typed
``variables`` and ``steps``; each step has ``id``, ``name``, ``type``, ``config`` and ``next``
(a list, or a single id). These models check the shape only; the graph, the expressions and
the durations are checked by :mod:`engine.validation`, which reports every problem at once.

The JSON Schema published for editors is generated from these models
(:func:`definition_json_schema`), so the two cannot drift.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
KEY_PATTERN = r"^[A-Za-z0-9_.\-]+$"
EXPRESSION_PATTERN = r"^\s*\$\{.*\}\s*$"

StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN, min_length=1, max_length=128)]
VariableName = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=128)]
Duration = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="'30s', '2h', '1h30m', '500ms', '3d', or ISO-8601 such as 'PT2H'",
        examples=["30s", "2h", "1h30m", "PT2H"],
    ),
]
ExpressionText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="A CEL expression, written ${...} as in the seed: ${amount > 1000}",
        examples=["${amount > 1000}"],
    ),
]


def _priority(value: Any) -> Any:
    in_range = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
    if in_range or (isinstance(value, str) and re.fullmatch(EXPRESSION_PATTERN, value, re.DOTALL)):
        return value
    raise PydanticCustomError(
        "invalid_priority",
        "priority is a whole number from 0 to 100, or ${...}; got {given}",
        {"given": repr(value)},
    )


Priority = Annotated[
    int | str,
    PlainValidator(_priority),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 100},
                {"type": "string", "pattern": EXPRESSION_PATTERN},
            ]
        }
    ),
]

VariableType = Literal[
    "string", "number", "integer", "boolean", "object", "array", "date", "datetime", "any"
]
FormFieldType = Literal[
    "string", "number", "integer", "boolean", "object", "array", "date", "datetime", "enum"
]


def _as_list(value: Any) -> Any:
    """The seed writes ``next`` as a list; a single id is accepted too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


Next = Annotated[list[StepId], BeforeValidator(_as_list)]


def _number_as_text(value: Any) -> Any:
    """YAML reads ``version: 1.0`` as a number; a version is text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableSpec(_Model):
    """A declared process variable, when more than its type is needed."""

    type: VariableType
    required: bool = Field(False, description="Starting an instance without it is refused")
    default: Any = Field(None, description="Used when the instance is started without it")
    description: str = ""
    sensitive: bool = Field(False, description="Encrypted at rest and masked in history")


# --- step configurations -------------------------------------------------------------------


class RetryPolicy(_Model):
    """How a failing service task is retried before an incident is raised."""

    max_attempts: int = Field(3, ge=1, le=100, description="Attempts in all, the first included")
    backoff: Duration = Field("1s", description="Wait before the second attempt")
    backoff_multiplier: float = Field(2.0, ge=1.0, le=10.0)
    max_backoff: Duration = "5m"


class ServiceTaskConfig(_Model):
    service_name: str = Field(min_length=1, max_length=200)
    method: str | None = Field(None, min_length=1, max_length=200)
    external: bool = Field(
        False,
        description="The handler lives outside the engine: any client fetches and locks the "
        "job through the API by topic (the service_name), in any language",
    )
    timeout: Duration = Field("30s", description="The handler is stopped and retried after this")
    retry: RetryPolicy = RetryPolicy()
    input: dict[VariableName, Any] | None = Field(
        None, description="Variables given to the handler (values or ${...}); default: all"
    )
    output: dict[VariableName, Any] | None = Field(
        None,
        description="Process variables set from the handler's result, as ${result.field}; "
        "default: the whole result is merged",
    )


class FormField(_Model):
    id: VariableName
    label: str = ""
    type: FormFieldType = "string"
    required: bool = False
    values: list[str] = Field(default_factory=list, description="The choices of an enum field")
    description: str = ""


class Form(_Model):
    fields: list[FormField] = Field(min_length=1)


class UserTaskConfig(_Model):
    assignee: str | None = Field(None, description="A user id, or ${...}")
    candidate_users: list[str] | ExpressionText = Field(default_factory=list)
    candidate_groups: list[str] | ExpressionText = Field(default_factory=list)
    due: str | None = Field(None, description="A duration after creation, or ${...} giving a date")
    priority: Priority = Field(50, description="0 (lowest) to 100 (highest), or ${...}")
    form: Form | None = None


class Condition(_Model):
    expression: ExpressionText
    next: StepId


class ExclusiveGatewayConfig(_Model):
    conditions: list[Condition] = Field(default_factory=list)
    default: StepId | None = Field(None, description="Taken when no condition holds")


class InclusiveGatewayConfig(_Model):
    conditions: list[Condition] = Field(default_factory=list)
    default: StepId | None = Field(None, description="Taken when no condition holds")


class ParallelGatewayConfig(_Model):
    parallel_tasks: list[StepId] = Field(default_factory=list)
    join_condition: str = Field(
        "all_complete",
        description="'all_complete', 'any_complete', or 'N_of_M' (e.g. '2_of_3')",
        examples=["all_complete", "any_complete", "2_of_3"],
    )
    cancel_remaining: bool | None = Field(
        None,
        description="Withdraw the branches still running once the join fires "
        "(default: yes for any_complete and N_of_M)",
    )


class EventGatewayConfig(_Model):
    pass


class TimerEventConfig(_Model):
    duration: Duration | None = None
    until: str | None = Field(None, description="An ISO-8601 date-time, or ${...} giving one")
    action: StepId | None = Field(None, description="The step to go to when the timer fires")
    attached_to: StepId | None = Field(None, description="Makes this a boundary timer on that task")
    interrupting: bool = Field(
        True, description="Boundary only: leave the task (escalate) or keep it (remind)"
    )


class ErrorEventConfig(_Model):
    attached_to: StepId
    error_code: str | None = Field(None, description="The code caught; none catches every code")


class ReceiveTaskConfig(_Model):
    message: str = Field(min_length=1, max_length=200)
    correlation_key: str | None = Field(None, description="A value, or ${...}, the message names")


class SetVariablesConfig(_Model):
    assign: dict[VariableName, Any] = Field(min_length=1)


class CallActivityConfig(_Model):
    process: str = Field(min_length=1, max_length=200, description="The called definition's key")
    version: str | None = Field(None, description="Default: the latest version")
    business_key: str | None = None
    input: dict[VariableName, Any] | None = Field(None, description="Default: all variables")
    output: dict[VariableName, Any] | None = Field(
        None, description="As ${result.x} over the child's variables; default: all of them"
    )


class EndEventConfig(_Model):
    terminate: bool = Field(False, description="End the whole instance, cancelling what runs")
    error_code: str | None = Field(None, description="Fail the instance with this error")


class MultiInstance(_Model):
    """Run the step once per element of a list (or ``cardinality`` times)."""

    for_each: str | list[Any] | None = Field(
        None, description="A list variable's name, ${...} giving a list, or a literal list"
    )
    cardinality: int | None = Field(None, ge=0, le=10_000)
    element_variable: VariableName = "item"
    mode: Literal["parallel", "sequential"] = "parallel"
    completion_condition: ExpressionText | None = None
    output_collection: VariableName | None = None
    synchronize: bool = Field(
        True, description="Wait for the instances before going on (false: go on at once)"
    )


# --- steps ------------------------------------------------------------------------------------


class _Step(_Model):
    id: StepId
    name: str = ""
    description: str = ""
    next: Next = Field(default_factory=list)


class StartEvent(_Step):
    type: Literal["start_event"]
    config: EventGatewayConfig = EventGatewayConfig()


class EndEvent(_Step):
    type: Literal["end_event"]
    config: EndEventConfig = EndEventConfig()


class ServiceTask(_Step):
    type: Literal["service_task"]
    config: ServiceTaskConfig
    multi_instance: MultiInstance | None = None


class UserTask(_Step):
    type: Literal["user_task"]
    config: UserTaskConfig = UserTaskConfig()
    multi_instance: MultiInstance | None = None


class ReceiveTask(_Step):
    type: Literal["receive_task"]
    config: ReceiveTaskConfig
    multi_instance: MultiInstance | None = None


class CallActivity(_Step):
    type: Literal["call_activity"]
    config: CallActivityConfig
    multi_instance: MultiInstance | None = None


class SetVariables(_Step):
    type: Literal["set_variables"]
    config: SetVariablesConfig


class ExclusiveGateway(_Step):
    type: Literal["exclusive_gateway"]
    config: ExclusiveGatewayConfig


class InclusiveGateway(_Step):
    type: Literal["inclusive_gateway"]
    config: InclusiveGatewayConfig


class ParallelGateway(_Step):
    type: Literal["parallel_gateway"]
    config: ParallelGatewayConfig


class EventGateway(_Step):
    type: Literal["event_gateway"]
    config: EventGatewayConfig = EventGatewayConfig()


class TimerEvent(_Step):
    type: Literal["timer_event"]
    config: TimerEventConfig


class ErrorEvent(_Step):
    type: Literal["error_event"]
    config: ErrorEventConfig


Step = Annotated[
    StartEvent
    | EndEvent
    | ServiceTask
    | UserTask
    | ReceiveTask
    | CallActivity
    | SetVariables
    | ExclusiveGateway
    | InclusiveGateway
    | ParallelGateway
    | EventGateway
    | TimerEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

STEP_TYPES: tuple[str, ...] = (
    "start_event",
    "end_event",
    "service_task",
    "user_task",
    "receive_task",
    "call_activity",
    "set_variables",
    "exclusive_gateway",
    "inclusive_gateway",
    "parallel_gateway",
    "event_gateway",
    "timer_event",
    "error_event",
)
ACTIVITY_TYPES = frozenset({"service_task", "user_task", "receive_task", "call_activity"})


class Starters(_Model):
    """Who may start instances of a process (besides those who operate every instance)."""

    users: list[Annotated[str, Field(min_length=1, max_length=150)]] = Field(
        default_factory=list, description="Usernames"
    )
    groups: list[Annotated[str, Field(min_length=1, max_length=150)]] = Field(
        default_factory=list, description="Groups: any member may start it"
    )


class ProcessDefinition(_Model):
    """A process as a designer writes it (JSON or YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    json_schema: str | None = Field(None, alias="$schema", description="For editors; ignored")
    key: str | None = Field(
        None,
        pattern=KEY_PATTERN,
        max_length=128,
        description="Groups the versions of one process; default: the name",
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: Annotated[str, BeforeValidator(_number_as_text)] = Field(
        "1.0.0", min_length=1, max_length=64
    )
    variables: dict[VariableName, VariableType | VariableSpec] = Field(default_factory=dict)
    start: StepId | None = Field(
        None, description="The first step; default: the start_event, else the first step listed"
    )
    steps: list[Step]
    starters: Starters | None = Field(
        None,
        description="Who may start it; absent: every user allowed to start instances",
    )


def definition_json_schema() -> dict[str, Any]:
    """The language as JSON Schema (draft 2020-12), for editors' completion and checks."""
    schema = ProcessDefinition.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://workflow-engine.dev/schemas/definition.schema.json",
        **schema,
    }
