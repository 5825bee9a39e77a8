"""What each step type does when a token enters it, and when its activity completes.

Automatic steps (gateways, assignments, ends) move the token on at once; activities (service
and user tasks, timers, receive tasks, call activities) issue a command and wait for the event
that answers it. A failure here (an expression that does not evaluate) is an incident on the
token, never an exception: the instance stays consistent and an operator can retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine import commands as cmd
from engine import compiled as c
from engine.expressions import ExpressionError, Value, type_name
from engine.flow import Flow, copy_locals
from engine.state import COMPLETED, Scope, Token
from engine.variables import check_variables


class Steps(Flow):
    def activate(  # noqa: C901 - dispatch
        self, token: Token, step: c.CompiledStep, *, boundaries: bool = True
    ) -> None:
        """Do what ``step`` does on entry; ``boundaries``: schedule its boundary timers."""
        if step.multi is not None and token.element is None:
            self.start_multi(token, step, step.multi)
            return
        if boundaries and step.timers and not self.schedule_boundaries(token, step):
            return
        match step:
            case c.ServiceTaskStep():
                token.attempt = 0
                self.run_job(token, step)
            case c.UserTaskStep():
                self.create_task(token, step)
            case c.ConditionalGatewayStep(kind="exclusive_gateway"):
                self.exclusive(token, step)
            case c.ConditionalGatewayStep():
                self.inclusive(token, step)
            case c.ParallelGatewayStep():
                self.fork(
                    token, step, "parallel", step.branches, step.required, step.cancel_remaining
                )
            case c.SetVariablesStep():
                self.assign(token, step)
            case c.TimerStep():
                self.wait_timer(token, step)
            case c.ReceiveTaskStep():
                self.subscribe(token, step)
            case c.EventGatewayStep():
                self.wait_events(token, step)
            case c.CallActivityStep():
                self.start_child(token, step)
            case c.EndStep():
                self.end(token, step)
            case _:  # start_event
                self.record("step_completed", token)
                self.leave(token, step)

    def inputs(self, token: Token, mapping: Mapping[str, Value] | None) -> dict[str, Any] | None:
        """What a handler or a child gets: all variables, or the step's ``input`` mapping
        evaluated (None when an expression failed: the token is then in incident)."""
        if mapping is None:
            return dict(self.context(token))
        values: dict[str, Any] = {}
        for name, value in mapping.items():
            ok, values[name] = self.evaluate(token, value, f"input '{name}'")
            if not ok:
                return None
        return values

    def run_job(
        self, token: Token, step: c.ServiceTaskStep, run_at: datetime | None = None
    ) -> None:
        variables = self.inputs(token, step.input)
        if variables is None:
            return
        token.attempt += 1
        wait_id = self.park(token, "job")
        self.commands.append(
            cmd.RunServiceTask(
                job_id=wait_id,
                token_id=token.id,
                step_id=step.id,
                service_name=step.service_name,
                method=step.method,
                variables=variables,
                attempt=token.attempt,
                max_attempts=step.retry.max_attempts,
                timeout_seconds=step.timeout.total_seconds(),
                run_at=run_at,
                external=step.external,
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
        wait_id = self.park(token, "task")
        self.commands.append(
            cmd.CreateUserTask(
                task_id=wait_id,
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
            self.enter(self.spawn(target, scope.id, index, copy_locals(token.locals)), target)

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
        wait_id = self.park(token, "timer")
        self.commands.append(cmd.ScheduleTimer(wait_id, token.id, step.id, at))

    def correlation_key(self, token: Token, step: c.ReceiveTaskStep) -> tuple[bool, str | None]:
        ok, key = self.evaluate(token, step.correlation_key, "correlation_key")
        return ok, None if key is None else str(key)

    def subscribe(self, token: Token, step: c.ReceiveTaskStep) -> None:
        ok, key = self.correlation_key(token, step)
        if not ok:
            return
        wait_id = self.park(token, "msg")
        token.key = key
        self.commands.append(cmd.SubscribeMessage(wait_id, token.id, step.id, step.message, key))

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
        variables = self.inputs(token, step.input)
        if variables is None:
            return
        ok, business_key = self.evaluate(token, step.business_key, "business_key")
        if not ok:
            return
        wait_id = self.park(token, "child")
        self.commands.append(
            cmd.StartChildInstance(
                child_id=wait_id,
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
        count = min(1, len(items)) if multi.sequential else len(items)
        for index in range(count):
            self.start_element(scope, index, parent_locals)
        if not multi.synchronize or not items:
            # after the elements exist: the flow going on may withdraw them (a cancelling join)
            self.fire(scope)

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

    def complete_activity(self, token: Token, step: c.CompiledStep, result: dict[str, Any]) -> None:
        token.wait = None  # answered: whatever happens next, it is not outstanding any more
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
            # the result itself is wrong: a retry runs the activity again for a new one
            self.incident(token, "invalid_variables", "; ".join(str(p) for p in problems))
            return
        self.cancel_timers(token)
        token.wait = None
        token.status = "active"
        token.pending = None
        token.attempt = 0
        self.set_variables(token, values, step.id)
        self.record("step_completed", token)
        if token.element is not None and self.state.scopes[token.scope].step == step.id:
            scope = self.state.scopes[token.scope]
            if scope.results is not None:
                scope.results[token.element] = result
            self.end_branch(token)
        else:
            self.leave(token, step)


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
    if priority is not None and not 0 <= priority <= 100:
        return f"priority must be between 0 and 100, not {priority}"
    return None
