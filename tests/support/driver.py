"""A test driver for the pure engine: feeds events, tracks the outstanding work.

It plays the part a service plays in production (keep the state, carry out commands), with
every piece of outstanding work indexed by the step it belongs to, so tests read as the
process does: ``d.complete_task("manager_approval", approved=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine import CompiledDefinition, Decision, InstanceState, compile_definition, decide
from engine import commands as cmd
from engine import events as ev

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def withdrawn_id(c: cmd.Command) -> str | None:
    """The id of the work a cancel command withdraws (None: not a cancel command)."""
    if isinstance(c, cmd.CancelJob):
        return c.job_id
    if isinstance(c, cmd.CancelUserTask):
        return c.task_id
    if isinstance(c, cmd.CancelTimer):
        return c.timer_id
    if isinstance(c, cmd.CancelSubscription):
        return c.subscription_id
    if isinstance(c, cmd.CancelChildInstance):
        return c.child_id
    return None


@dataclass
class Work:
    """One outstanding thing the engine waits for (a job, task, timer, subscription, child)."""

    kind: str  # job | task | timer | subscription | child
    id: str
    step_id: str
    command: cmd.Command


@dataclass
class Driver:
    definition: CompiledDefinition
    now: datetime = T0
    state: InstanceState | None = None
    commands: list[cmd.Command] = field(default_factory=list)
    history: list[cmd.HistoryEvent] = field(default_factory=list)
    open: dict[str, Work] = field(default_factory=dict)
    incidents: dict[str, cmd.RaiseIncident] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: Mapping[str, Any] | CompiledDefinition) -> Driver:
        if isinstance(definition, CompiledDefinition):
            return cls(definition)
        return cls(compile_definition(dict(definition)))

    # --- feeding events -------------------------------------------------------------------

    def send(self, event: ev.Event) -> Decision:
        decision = decide(self.definition, self.state, event, self.now)
        self.state = decision.state
        self.commands.extend(decision.commands)
        self.history.extend(decision.history)
        for command in decision.commands:
            self._track(command)
        return decision

    def start(self, **variables: Any) -> Decision:
        return self.send(ev.InstanceStarted(variables))

    def _track(self, c: cmd.Command) -> None:
        if isinstance(c, cmd.RunServiceTask):
            self.open[c.job_id] = Work("job", c.job_id, c.step_id, c)
        elif isinstance(c, cmd.CreateUserTask):
            self.open[c.task_id] = Work("task", c.task_id, c.step_id, c)
        elif isinstance(c, cmd.ScheduleTimer):
            self.open[c.timer_id] = Work("timer", c.timer_id, c.step_id, c)
        elif isinstance(c, cmd.SubscribeMessage):
            self.open[c.subscription_id] = Work("subscription", c.subscription_id, c.step_id, c)
        elif isinstance(c, cmd.StartChildInstance):
            self.open[c.child_id] = Work("child", c.child_id, c.step_id, c)
        elif (withdrawn := withdrawn_id(c)) is not None:
            self._close(withdrawn)
        elif isinstance(c, cmd.RaiseIncident):
            self.incidents[c.incident_id] = c
        elif isinstance(c, cmd.ResolveIncident):
            self.incidents.pop(c.incident_id, None)

    def _close(self, work_id: str) -> None:
        assert work_id in self.open, f"the engine cancelled {work_id}, which is not open"
        del self.open[work_id]

    def work(self, kind: str, step_id: str) -> Work:
        """The one outstanding piece of work of ``kind`` at ``step_id``."""
        found = [w for w in self.open.values() if w.kind == kind and w.step_id == step_id]
        assert len(found) == 1, f"expected one open {kind} at {step_id}, found {found}"
        return found[0]

    def all_work(self, kind: str, step_id: str | None = None) -> list[Work]:
        return [
            w
            for w in self.open.values()
            if w.kind == kind and (step_id is None or w.step_id == step_id)
        ]

    # --- acting as the world ----------------------------------------------------------------

    def finish(self, work: Work, actor: str | None = None, **variables: Any) -> Decision:
        """Complete one specific job or task (a multi-instance step has several open)."""
        del self.open[work.id]
        if work.kind == "job":
            return self.send(ev.ServiceTaskCompleted(work.id, variables))
        assert work.kind == "task", work
        return self.send(ev.UserTaskCompleted(work.id, variables, actor))

    def complete_job(self, step_id: str, **variables: Any) -> Decision:
        return self.finish(self.work("job", step_id), **variables)

    def fail_job(
        self, step_id: str, message: str = "boom", error_code: str | None = None
    ) -> Decision:
        job = self.work("job", step_id)
        del self.open[job.id]
        return self.send(ev.ServiceTaskFailed(job.id, message, error_code))

    def complete_task(self, step_id: str, actor: str | None = None, **variables: Any) -> Decision:
        task = self.work("task", step_id)
        decision = self.send(ev.UserTaskCompleted(task.id, variables, actor))
        self.open.pop(task.id, None)  # only once accepted: a refused completion leaves it open
        return decision

    def fire_timer(self, step_id: str) -> Decision:
        """Fire the timer of ``step_id`` (a timer_event, or a boundary timer's own id),
        moving the clock to its due time."""
        timer = self.work("timer", step_id)
        assert isinstance(timer.command, cmd.ScheduleTimer)
        self.now = max(self.now, timer.command.due_at)
        del self.open[timer.id]
        return self.send(ev.TimerFired(timer.id))

    def message(self, name: str, correlation_key: str | None = None, **variables: Any) -> Decision:
        decision = self.send(ev.MessageReceived(name, variables, correlation_key))
        # the subscription that took the message is answered, not cancelled: close it here
        for work in list(self.open.values()):
            if work.kind == "subscription" and not self._still_waiting(work.id):
                del self.open[work.id]
        return decision

    def _still_waiting(self, sub_id: str) -> bool:
        assert self.state is not None
        for token in self.state.tokens.values():
            if token.wait == sub_id or (token.subscriptions and sub_id in token.subscriptions):
                return True
        return False

    def complete_child(self, step_id: str, **variables: Any) -> Decision:
        child = self.work("child", step_id)
        del self.open[child.id]
        return self.send(ev.ChildInstanceCompleted(child.id, variables))

    def fail_child(self, step_id: str, message: str, error_code: str | None = None) -> Decision:
        child = self.work("child", step_id)
        del self.open[child.id]
        return self.send(ev.ChildInstanceFailed(child.id, message, error_code))

    def cancel(self, reason: str = "") -> Decision:
        return self.send(ev.CancelRequested(reason))

    def retry(self, step_id: str) -> Decision:
        found = [i for i in self.incidents.values() if i.step_id == step_id]
        assert len(found) == 1, f"expected one incident at {step_id}, found {found}"
        return self.send(ev.IncidentRetried(found[0].incident_id))

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    # --- reading --------------------------------------------------------------------------

    @property
    def status(self) -> str:
        assert self.state is not None
        return self.state.status

    @property
    def variables(self) -> dict[str, Any]:
        assert self.state is not None
        return self.state.variables

    @property
    def active_steps(self) -> list[str]:
        assert self.state is not None
        return sorted(self.state.active_steps)

    def entered(self) -> list[str]:
        """Steps entered, in order."""
        return [h.step_id or "" for h in self.history if h.type == "step_entered"]

    def completed(self) -> list[str]:
        return [h.step_id or "" for h in self.history if h.type == "step_completed"]

    def history_types(self) -> list[str]:
        return [h.type for h in self.history]

    def ends(self) -> list[cmd.Command]:
        """Instance-ending commands issued so far (at most one, ever)."""
        return [
            c
            for c in self.commands
            if isinstance(c, cmd.InstanceCompleted | cmd.InstanceFailed | cmd.InstanceCancelled)
        ]
