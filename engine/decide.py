"""The state machine: ``decide(definition, state, event, now) -> Decision``.

Pure: no I/O, no clock (``now`` is given), no randomness; identical inputs give identical
outputs, and the input state is never modified. Automatic steps (gateways, variable
assignment, ends) run inside the same decision, so a decision stops only at real waits:
service tasks, user tasks, timers, messages and child instances.

An event that cannot apply raises an :class:`~engine.errors.EventRejected` (nothing changed);
a failure *inside* the process (an expression that does not evaluate, a handler out of
retries) raises an incident on the token instead, which an operator retries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine import commands as cmd
from engine import compiled as c
from engine import events as ev
from engine.errors import EventRejected, InvalidVariables, StaleEvent
from engine.expressions import ExpressionError, Value, type_name
from engine.state import (
    CANCELLED,
    COMPLETED,
    FAILED,
    ROOT,
    RUNNING,
    InstanceState,
    Scope,
    Token,
)
from engine.variables import check_form, check_variables

#: Automatic steps one decision may run before it stops with an incident: a loop of gateways
#: and assignments whose exit condition never holds must not spin forever.
MAX_AUTOMATIC_STEPS = 10_000


@dataclass(frozen=True, slots=True)
class Decision:
    state: InstanceState
    commands: list[cmd.Command]
    history: list[cmd.HistoryEvent]

    @property
    def transitions(self) -> int:
        """Steps entered in this decision."""
        return sum(1 for h in self.history if h.type == "step_entered")


def decide(
    definition: c.CompiledDefinition, state: InstanceState | None, event: ev.Event, now: datetime
) -> Decision:
    """Apply ``event`` to an instance of ``definition`` in ``state`` (None before it starts)."""
    if isinstance(event, ev.InstanceStarted):
        if state is not None:
            raise EventRejected("the instance has already started", code="already_started")
        run = _Run(definition, InstanceState(), now, event.actor)
        run.start(event.variables)
    else:
        if state is None:
            raise EventRejected("the instance has not started", code="not_started")
        run = _Run(definition, state.clone(), now, event.actor)
        run.apply(event)
    return Decision(run.state, run.commands, run.history)


class _Run:
    """One decision in progress: a working copy of the state and what it has produced."""

    def __init__(
        self,
        definition: c.CompiledDefinition,
        state: InstanceState,
        now: datetime,
        actor: str | None,
    ) -> None:
        self.definition = definition
        self.state = state
        self.now = now
        self.actor = actor
        self.commands: list[cmd.Command] = []
        self.history: list[cmd.HistoryEvent] = []
        self.queue: deque[tuple[Token, str]] = deque()  # tokens about to enter a step
        self.budget = MAX_AUTOMATIC_STEPS

    # --- bookkeeping ------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self.state.counter += 1
        return f"{prefix}-{self.state.counter}"

    def record(
        self, kind: str, token: Token | None = None, step_id: str | None = None, **data: Any
    ) -> None:
        self.state.seq += 1
        self.history.append(
            cmd.HistoryEvent(
                seq=self.state.seq,
                type=kind,
                at=self.now,
                step_id=step_id if step_id is not None else (token.step if token else None),
                token_id=token.id if token else None,
                actor=self.actor,
                data=data or None,
            )
        )

    def context(self, token: Token | None) -> dict[str, Any]:
        if token is None or not token.locals:
            return self.state.variables
        return {**self.state.variables, **token.locals}

    def spawn(self, step_id: str, scope: str, branch: int, locals_: dict[str, Any] | None) -> Token:
        token = Token(self.new_id("tok"), step_id, scope, branch, locals=locals_)
        self.state.tokens[token.id] = token
        self.state.scopes[scope].live[branch] += 1
        return token

    def set_variables(self, token: Token | None, changes: dict[str, Any], source: str) -> None:
        current = self.state.variables
        changed = {k: v for k, v in changes.items() if k not in current or current[k] != v}
        if not changed:
            return
        current.update(changed)
        self.record("variables_set", token, source=source, variables=changed)

    # --- starting ---------------------------------------------------------------------------

    def start(self, variables: dict[str, Any]) -> None:
        declared = self.definition.variables
        values, problems = check_variables(declared, variables, path="variables", starting=True)
        if problems:
            raise InvalidVariables(problems)
        self.state.variables = values
        self.state.scopes[ROOT] = Scope(ROOT, "root", None, None, 0, [0], required=1)
        self.record(
            "instance_started",
            definition=self.definition.key,
            version=self.definition.version,
            variables=dict(values),
        )
        token = self.spawn(self.definition.start, ROOT, 0, None)
        self.enter(token, self.definition.start)
        self.drain()

    # --- moving tokens ----------------------------------------------------------------------

    def enter(self, token: Token, step_id: str) -> None:
        self.queue.append((token, step_id))

    def drain(self) -> None:
        while self.queue:
            token, step_id = self.queue.popleft()
            if token.id not in self.state.tokens:
                continue  # withdrawn meanwhile (a join with cancel, a terminate)
            self.budget -= 1
            if self.budget < 0:
                self.incident(
                    token,
                    "loop_limit",
                    f"more than {MAX_AUTOMATIC_STEPS} automatic steps without a wait: "
                    "a loop whose exit condition never holds?",
                )
                continue
            token.step = step_id
            token.status = "active"
            self.record("step_entered", token)
            self.activate(token, self.definition.steps[step_id])

    def leave(
        self, token: Token, step: c.CompiledStep, targets: tuple[str, ...] | None = None
    ) -> None:
        """Follow the outgoing flows: the token takes the first, new tokens the others."""
        targets = step.next if targets is None else targets
        if not targets:
            self.end_branch(token)
            return
        self.enter(token, targets[0])
        for target in targets[1:]:
            self.enter(self.spawn(target, token.scope, token.branch, _copy(token.locals)), target)

    def end_branch(self, token: Token) -> None:
        del self.state.tokens[token.id]
        scope = self.state.scopes[token.scope]
        scope.live[token.branch] -= 1
        if scope.live[token.branch] == 0:
            self.branch_finished(scope)

    def release(self, scope: Scope) -> None:
        """A scope is done: give its unit back to the branch that opened it."""
        del self.state.scopes[scope.id]
        assert scope.parent is not None
        parent = self.state.scopes[scope.parent]
        parent.live[scope.parent_branch] -= 1
        if parent.live[scope.parent_branch] == 0:
            self.branch_finished(parent)

    def branch_finished(self, scope: Scope) -> None:
        if scope.kind == "root":
            self.complete_instance()
            return
        scope.completed += 1
        total = len(scope.live)
        if scope.kind == "multi":
            if not scope.fired and self.multi_completion_holds(scope):
                scope.cancel_remaining = True
                self.fire(scope)
                return
            if scope.started < total and not any(scope.live):
                self.start_element(scope, scope.started)
                return
        if not scope.fired and scope.completed >= scope.required:
            self.fire(scope)
        elif scope.fired and scope.id in self.state.scopes and scope.completed >= total:
            self.release(scope)

    def fire(self, scope: Scope) -> None:
        """The join fires: the flow goes on after the gateway, once per activation."""
        scope.fired = True
        assert scope.step is not None and scope.parent is not None
        step = self.definition.steps[scope.step]
        self.record("join_fired", None, step.id, scope=scope.id, completed=scope.completed)
        if scope.kind == "multi":
            multi = step.multi
            if multi is not None and multi.output_collection and scope.results is not None:
                self.set_variables(None, {multi.output_collection: list(scope.results)}, step.id)
        parent_token = self.spawn(step.id, scope.parent, scope.parent_branch, None)
        self.record("step_completed", parent_token)
        self.leave(parent_token, step)
        if scope.cancel_remaining:
            self.cancel_scope(scope, "the join fired")
        if scope.id in self.state.scopes and (
            scope.cancel_remaining or scope.completed >= len(scope.live)
        ):
            self.release(scope)

    # --- steps ------------------------------------------------------------------------------

    def activate(self, token: Token, step: c.CompiledStep) -> None:  # noqa: C901 - dispatch
        if step.multi is not None and token.element is None:
            self.start_multi(token, step, step.multi)
            return
        if step.timers and not self.schedule_boundaries(token, step):
            return
        kind = step.kind
        if kind == "service_task":
            assert isinstance(step, c.ServiceTaskStep)
            token.attempt = 0
            self.run_job(token, step)
        elif kind == "user_task":
            assert isinstance(step, c.UserTaskStep)
            self.create_task(token, step)
        elif kind == "exclusive_gateway":
            assert isinstance(step, c.ConditionalGatewayStep)
            self.exclusive(token, step)
        elif kind == "parallel_gateway":
            assert isinstance(step, c.ParallelGatewayStep)
            self.fork(token, step, "parallel", step.branches, step.required, step.cancel_remaining)
        elif kind == "inclusive_gateway":
            assert isinstance(step, c.ConditionalGatewayStep)
            self.inclusive(token, step)
        elif kind == "set_variables":
            assert isinstance(step, c.SetVariablesStep)
            self.assign(token, step)
        elif kind == "timer_event":
            assert isinstance(step, c.TimerStep)
            self.wait_timer(token, step)
        elif kind == "receive_task":
            assert isinstance(step, c.ReceiveTaskStep)
            self.subscribe(token, step)
        elif kind == "event_gateway":
            self.wait_events(token, step)
        elif kind == "call_activity":
            assert isinstance(step, c.CallActivityStep)
            self.start_child(token, step)
        elif kind == "end_event":
            assert isinstance(step, c.EndStep)
            self.end(token, step)
        else:  # start_event
            self.record("step_completed", token)
            self.leave(token, step)

    def evaluate(self, token: Token, value: Value | None, what: str) -> tuple[bool, Any]:
        """(ok, result); on failure the token is in incident and ok is False."""
        if value is None:
            return True, None
        try:
            return True, value.evaluate(self.context(token))
        except ExpressionError as error:
            self.incident(token, "expression_failed", f"{what}: {error}")
            return False, None

    def run_job(
        self, token: Token, step: c.ServiceTaskStep, run_at: datetime | None = None
    ) -> None:
        if step.input is None:
            variables = dict(self.context(token))
        else:
            variables = {}
            for name, value in step.input.items():
                ok, variables[name] = self.evaluate(token, value, f"input '{name}'")
                if not ok:
                    return
        token.attempt += 1
        token.status = "waiting"
        token.wait = self.new_id("job")
        self.commands.append(
            cmd.RunServiceTask(
                job_id=token.wait,
                token_id=token.id,
                step_id=step.id,
                service_name=step.service_name,
                method=step.method,
                variables=variables,
                attempt=token.attempt,
                max_attempts=step.retry.max_attempts,
                timeout_seconds=step.timeout.total_seconds(),
                run_at=run_at,
            )
        )

    def create_task(self, token: Token, step: c.UserTaskStep) -> None:
        values: dict[str, Any] = {}
        for name in ("assignee", "candidate_users", "candidate_groups", "priority"):
            ok, values[name] = self.evaluate(token, getattr(step, name), name)
            if not ok:
                return
        due_at: datetime | None = None
        if step.due is not None:
            due_at = self.moment(token, step.due, "due")
            if due_at is None:
                return
        problem = _task_values_problem(values)
        if problem:
            self.incident(token, "expression_failed", problem)
            return
        token.status = "waiting"
        token.wait = self.new_id("task")
        self.commands.append(
            cmd.CreateUserTask(
                task_id=token.wait,
                token_id=token.id,
                step_id=step.id,
                name=step.name,
                assignee=values["assignee"],
                candidate_users=tuple(values["candidate_users"] or ()),
                candidate_groups=tuple(values["candidate_groups"] or ()),
                due_at=due_at,
                priority=50 if values["priority"] is None else values["priority"],
                form=step.form,
                variables=dict(self.context(token)),
            )
        )

    def moment(self, token: Token, spec: timedelta | Value | None, what: str) -> datetime | None:
        """A due time from a duration (after now) or a value giving a date-time."""
        if isinstance(spec, timedelta):
            return self.now + spec
        ok, value = self.evaluate(token, spec, what)
        if not ok:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.incident(
                token, "expression_failed", f"{what}: expected a date-time with a time zone"
            )
            return None
        return value

    def schedule_boundaries(self, token: Token, step: c.CompiledStep) -> bool:
        due: list[tuple[c.Boundary, datetime]] = []
        for boundary in step.timers:
            at = self.moment(token, boundary.duration or boundary.until, boundary.step_id)
            if at is None:
                return False
            due.append((boundary, at))
        token.timers = {}
        for boundary, at in due:
            timer_id = self.new_id("timer")
            token.timers[timer_id] = boundary.step_id
            self.commands.append(cmd.ScheduleTimer(timer_id, token.id, boundary.step_id, at))
        return True

    def exclusive(self, token: Token, step: c.ConditionalGatewayStep) -> None:
        for expression, target in step.conditions:
            try:
                holds = expression.evaluate_condition(self.context(token))
            except ExpressionError as error:
                self.incident(token, "expression_failed", str(error))
                return
            if holds:
                self.record("step_completed", token, taken=target)
                self.enter(token, target)
                return
        if step.default is None:
            self.incident(token, "no_path", "no condition holds and the gateway has no default")
            return
        self.record("step_completed", token, taken=step.default)
        self.enter(token, step.default)

    def inclusive(self, token: Token, step: c.ConditionalGatewayStep) -> None:
        taken: list[str] = []
        for expression, target in step.conditions:
            try:
                if expression.evaluate_condition(self.context(token)):
                    taken.append(target)
            except ExpressionError as error:
                self.incident(token, "expression_failed", str(error))
                return
        if not taken and step.default is not None:
            taken.append(step.default)
        if not taken:
            self.incident(token, "no_path", "no condition holds and the gateway has no default")
            return
        self.fork(token, step, "inclusive", tuple(taken), len(taken), False)

    def fork(
        self,
        token: Token,
        step: c.CompiledStep,
        kind: str,
        branches: tuple[str, ...],
        required: int,
        cancel_remaining: bool,
    ) -> None:
        """Open a scope: the token becomes the scope (its unit moves over), branches start."""
        scope = Scope(
            self.new_id("scope"),
            kind,
            step.id,
            token.scope,
            token.branch,
            [0] * len(branches),
            required=required,
            cancel_remaining=cancel_remaining,
        )
        self.state.scopes[scope.id] = scope
        self.record("gateway_forked", token, branches=list(branches), scope=scope.id)
        del self.state.tokens[token.id]
        for index, target in enumerate(branches):
            self.enter(self.spawn(target, scope.id, index, _copy(token.locals)), target)

    def assign(self, token: Token, step: c.SetVariablesStep) -> None:
        changes: dict[str, Any] = {}
        for name, value in step.assign:
            ok, changes[name] = self.evaluate(token, value, f"assign '{name}'")
            if not ok:
                return
        values, problems = check_variables(self.definition.variables, changes, path="assign")
        if problems:
            self.incident(token, "invalid_variables", "; ".join(str(p) for p in problems))
            return
        self.set_variables(token, values, step.id)
        self.record("step_completed", token)
        self.leave(token, step)

    def wait_timer(self, token: Token, step: c.TimerStep) -> None:
        at = self.moment(token, step.duration or step.until, "timer")
        if at is None:
            return
        token.status = "waiting"
        token.wait = self.new_id("timer")
        self.commands.append(cmd.ScheduleTimer(token.wait, token.id, step.id, at))

    def correlation_key(self, token: Token, step: c.ReceiveTaskStep) -> tuple[bool, str | None]:
        ok, key = self.evaluate(token, step.correlation_key, "correlation_key")
        return ok, None if key is None else str(key)

    def subscribe(self, token: Token, step: c.ReceiveTaskStep) -> None:
        ok, key = self.correlation_key(token, step)
        if not ok:
            return
        token.status = "waiting"
        token.wait = self.new_id("msg")
        token.key = key
        self.commands.append(cmd.SubscribeMessage(token.wait, token.id, step.id, step.message, key))

    def wait_events(self, token: Token, step: c.CompiledStep) -> None:
        """An event-based choice: wait for every target; the first that happens wins."""
        timers: list[tuple[str, datetime]] = []
        messages: list[tuple[c.ReceiveTaskStep, str | None]] = []
        for target in step.next:
            target_step = self.definition.steps[target]
            if isinstance(target_step, c.TimerStep):
                at = self.moment(token, target_step.duration or target_step.until, target)
                if at is None:
                    return
                timers.append((target, at))
            else:
                assert isinstance(target_step, c.ReceiveTaskStep)
                ok, key = self.correlation_key(token, target_step)
                if not ok:
                    return
                messages.append((target_step, key))
        token.status = "waiting"
        token.timers = {}
        token.subscriptions = {}
        for target, at in timers:
            timer_id = self.new_id("timer")
            token.timers[timer_id] = target
            self.commands.append(cmd.ScheduleTimer(timer_id, token.id, target, at))
        for receive, key in messages:
            sub_id = self.new_id("msg")
            token.subscriptions[sub_id] = [receive.message, key, receive.id]
            self.commands.append(
                cmd.SubscribeMessage(sub_id, token.id, receive.id, receive.message, key)
            )

    def start_child(self, token: Token, step: c.CallActivityStep) -> None:
        if step.input is None:
            variables = dict(self.context(token))
        else:
            variables = {}
            for name, value in step.input.items():
                ok, variables[name] = self.evaluate(token, value, f"input '{name}'")
                if not ok:
                    return
        ok, business_key = self.evaluate(token, step.business_key, "business_key")
        if not ok:
            return
        token.status = "waiting"
        token.wait = self.new_id("child")
        self.commands.append(
            cmd.StartChildInstance(
                child_id=token.wait,
                token_id=token.id,
                step_id=step.id,
                process=step.process,
                version=step.version,
                business_key=None if business_key is None else str(business_key),
                variables=variables,
            )
        )

    def end(self, token: Token, step: c.EndStep) -> None:
        self.record("step_completed", token)
        if step.error_code is not None or step.terminate:
            del self.state.tokens[token.id]  # it ends here; the others are withdrawn
        if step.error_code is not None:
            self.fail_instance(step.error_code, f"the process ended with error {step.error_code}")
        elif step.terminate:
            self.withdraw_all("terminated")
            self.finish(COMPLETED, "instance_terminated", step=step.id)
            self.commands.append(cmd.InstanceCompleted(dict(self.state.variables), step.id))
        else:
            self.end_branch(token)

    # --- multi-instance ---------------------------------------------------------------------

    def start_multi(self, token: Token, step: c.CompiledStep, multi: c.Multi) -> None:
        if multi.items is not None:
            ok, items = self.evaluate(token, multi.items, "for_each")
            if not ok:
                return
            if not isinstance(items, list):
                self.incident(
                    token, "expression_failed", f"for_each must give a list, not {type_name(items)}"
                )
                return
        else:
            items = list(range(multi.cardinality or 0))
        scope = Scope(
            self.new_id("scope"),
            "multi",
            step.id,
            token.scope,
            token.branch,
            [0] * len(items),
            required=len(items) if multi.synchronize else 0,
            items=items,
            results=[None] * len(items) if multi.output_collection else None,
        )
        self.state.scopes[scope.id] = scope
        parent_locals = token.locals
        del self.state.tokens[token.id]
        self.record("multi_instance_started", token, scope=scope.id, count=len(items))
        if not multi.synchronize or not items:
            self.fire(scope)
            if not items:
                return
        count = 1 if multi.sequential else len(items)
        for index in range(count):
            self.start_element(scope, index, parent_locals)

    def start_element(
        self, scope: Scope, index: int, parent_locals: dict[str, Any] | None = None
    ) -> None:
        assert scope.step is not None and scope.items is not None
        multi = self.definition.steps[scope.step].multi
        assert multi is not None
        locals_ = dict(parent_locals or {})
        locals_[multi.element_variable] = scope.items[index]
        locals_["loop_counter"] = index
        scope.started = index + 1
        token = self.spawn(scope.step, scope.id, index, locals_)
        token.element = index
        self.enter(token, scope.step)

    def multi_completion_holds(self, scope: Scope) -> bool:
        assert scope.step is not None
        multi = self.definition.steps[scope.step].multi
        if multi is None or multi.completion is None:
            return False
        counts = {
            "nr_of_instances": len(scope.live),
            "nr_of_completed_instances": scope.completed,
            "nr_of_active_instances": sum(1 for n in scope.live if n),
        }
        try:
            return multi.completion.evaluate_condition({**self.state.variables, **counts})
        except ExpressionError as error:
            # the element is already done; record the failure and let the join count on
            self.record("completion_condition_failed", None, scope.step, error=str(error))
            return False

    # --- completing activities ----------------------------------------------------------------

    def complete_activity(self, token: Token, step: c.CompiledStep, result: dict[str, Any]) -> None:
        output = getattr(step, "output", None)
        if output is not None:
            context = {**self.context(token), "result": result}
            changes: dict[str, Any] = {}
            for name, value in output.items():
                try:
                    changes[name] = value.evaluate(context)
                except ExpressionError as error:
                    self.incident(token, "expression_failed", f"output '{name}': {error}", result)
                    return
        else:
            changes = dict(result)
        values, problems = check_variables(self.definition.variables, changes, path="result")
        if problems:
            self.incident(token, "invalid_variables", "; ".join(str(p) for p in problems), result)
            return
        self.cancel_timers(token)
        token.wait = None
        token.status = "active"
        token.pending = None
        self.set_variables(token, values, step.id)
        self.record("step_completed", token)
        if token.element is not None and self.state.scopes[token.scope].step == step.id:
            scope = self.state.scopes[token.scope]
            if scope.results is not None:
                scope.results[token.element] = result
            self.end_branch(token)
        else:
            self.leave(token, step)

    def cancel_timers(self, token: Token) -> None:
        for timer_id in token.timers or ():
            self.commands.append(cmd.CancelTimer(timer_id))
        for sub_id in token.subscriptions or ():
            self.commands.append(cmd.CancelSubscription(sub_id))
        token.timers = None
        token.subscriptions = None

    def withdraw(self, token: Token, reason: str) -> None:
        """Stop whatever the token waits for and take it away."""
        step = self.definition.steps[token.step]
        if token.wait is not None:
            self.commands.append(_cancel_command(step.kind, token.wait, reason))
        self.cancel_timers(token)
        if token.incident is not None:
            self.commands.append(cmd.ResolveIncident(token.incident, "cancelled"))
        self.record("step_cancelled", token, reason=reason)
        self.state.tokens.pop(token.id, None)

    def cancel_scope(self, scope: Scope, reason: str) -> None:
        for child in [s for s in self.state.scopes.values() if s.parent == scope.id]:
            self.cancel_scope(child, reason)
            del self.state.scopes[child.id]
        for token in [t for t in self.state.tokens.values() if t.scope == scope.id]:
            self.withdraw(token, reason)
        scope.live = [0] * len(scope.live)

    def withdraw_all(self, reason: str) -> None:
        for token in list(self.state.tokens.values()):
            self.withdraw(token, reason)
        self.state.scopes.clear()
        self.queue.clear()

    def finish(self, status: str, kind: str, **data: Any) -> None:
        self.state.status = status
        self.state.scopes.clear()
        self.record(kind, None, None, **data)

    def complete_instance(self) -> None:
        self.finish(COMPLETED, "instance_completed")
        self.commands.append(cmd.InstanceCompleted(dict(self.state.variables)))

    def fail_instance(self, error_code: str, message: str) -> None:
        self.withdraw_all("failed")
        self.state.error = {"code": error_code, "message": message}
        self.finish(FAILED, "instance_failed", error_code=error_code, message=message)
        self.commands.append(cmd.InstanceFailed(error_code, message))

    def incident(
        self, token: Token, error: str, message: str, pending: dict[str, Any] | None = None
    ) -> None:
        token.status = "incident"
        token.incident = self.new_id("inc")
        token.resume = "enter" if pending is None else "complete"
        token.pending = pending
        self.record("incident_raised", token, incident=token.incident, error=error, message=message)
        self.commands.append(
            cmd.RaiseIncident(token.incident, token.id, token.step, error, message)
        )

    # --- events -------------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:  # noqa: C901 - one branch per event type
        if self.state.status != RUNNING:
            if isinstance(
                event,
                ev.ServiceTaskCompleted
                | ev.ServiceTaskFailed
                | ev.TimerFired
                | ev.ChildInstanceCompleted
                | ev.ChildInstanceFailed,
            ):
                raise StaleEvent(f"the instance is {self.state.status}")
            raise EventRejected(f"the instance is {self.state.status}", code="instance_not_running")
        if isinstance(event, ev.ServiceTaskCompleted):
            token = self.waiting(event.job_id, "service_task", "job")
            self.record("job_completed", token, job=event.job_id, attempt=token.attempt)
            self.complete_activity(token, self.definition.steps[token.step], dict(event.variables))
        elif isinstance(event, ev.ServiceTaskFailed):
            token = self.waiting(event.job_id, "service_task", "job")
            self.job_failed(token, event)
        elif isinstance(event, ev.UserTaskCompleted):
            self.task_completed(event)
        elif isinstance(event, ev.TimerFired):
            self.timer_fired(event.timer_id)
        elif isinstance(event, ev.MessageReceived):
            self.message_received(event)
        elif isinstance(event, ev.ChildInstanceCompleted):
            token = self.waiting(event.child_id, "call_activity", "child instance")
            self.record("child_completed", token, child=event.child_id)
            self.complete_activity(token, self.definition.steps[token.step], dict(event.variables))
        elif isinstance(event, ev.ChildInstanceFailed):
            token = self.waiting(event.child_id, "call_activity", "child instance")
            self.child_failed(token, event)
        elif isinstance(event, ev.CancelRequested):
            self.withdraw_all("cancelled")
            self.finish(CANCELLED, "instance_cancelled", reason=event.reason)
            self.commands.append(cmd.InstanceCancelled(event.reason))
        elif isinstance(event, ev.IncidentRetried):
            self.retry_incident(event.incident_id)
        elif isinstance(event, ev.VariablesUpdated):
            values, problems = check_variables(
                self.definition.variables, event.variables, path="variables"
            )
            if problems:
                raise InvalidVariables(problems)
            self.set_variables(None, values, "update")
        self.drain()

    def waiting(self, wait_id: str, kind: str, what: str) -> Token:
        for token in self.state.tokens.values():
            if token.wait == wait_id and token.status == "waiting":
                if self.definition.steps[token.step].kind == kind:
                    return token
        raise StaleEvent(f"no step waits for {what} '{wait_id}' (done, cancelled or unknown)")

    def job_failed(self, token: Token, event: ev.ServiceTaskFailed) -> None:
        step = self.definition.steps[token.step]
        assert isinstance(step, c.ServiceTaskStep)
        self.record(
            "job_failed",
            token,
            job=event.job_id,
            attempt=token.attempt,
            message=event.message,
            error_code=event.error_code,
        )
        if event.error_code is not None:
            self.business_error(token, step, event.error_code, event.message)
            return
        if event.retryable and token.attempt < step.retry.max_attempts:
            self.run_job(token, step, run_at=self.now + step.retry.delay(token.attempt))
            return
        token.wait = None
        tries = f"after {token.attempt} attempt(s)" if event.retryable else "(not retryable)"
        self.incident(token, "job_failed", f"{event.message} {tries}")

    def business_error(self, token: Token, step: c.CompiledStep, code: str, message: str) -> None:
        """Route a reported error to the boundary that catches it; none: an incident."""
        for boundary in step.errors:
            if boundary.error_code in ("", code):
                self.cancel_timers(token)
                token.wait = None
                self.record("error_caught", token, error_code=code, boundary=boundary.step_id)
                self.record("step_cancelled", token, reason=f"error {code}")
                token.step = boundary.step_id
                token.status = "active"
                self.record("step_entered", token)
                self.record("step_completed", token)
                self.leave(token, self.definition.steps[boundary.step_id], boundary.target)
                return
        token.wait = None
        self.incident(token, "unhandled_error", f"error {code} is not caught: {message}")

    def child_failed(self, token: Token, event: ev.ChildInstanceFailed) -> None:
        self.record("child_failed", token, child=event.child_id, error_code=event.error_code)
        step = self.definition.steps[token.step]
        if event.error_code is not None:
            self.business_error(token, step, event.error_code, event.message)
        else:
            token.wait = None
            self.incident(token, "child_failed", event.message)

    def task_completed(self, event: ev.UserTaskCompleted) -> None:
        token = self.waiting(event.task_id, "user_task", "task")
        step = self.definition.steps[token.step]
        assert isinstance(step, c.UserTaskStep)
        variables = dict(event.variables)
        if step.form is not None:
            variables, problems = check_form(step.form, variables)
            if problems:
                raise InvalidVariables(problems)
        self.record("task_completed", token, task=event.task_id)
        self.complete_activity(token, step, variables)

    def timer_fired(self, timer_id: str) -> None:
        for token in list(self.state.tokens.values()):
            if token.wait == timer_id and token.status == "waiting":
                step = self.definition.steps[token.step]
                self.record("timer_fired", token, timer=timer_id)
                token.wait = None
                self.complete_activity(token, step, {})
                return
            if token.timers and timer_id in token.timers:
                self.boundary_or_choice(token, token.timers.pop(timer_id), timer_id)
                return
        raise StaleEvent(f"timer '{timer_id}' is not pending (fired, cancelled or unknown)")

    def boundary_or_choice(self, token: Token, target_id: str, timer_id: str) -> None:
        step = self.definition.steps[token.step]
        self.record("timer_fired", token, timer=timer_id, boundary=target_id)
        if step.kind == "event_gateway":
            self.choose(token, target_id)
            return
        boundary = next(b for b in step.timers if b.step_id == target_id)
        if boundary.interrupting:
            if token.wait is not None:
                self.commands.append(_cancel_command(step.kind, token.wait, "escalated"))
                token.wait = None
            if token.incident is not None:
                self.commands.append(cmd.ResolveIncident(token.incident, "cancelled"))
                token.incident = None
            self.cancel_timers(token)
            self.record("step_cancelled", token, reason=f"boundary {target_id}")
            token.step = target_id
            token.status = "active"
            self.record("step_entered", token)
            self.record("step_completed", token)
            self.leave(token, self.definition.steps[target_id], boundary.target)
        else:
            # remind: a new branch runs from the boundary; the task stays
            branch = self.spawn(target_id, token.scope, token.branch, _copy(token.locals))
            self.record("step_entered", branch)
            self.record("step_completed", branch)
            self.leave(branch, self.definition.steps[target_id], boundary.target)

    def choose(self, token: Token, target_id: str) -> None:
        """An event-based choice resolved: the winner's step completes, the others go."""
        self.record("step_completed", token, taken=target_id)
        self.cancel_timers(token)
        token.step = target_id
        token.status = "active"
        self.record("step_entered", token)
        self.record("step_completed", token)
        self.leave(token, self.definition.steps[target_id])

    def message_received(self, event: ev.MessageReceived) -> None:
        for token in list(self.state.tokens.values()):
            step = self.definition.steps[token.step]
            if token.status != "waiting":
                continue
            if isinstance(step, c.ReceiveTaskStep) and step.message == event.name:
                if event.correlation_key is None or event.correlation_key == token.key:
                    values = self.message_variables(event)
                    self.record("message_received", token, message=event.name)
                    token.wait = None
                    self.complete_activity(token, step, values)
                    return
            for sub_id, (name, key, target) in list((token.subscriptions or {}).items()):
                if name == event.name and (event.correlation_key in (None, key)):
                    values = self.message_variables(event)
                    self.record("message_received", token, message=event.name, subscription=sub_id)
                    assert token.subscriptions is not None
                    del token.subscriptions[sub_id]
                    self.set_variables(token, values, target)
                    self.choose(token, target)
                    return
        raise EventRejected(
            f"no step of this instance waits for message '{event.name}'", code="no_subscription"
        )

    def message_variables(self, event: ev.MessageReceived) -> dict[str, Any]:
        values, problems = check_variables(
            self.definition.variables, event.variables, path="variables"
        )
        if problems:
            raise InvalidVariables(problems)
        return values

    def retry_incident(self, incident_id: str) -> None:
        for token in self.state.tokens.values():
            if token.incident == incident_id:
                self.commands.append(cmd.ResolveIncident(incident_id, "retried"))
                self.record("incident_resolved", token, incident=incident_id)
                token.incident = None
                token.status = "active"
                step = self.definition.steps[token.step]
                if token.resume == "complete":
                    pending = token.pending or {}
                    token.resume = None
                    self.complete_activity(token, step, pending)
                else:
                    token.resume = None
                    self.record("step_entered", token, retry=True)
                    if token.timers:
                        # boundary timers keep running across a retry
                        self.activate_again(token, step)
                    else:
                        self.activate(token, step)
                return
        raise EventRejected(f"incident '{incident_id}' is not open", code="no_incident")

    def activate_again(self, token: Token, step: c.CompiledStep) -> None:
        timers = token.timers
        token.timers = None
        self.activate(token, _without_timers(step))
        if token.timers is None:
            token.timers = timers


def _without_timers(step: c.CompiledStep) -> c.CompiledStep:
    return replace(step, timers=())


def _copy(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else dict(values)


def _cancel_command(kind: str, wait_id: str, reason: str) -> cmd.Command:
    if kind == "service_task":
        return cmd.CancelJob(wait_id)
    if kind == "user_task":
        return cmd.CancelUserTask(wait_id, reason)
    if kind == "call_activity":
        return cmd.CancelChildInstance(wait_id)
    if kind == "receive_task":
        return cmd.CancelSubscription(wait_id)
    return cmd.CancelTimer(wait_id)


def _task_values_problem(values: dict[str, Any]) -> str | None:
    assignee = values["assignee"]
    if assignee is not None and not isinstance(assignee, str):
        return f"assignee must be a user id (a string), not {type_name(assignee)}"
    for name in ("candidate_users", "candidate_groups"):
        items = values[name]
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, str) for i in items)
        ):
            return f"{name} must be a list of ids"
    priority = values["priority"]
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        return f"priority must be a whole number, not {type_name(priority)}"
    return None
