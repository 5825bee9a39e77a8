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

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine import commands as cmd
from engine import compiled as c
from engine import events as ev
from engine.errors import EventRejected, InvalidVariables, StaleEvent
from engine.flow import cancel_command, copy_locals
from engine.state import CANCELLED, ROOT, RUNNING, InstanceState, Scope, Token
from engine.steps import Steps
from engine.variables import check_form, check_variables


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


class _Run(Steps):
    """A decision: applies one event (the step and flow layers do the moving)."""

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
            variables=self.masked(dict(values)),
        )
        token = self.spawn(self.definition.start, ROOT, 0, None)
        self.enter(token, self.definition.start)
        self.drain()

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
        """Route a reported error to the boundary that catches its code (an exact match before
        a catch-all, whatever their order in the definition); none: an incident."""
        exact = [b for b in step.errors if b.error_code == code]
        catch_all = [b for b in step.errors if b.error_code == ""]
        boundary = exact[0] if exact else catch_all[0] if catch_all else None
        token.wait = None
        if boundary is not None:
            self.cancel_timers(token)
            self.record("error_caught", token, error_code=code, boundary=boundary.step_id)
            self.record("step_cancelled", token, reason=f"error {code}")
            token.step = boundary.step_id
            token.status = "active"
            self.record("step_entered", token)
            self.record("step_completed", token)
            self.leave(token, self.definition.steps[boundary.step_id], boundary.target)
            return
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
                self.commands.append(cancel_command(step.kind, token.wait, "escalated"))
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
            branch = self.spawn(target_id, token.scope, token.branch, copy_locals(token.locals))
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
                    # boundary timers scheduled before the incident keep running
                    self.activate(token, step, boundaries=not token.timers)
                return
        raise EventRejected(f"incident '{incident_id}' is not open", code="no_incident")
