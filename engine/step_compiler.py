"""Compiling one step of a valid-shaped definition: its expressions, durations, mappings,
and the variables its expressions may read (declared, or set by a step that can come before).
Problems are reported to the owner (the validation pass), never raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine import compiled as c
from engine import definition as d
from engine.durations import DurationError, parse_duration
from engine.errors import Problem
from engine.expressions import (
    Expression,
    ExpressionError,
    Literal,
    Value,
    compile_expression,
    compile_value,
    is_expression,
)

_N_OF_M = re.compile(r"(\d+)_of_(\d+)")
_MI_VARIABLES = frozenset(
    {"loop_counter", "nr_of_instances", "nr_of_completed_instances", "nr_of_active_instances"}
)


class Owner(Protocol):
    """What a step compiler needs from the validation pass."""

    steps: dict[str, tuple[int, d.Step]]
    variables: dict[str, d.VariableSpec] | None

    def problem(self, path: str, code: str, message: str) -> None: ...


class StepCompiler:
    """Compiles one step: its expressions, durations and the variables they may read."""

    def __init__(
        self, owner: Owner, step: d.Step, index: int, predecessors: Mapping[str, set[str]]
    ) -> None:
        self.owner = owner
        self.step = step
        self.base = f"$.steps[{index}]"
        self.known = self._known_variables(predecessors)
        self.optional_fields = {
            f.id: ancestor
            for ancestor in sorted(predecessors.get(step.id, set()))
            for f in _form_fields(owner.steps.get(ancestor))
            if not f.required
        }

    def _known_variables(self, predecessors: Mapping[str, set[str]]) -> set[str] | None:
        declared = self.owner.variables
        if declared is None:
            return None
        known = set(declared)
        # what the step itself sets is not there yet when its expressions run
        for ancestor in predecessors.get(self.step.id, set()):
            entry = self.owner.steps.get(ancestor)
            if entry is not None:
                known |= produced(entry[1])
        mi = getattr(self.step, "multi_instance", None)
        if isinstance(mi, d.MultiInstance):
            known |= {mi.element_variable} | _MI_VARIABLES
        return known

    def expression(self, path: str, text: str, extra: Iterable[str] = ()) -> Expression | None:
        try:
            compiled = compile_expression(text)
        except ExpressionError as error:
            where = f" at column {error.column}" if error.column else ""
            self.owner.problem(path, "invalid_expression", f"{error.message}{where} in {text!r}")
            return None
        self._check_references(path, compiled, extra)
        return compiled

    def value(self, path: str, raw: object, extra: Iterable[str] = ()) -> Value | None:
        if is_expression(raw):
            assert isinstance(raw, str)
            return self.expression(path, raw, extra)
        return compile_value(raw)

    def _check_references(self, path: str, expr: Expression, extra: Iterable[str]) -> None:
        if self.known is None:
            return
        missing = sorted(expr.variables - self.known - set(extra))
        for name in missing:
            optional_in = self.optional_fields.get(name)
            self.owner.problem(
                path,
                "undeclared_variable",
                f"'{name}' is an optional form field of '{optional_in}', so it may not be set: "
                "declare it in 'variables'"
                if optional_in
                else f"'{name}' is neither declared in 'variables' nor set by an earlier step",
            )

    def duration(self, path: str, text: str | None) -> timedelta | None:
        if text is None:
            return None
        try:
            return parse_duration(text)
        except DurationError as error:
            self.owner.problem(path, "invalid_duration", str(error))
            return None

    def mapping(
        self, path: str, raw: Mapping[str, Any] | None, extra: Iterable[str] = ()
    ) -> dict[str, Value] | None:
        if raw is None:
            return None
        out: dict[str, Value] = {}
        for name, item in raw.items():
            value = self.value(f"{path}.{name}", item, extra)
            if value is not None:
                out[name] = value
        return out

    def multi(self) -> c.Multi | None:
        mi = getattr(self.step, "multi_instance", None)
        if not isinstance(mi, d.MultiInstance):
            return None
        path = f"{self.base}.multi_instance"
        items: Value | None = None
        if isinstance(mi.for_each, str) and not is_expression(mi.for_each):
            items = self.expression(f"{path}.for_each", mi.for_each)  # a variable's name
        elif mi.for_each is not None:
            items = self.value(f"{path}.for_each", mi.for_each)
        completion = (
            # checked after each instance completes: it may read what the step sets
            self.expression(
                f"{path}.completion_condition", mi.completion_condition, produced(self.step)
            )
            if mi.completion_condition
            else None
        )
        return c.Multi(
            items=items,
            cardinality=mi.cardinality,
            element_variable=mi.element_variable,
            sequential=mi.mode == "sequential",
            completion=completion,
            output_collection=mi.output_collection,
            synchronize=mi.synchronize,
        )

    def compile(self) -> c.CompiledStep | None:  # noqa: C901 - one branch per step type
        step, base = self.step, self.base
        common: dict[str, Any] = {
            "id": step.id,
            "name": step.name or step.id,
            "kind": step.type,
            "next": tuple(step.next),
            "path": base,
        }
        cfg = f"{base}.config"
        if isinstance(step, d.StartEvent):
            return c.StartStep(**common)
        if isinstance(step, d.EndEvent):
            return c.EndStep(
                **common, terminate=step.config.terminate, error_code=step.config.error_code
            )
        if isinstance(step, d.ServiceTask):
            return self._service_task(step, common)
        if isinstance(step, d.UserTask):
            return self._user_task(step, common)
        if isinstance(step, d.ReceiveTask):
            key = step.config.correlation_key
            return c.ReceiveTaskStep(
                **common,
                multi=self.multi(),
                message=step.config.message,
                correlation_key=None if key is None else self.value(f"{cfg}.correlation_key", key),
            )
        if isinstance(step, d.CallActivity):
            key = step.config.business_key
            return c.CallActivityStep(
                **common,
                multi=self.multi(),
                process=step.config.process,
                version=step.config.version,
                business_key=None if key is None else self.value(f"{cfg}.business_key", key),
                input=self.mapping(f"{cfg}.input", step.config.input),
                output=self.mapping(f"{cfg}.output", step.config.output, ("result",)),
            )
        if isinstance(step, d.SetVariables):
            assign = self.mapping(f"{cfg}.assign", step.config.assign) or {}
            return c.SetVariablesStep(**common, assign=tuple(assign.items()))
        if isinstance(step, d.ExclusiveGateway | d.InclusiveGateway):
            conditions: list[tuple[Expression, str]] = []
            for i, cond in enumerate(step.config.conditions):
                expr = self.expression(f"{cfg}.conditions[{i}].expression", cond.expression)
                if expr is not None:
                    conditions.append((expr, cond.next))
            return c.ConditionalGatewayStep(
                **common, conditions=tuple(conditions), default=step.config.default
            )
        if isinstance(step, d.ParallelGateway):
            required = join_required(step, base, []) or 0
            cancel = step.config.cancel_remaining
            if cancel is None:
                cancel = required < len(step.config.parallel_tasks)
            return c.ParallelGatewayStep(
                **common,
                branches=tuple(step.config.parallel_tasks),
                required=required,
                cancel_remaining=cancel,
            )
        if isinstance(step, d.EventGateway):
            return c.EventGatewayStep(**common)
        if isinstance(step, d.TimerEvent):
            target = (step.config.action,) if step.config.action else tuple(step.next)
            common["next"] = target
            duration = self.duration(f"{cfg}.duration", step.config.duration)
            until = self._until(f"{cfg}.until", step.config.until)
            if step.config.attached_to:
                return c.BoundaryStep(**common, attached_to=step.config.attached_to)
            return c.TimerStep(**common, duration=duration, until=until)
        if isinstance(step, d.ErrorEvent):
            return c.BoundaryStep(**common, attached_to=step.config.attached_to)
        raise AssertionError(f"unhandled step type {step.type}")  # pragma: no cover

    def boundary(self) -> c.Boundary | None:
        step = self.step
        if isinstance(step, d.TimerEvent) and step.config.attached_to:
            target = (step.config.action,) if step.config.action else tuple(step.next)
            return c.Boundary(
                step_id=step.id,
                target=target,
                interrupting=step.config.interrupting,
                duration=_quiet_duration(step.config.duration),
                until=_quiet_until(step.config.until),
            )
        if isinstance(step, d.ErrorEvent):
            return c.Boundary(
                step_id=step.id,
                target=tuple(step.next),
                interrupting=True,
                error_code=step.config.error_code or "",
            )
        return None

    def _until(self, path: str, raw: str | None) -> Value | None:
        if raw is None:
            return None
        if is_expression(raw):
            return self.expression(path, raw)
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            self.owner.problem(
                path,
                "invalid_date",
                f"{raw!r} is not an ISO-8601 date-time with a time zone, e.g. "
                "'2026-12-24T18:00:00+08:00'",
            )
            return None
        return Literal(moment)

    def _service_task(self, step: d.ServiceTask, common: dict[str, Any]) -> c.CompiledStep:
        cfg = f"{self.base}.config"
        retry = step.config.retry
        backoff = self.duration(f"{cfg}.retry.backoff", retry.backoff)
        max_backoff = self.duration(f"{cfg}.retry.max_backoff", retry.max_backoff)
        timeout = self.duration(f"{cfg}.timeout", step.config.timeout)
        return c.ServiceTaskStep(
            **common,
            multi=self.multi(),
            service_name=step.config.service_name,
            method=step.config.method,
            external=step.config.external,
            timeout=timeout or timedelta(seconds=30),
            retry=c.Retry(
                max_attempts=retry.max_attempts,
                backoff=backoff or timedelta(seconds=1),
                multiplier=retry.backoff_multiplier,
                max_backoff=max_backoff or timedelta(minutes=5),
            ),
            input=self.mapping(f"{cfg}.input", step.config.input),
            output=self.mapping(f"{cfg}.output", step.config.output, ("result",)),
        )

    def _user_task(self, step: d.UserTask, common: dict[str, Any]) -> c.CompiledStep:
        cfg = f"{self.base}.config"
        config = step.config
        due: timedelta | Value | None = None
        if config.due is not None:
            if is_expression(config.due):
                due = self.expression(f"{cfg}.due", config.due)
            else:
                due = self.duration(f"{cfg}.due", config.due)
        form = config.form
        if form is not None:
            self._check_form(form, f"{cfg}.form")
        return c.UserTaskStep(
            **common,
            multi=self.multi(),
            assignee=None
            if config.assignee is None
            else self.value(f"{cfg}.assignee", config.assignee),
            candidate_users=self.value(f"{cfg}.candidate_users", config.candidate_users),
            candidate_groups=self.value(f"{cfg}.candidate_groups", config.candidate_groups),
            due=due,
            priority=self.value(f"{cfg}.priority", config.priority),
            form=None if form is None else tuple(form.fields),
        )

    def _check_form(self, form: d.Form, path: str) -> None:
        seen: set[str] = set()
        for i, f in enumerate(form.fields):
            if f.id in seen:
                self.owner.problem(
                    f"{path}.fields[{i}].id",
                    "duplicate_form_field",
                    f"form field '{f.id}' is used twice",
                )
            seen.add(f.id)
            if f.type == "enum" and not f.values:
                self.owner.problem(
                    f"{path}.fields[{i}].values",
                    "invalid_form",
                    f"enum field '{f.id}' needs its 'values'",
                )
            if f.type != "enum" and f.values:
                self.owner.problem(
                    f"{path}.fields[{i}].values",
                    "invalid_form",
                    f"only an enum field has 'values'; '{f.id}' is a {f.type}",
                )


def _quiet_duration(text: str | None) -> timedelta | None:
    """Durations already reported by :meth:`_StepScope.duration` when invalid."""
    try:
        return None if text is None else parse_duration(text)
    except DurationError:
        return None


def _quiet_until(raw: str | None) -> Value | None:
    if raw is None:
        return None
    try:
        if is_expression(raw):
            return compile_expression(raw)
        moment = datetime.fromisoformat(raw)
    except (ExpressionError, ValueError):
        return None
    return Literal(moment) if moment.tzinfo else None


def join_required(step: d.ParallelGateway, base: str, problems: list[Problem]) -> int | None:
    branches = len(step.config.parallel_tasks)
    condition = step.config.join_condition
    path = f"{base}.config.join_condition"
    if condition == "all_complete":
        return branches
    if condition == "any_complete":
        return 1
    match = _N_OF_M.fullmatch(condition)
    if match is None:
        problems.append(
            Problem(
                path,
                "invalid_join_condition",
                f"unknown join_condition {condition!r}: use 'all_complete', 'any_complete' or "
                "'N_of_M' such as '2_of_3'",
            )
        )
        return None
    n, m = int(match.group(1)), int(match.group(2))
    if m != branches:
        problems.append(
            Problem(
                path,
                "join_never_completes",
                f"'{condition}' counts {m} branches but the gateway has {branches}",
            )
        )
        return None
    if not 1 <= n <= m:
        problems.append(
            Problem(
                path,
                "join_never_completes",
                f"'{condition}' waits for {n} of {m} branches: N must be between 1 and {m}",
            )
        )
        return None
    return n


def _form_fields(entry: tuple[int, d.Step] | None) -> list[d.FormField]:
    if entry is None or not isinstance(entry[1], d.UserTask) or entry[1].config.form is None:
        return []
    return list(entry[1].config.form.fields)


def produced(step: d.Step) -> set[str]:
    """Variables a step sets, for the deploy-time reference check."""
    if isinstance(step, d.SetVariables):
        return set(step.config.assign)
    if isinstance(step, d.UserTask):
        # an optional field may be left out (the variable then keeps what it had, or is not
        # set at all): only required fields are sure to be set; declare the optional ones
        form = step.config.form
        produced = {f.id for f in form.fields if f.required} if form else set()
    elif isinstance(step, d.ServiceTask | d.CallActivity):
        produced = set(step.config.output or ())
    else:
        return set()
    mi = step.multi_instance
    if mi is not None and mi.output_collection:
        produced.add(mi.output_collection)
    return produced
