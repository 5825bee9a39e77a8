"""Hypothesis strategies for the pure engine: valid definitions, and plans that drive them.

:func:`definitions` builds process definitions from structured blocks (sequences of service and
user tasks, receive tasks, call activities, assignments and timers; exclusive, parallel,
inclusive and event gateways; boundary timers and error boundaries; multi-instance steps; end
events), so that every definition it generates is valid by construction (the tests assert that
it compiles). Blocks are built back to front: each is generated knowing the step it goes on to
(``cont``), which keeps every ``next`` pointing at a real step and every branch of a join
ending by itself. A budget bounds the steps; the branches of a block share it.

:class:`PlanRunner` plays the world against a :class:`~support.driver.Driver`: at each point it
draws one piece of the outstanding work (``Driver.open``) and answers it (completes a job, a task
or a child, fires a timer, delivers a message) or, about one time in four, makes trouble (fails a
job or a child, with or without an error code; answers with values of the wrong type; retries an
open incident); now and then it cancels the instance. It stops when nothing is open, the instance
has ended, or a bound on the number of events is reached. Every event sent is kept in
:attr:`Run.trace`, with the state it was applied to and the decision (or refusal) it gave.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from engine import (
    CompiledDefinition,
    Decision,
    EventRejected,
    InstanceState,
    InvalidVariables,
    compile_definition,
)
from engine import commands as cmd
from engine import events as ev
from engine.errors import DefinitionInvalid
from support.driver import Driver, Work

MAX_STEPS = 25
MAX_DEPTH = 3

DURATIONS = ("30s", "5m", "1h", "2h", "PT1H", "1d")
ERROR_CODES = ("E1", "E2")  # caught by error boundaries that name them
ANY_CODE = "E3"  # caught only by a catch-all error boundary
UNCAUGHT_CODE = "E9"  # caught by a catch-all error boundary, if the step has one
CHILD_PROCESS = "child_process"
VARIABLES: dict[str, Any] = {
    "choice": {"type": "integer", "default": 0},
    "flag": {"type": "boolean", "default": False},
}
FLAG_FORM: dict[str, Any] = {
    "fields": [{"id": "flag", "label": "Flag", "type": "boolean", "required": True}]
}
INCLUSIVE_CONDITIONS = ("${choice >= 1}", "${choice >= 2}", "${flag}", "${!flag}", "${choice == 0}")
ASSIGNMENTS: tuple[dict[str, Any], ...] = (
    {"choice": 1},
    {"choice": 2},
    {"choice": "${choice + 1}"},
    {"flag": True},
    {"flag": "${!flag}"},
    {"note": "set by a step"},
)
ACTIVITIES = ("service_task", "user_task", "receive_task", "call_activity")
SIMPLE = (
    "service_task",
    "user_task",
    "set_variables",
    "timer_event",
    "receive_task",
    "call_activity",
)
BLOCKS = ("exclusive_gateway", "parallel_gateway", "inclusive_gateway", "event_gateway")
PREFIX = {
    "service_task": "job",
    "user_task": "task",
    "receive_task": "recv",
    "call_activity": "call",
    "set_variables": "set",
    "timer_event": "wait",
    "exclusive_gateway": "xor",
    "parallel_gateway": "and",
    "inclusive_gateway": "or",
    "event_gateway": "evt",
    "end_event": "end",
}

Json = dict[str, Any]


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    """What a generated definition may use beyond the basic blocks."""

    error_ends: bool = True  # end events with an error_code (the instance fails)


class _Builder:
    """Builds the steps of one definition, block by block, back to front."""

    def __init__(self, draw: st.DrawFn, features: Features, max_steps: int, max_depth: int) -> None:
        self.draw = draw
        self.features = features
        self.budget = max_steps
        self.reserved = 0  # steps promised to mandatory parts not built yet
        self.max_depth = max_depth
        self.steps: list[Json] = []
        self.counter = 0

    def new_id(self, kind: str) -> str:
        self.counter += 1
        self.budget -= 1
        return f"{PREFIX.get(kind, kind)}_{self.counter}"

    def sequence(
        self,
        cont: str | None,
        depth: int,
        *,
        may_end: bool,
        min_len: int,
        share: int | None = None,
    ) -> str | None:
        """Steps in a row that go on at ``cont`` (None: the path ends); the id of the first
        (``cont`` itself when empty). ``may_end``: the last step may be an end event.
        A sequence that must not be empty (``min_len`` 1) was reserved a step: it takes it.
        ``share``: the most steps it may take (a block's branches share its budget)."""
        self.reserved -= min_len
        held = 0 if share is None else max(0, self.available() - max(share, min_len))
        self.reserved += held
        entry = cont
        count = 0
        # one "more?" draw per step, as st.lists does: a step and its choices are one contiguous
        # block of the choice sequence, which the shrinker deletes in one go
        while count < min_len or (count < 5 and self.available() > 0 and self.more()):
            entry = self.node(entry, depth, may_end=may_end and count == 0)
            count += 1
        self.reserved -= held
        return entry

    def node(self, cont: str | None, depth: int, *, may_end: bool) -> str:
        kinds = list(SIMPLE)
        if depth < self.max_depth and self.available() >= 5:
            kinds += BLOCKS
        if may_end and self.draw(st.integers(0, 7)) == 7:
            return self.end()
        kind = self.draw(st.sampled_from(kinds))
        if kind in ACTIVITIES:
            return self.activity(kind, cont, depth)
        if kind == "set_variables":
            return self.assignment(cont)
        if kind == "timer_event":
            return self.timer(cont)
        if kind == "exclusive_gateway":
            return self.exclusive(cont, depth)
        if kind == "parallel_gateway":
            return self.parallel(cont, depth)
        if kind == "inclusive_gateway":
            return self.inclusive(cont, depth)
        return self.event_gateway(cont, depth)

    def more(self) -> bool:
        """Go on with another step: three times in four (and no when shrunk)."""
        return self.draw(st.integers(0, 3)) != 0

    def rarely(self) -> bool:
        """True about one time in four (and false when shrunk)."""
        return self.draw(st.integers(0, 3)) == 3

    def available(self) -> int:
        return self.budget - self.reserved

    def width(self, most: int, spare: int = 0) -> int:
        """How many branches a block may have: each takes at least one step of the budget."""
        return max(1, min(most, self.available() - spare))

    def reserve(self, steps: int) -> None:
        self.reserved += steps

    @staticmethod
    def flow(step: Json, cont: str | None) -> Json:
        if cont is not None:
            step["next"] = [cont]
        return step

    # --- simple steps ---------------------------------------------------------------------

    def activity(self, kind: str, cont: str | None, depth: int) -> str:
        step_id = self.new_id(kind)
        step = self.flow({"id": step_id, "type": kind, "config": self.config(kind)}, cont)
        self.steps.append(step)
        if self.rarely():
            step["multi_instance"] = self.multi()
            return step_id  # boundary events on multi-instance steps are not supported
        if depth < self.max_depth and self.available() >= 2:
            for _ in range(self.draw(st.integers(0, min(2, self.available() // 2)))):
                self.boundary(step_id, kind, cont, depth)
        return step_id

    def config(self, kind: str) -> Json:
        if kind == "service_task":
            return {
                "service_name": "svc",
                "retry": {"max_attempts": self.draw(st.integers(1, 3)), "backoff": "1s"},
            }
        if kind == "user_task":
            return self.draw(
                st.sampled_from([{}, {"form": FLAG_FORM}, {"candidate_groups": ["g"], "due": "1d"}])
            )
        if kind == "receive_task":
            config: Json = {"message": f"msg_{self.counter}"}
            if self.draw(st.booleans()):
                config["correlation_key"] = "key-1"
            return config
        return {"process": CHILD_PROCESS}

    def multi(self) -> Json:
        multi: Json = {
            "cardinality": self.draw(st.integers(0, 3)),
            "mode": self.draw(st.sampled_from(["parallel", "sequential"])),
        }
        if self.rarely():
            multi["output_collection"] = f"results_{self.counter}"
        if self.rarely():
            multi["completion_condition"] = "${nr_of_completed_instances >= 1}"
        if self.draw(st.integers(0, 2)) == 2:
            multi["synchronize"] = False
        return multi

    def boundary(self, host: str, kind: str, cont: str | None, depth: int) -> None:
        kinds = ["escalate", "remind"]
        if kind in ("service_task", "call_activity"):
            kinds += ["error", "error"]  # half of their boundaries catch errors
        which = self.draw(st.sampled_from(kinds))
        boundary_id = self.new_id("timer_event" if which != "error" else "catch")
        # a reminder's path may rejoin the flow after the task, or end by itself
        rejoin = cont if which != "remind" or self.draw(st.booleans()) else None
        share = self.available() // 3
        handler = self.sequence(rejoin, depth + 1, may_end=True, min_len=0, share=share)
        step: Json
        if which == "error":
            config: Json = {"attached_to": host}
            code = self.draw(st.sampled_from([None, *ERROR_CODES]))
            if code is not None:
                config["error_code"] = code
            step = self.flow({"id": boundary_id, "type": "error_event", "config": config}, handler)
        else:
            config = {"attached_to": host, "duration": self.draw(st.sampled_from(DURATIONS))}
            if which == "remind":
                config["interrupting"] = False
            step = {"id": boundary_id, "type": "timer_event", "config": config}
            if handler is not None:
                if self.draw(st.booleans()):
                    config["action"] = handler
                else:
                    step["next"] = [handler]
        self.steps.append(step)

    def assignment(self, cont: str | None) -> str:
        step_id = self.new_id("set_variables")
        chosen = self.draw(st.lists(st.sampled_from(ASSIGNMENTS), min_size=1, max_size=2))
        assign: Json = {}
        for item in chosen:
            assign.update(item)
        config = {"assign": assign}
        self.steps.append(
            self.flow({"id": step_id, "type": "set_variables", "config": config}, cont)
        )
        return step_id

    def timer(self, cont: str | None) -> str:
        step_id = self.new_id("timer_event")
        config: Json = {"duration": self.draw(st.sampled_from(DURATIONS))}
        step: Json = {"id": step_id, "type": "timer_event", "config": config}
        if cont is not None:
            if self.draw(st.booleans()):
                config["action"] = cont
            else:
                step["next"] = [cont]
        self.steps.append(step)
        return step_id

    def end(self) -> str:
        step_id = self.new_id("end_event")
        kinds = ["plain", "terminate"] + (["error"] if self.features.error_ends else [])
        which = self.draw(st.sampled_from(kinds))
        config: Json = {}
        if which == "terminate":
            config["terminate"] = True
        elif which == "error":
            config["error_code"] = "FAILED_END"
        self.steps.append({"id": step_id, "type": "end_event", "config": config})
        return step_id

    # --- blocks -----------------------------------------------------------------------------

    def exclusive(self, cont: str | None, depth: int) -> str:
        step_id = self.new_id("exclusive_gateway")
        min_len = 0 if cont is not None else 1
        count = self.draw(st.integers(1, self.width(3)))
        share = max(1, self.available() // (count + 1))
        self.reserve((count + 1) * min_len)
        conditions = []
        for _ in range(count):
            value = self.draw(st.integers(0, 3))
            target = self.sequence(cont, depth + 1, may_end=True, min_len=min_len, share=share)
            conditions.append({"expression": f"${{choice == {value}}}", "next": target})
        # the default keeps the path after the gateway reachable: it never ends the process
        default = self.sequence(cont, depth + 1, may_end=cont is None, min_len=min_len, share=share)
        config = {"conditions": conditions, "default": default}
        self.steps.append({"id": step_id, "type": "exclusive_gateway", "config": config})
        return step_id

    def parallel(self, cont: str | None, depth: int) -> str:
        step_id = self.new_id("parallel_gateway")
        count = self.draw(st.integers(1, self.width(3)))
        share = max(1, self.available() // count)
        self.reserve(count)
        branches = [
            self.sequence(None, depth + 1, may_end=True, min_len=1, share=share)
            for _ in range(count)
        ]
        join = self.draw(st.sampled_from(["all_complete", "any_complete", "n_of_m"]))
        if join == "n_of_m":
            join = f"{self.draw(st.integers(1, count))}_of_{count}"
        config: Json = {"parallel_tasks": branches, "join_condition": join}
        cancel = self.draw(st.sampled_from([None, True, False]))
        if cancel is not None:
            config["cancel_remaining"] = cancel
        step = {"id": step_id, "type": "parallel_gateway", "config": config}
        self.steps.append(self.flow(step, cont))
        return step_id

    def inclusive(self, cont: str | None, depth: int) -> str:
        step_id = self.new_id("inclusive_gateway")
        count = self.draw(st.integers(1, self.width(3, spare=1)))
        share = max(1, self.available() // (count + 1))
        self.reserve(count + 1)
        conditions = []
        for _ in range(count):
            expression = self.draw(st.sampled_from(INCLUSIVE_CONDITIONS))
            target = self.sequence(None, depth + 1, may_end=True, min_len=1, share=share)
            conditions.append({"expression": expression, "next": target})
        default = self.sequence(None, depth + 1, may_end=True, min_len=1, share=share)
        config = {"conditions": conditions, "default": default}
        step = {"id": step_id, "type": "inclusive_gateway", "config": config}
        self.steps.append(self.flow(step, cont))
        return step_id

    def event_gateway(self, cont: str | None, depth: int) -> str:
        step_id = self.new_id("event_gateway")
        messages = self.draw(st.integers(1, self.width(2)))
        timers = self.draw(st.integers(0, 1 if self.available() > messages else 0))
        share = max(0, self.available() // (messages + timers) - 1)
        self.reserve(messages + timers)
        targets = []
        for i in range(messages + timers):
            kind = "receive_task" if i < messages else "timer_event"
            self.reserved -= 1
            target_id = self.new_id(kind)
            # the first path keeps the step after the gateway reachable
            after = self.sequence(
                cont, depth + 1, may_end=i > 0 or cont is None, min_len=0, share=share
            )
            config: Json
            if kind == "receive_task":
                config = {"message": f"msg_{target_id}"}
            else:
                config = {"duration": self.draw(st.sampled_from(DURATIONS))}
            self.steps.append(self.flow({"id": target_id, "type": kind, "config": config}, after))
            targets.append(target_id)
        self.steps.append({"id": step_id, "type": "event_gateway", "next": targets})
        return step_id


@st.composite
def definitions(
    draw: st.DrawFn,
    features: Features = Features(),
    max_steps: int = MAX_STEPS,
    max_depth: int = MAX_DEPTH,
) -> Json:
    """A valid process definition (plain JSON data) of at most about ``max_steps`` steps and
    at most ``max_depth`` nested blocks."""
    builder = _Builder(draw, features, max_steps, max_depth)
    explicit_end = draw(st.booleans())
    tail: list[Json] = []
    cont: str | None = None
    if explicit_end:
        cont = "end"
        builder.budget -= 1
        tail.append({"id": "end", "type": "end_event"})
    builder.reserve(1)
    entry = builder.sequence(cont, 0, may_end=not explicit_end, min_len=1)
    assert entry is not None
    start = {"id": "start", "type": "start_event", "next": [entry]}
    return {
        "key": "generated",
        "name": "generated",
        "variables": VARIABLES,
        "steps": [start, *builder.steps, *tail],
    }


def start_variables() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={"choice": st.integers(0, 3), "flag": st.booleans()})


def compile_generated(data: Json) -> CompiledDefinition:
    """Compile a generated definition; a generated one that does not compile is a bug of the
    strategy (or of the validator), reported with every problem."""
    try:
        return compile_definition(data)
    except DefinitionInvalid as error:  # pragma: no cover - reported as a failure
        problems = "\n".join(str(p) for p in error.problems)
        raise AssertionError(
            f"a generated definition does not compile:\n{problems}\n{json.dumps(data, indent=1)}"
        ) from error


def step_ids(data: Json) -> set[str]:
    return {step["id"] for step in data["steps"]}


# --- plans -------------------------------------------------------------------------------------

Hook = Callable[[InstanceState | None, ev.Event, datetime], None]


@dataclass
class TrackingDriver(Driver):
    """The driver, noting (rather than asserting at once) a cancel command for work that is not
    outstanding: a property says what is wrong with it, and the other properties still run."""

    stray_cancels: list[str] = field(default_factory=list)

    def _close(self, work_id: str) -> None:
        if work_id in self.open:
            del self.open[work_id]
        else:
            self.stray_cancels.append(work_id)


RESULTS: tuple[dict[str, Any], ...] = ({}, {"choice": 1}, {"choice": 2}, {"flag": True})
WRONG_TYPE: dict[str, Any] = {"choice": "many", "flag": "yes"}  # declared integer and boolean


@dataclass(frozen=True)
class Plan:
    """What a plan may do besides answering work successfully."""

    # fail jobs and children (with and without an error code), and answer with values of the
    # wrong type (an incident for a job or a child; refused, and nothing changes, for a form)
    failures: bool = True
    retries: bool = True  # retry open incidents
    cancel: bool = True  # now and then, cancel the instance
    max_events: int = 60


SUCCESS_ONLY = Plan(failures=False, retries=False, cancel=False, max_events=400)


@dataclass(frozen=True)
class Action:
    verb: str  # complete | complete_invalid | fire | deliver | fail | fail_error | retry
    kind: str  # job | task | timer | subscription | child | incident
    target: str  # the work's or the incident's id
    step_id: str
    code: str | None = None  # fail_error: the business error reported


@dataclass
class Sent:
    """One event of a run: the state it was applied to, and what came of it."""

    event: ev.Event
    now: datetime
    before: InstanceState | None
    decision: Decision | None
    rejected: EventRejected | None = None


@dataclass
class Run:
    driver: TrackingDriver
    trace: list[Sent] = field(default_factory=list)
    # outstanding work (per the commands) that the engine refused to take an answer for
    unanswerable: list[tuple[Work | str, EventRejected]] = field(default_factory=list)
    stopped: str = ""  # ended | idle (nothing open) | bound

    def log(self) -> str:
        lines = []
        for i, sent in enumerate(self.trace):
            outcome = "rejected: " + str(sent.rejected) if sent.rejected else ""
            lines.append(f"  {i}: {sent.event!r} {outcome}")
        return "\n".join(lines)


class PlanRunner:
    def __init__(
        self,
        data: st.DataObject,
        definition: CompiledDefinition,
        plan: Plan = Plan(),
        hook: Hook | None = None,
    ) -> None:
        self.data = data
        self.plan = plan
        self.hook = hook
        self.run = Run(TrackingDriver(definition))

    @property
    def driver(self) -> TrackingDriver:
        return self.run.driver

    def send(self, event: ev.Event) -> Decision | None:
        d = self.driver
        before, now = d.state, d.now
        if self.hook is not None:
            self.hook(before, event, now)
        try:
            decision = d.send(event)
        except EventRejected as error:
            self.run.trace.append(Sent(event, now, before, None, error))
            return None
        self.run.trace.append(Sent(event, now, before, decision))
        return decision

    def start(self, variables: dict[str, Any]) -> Run:
        decision = self.send(ev.InstanceStarted(variables))
        assert decision is not None, f"the instance did not start: {self.run.trace[-1].rejected}"
        return self.run

    def running(self) -> bool:
        return self.driver.state is not None and self.driver.state.status == "running"

    def menu(self) -> tuple[list[Action], list[Action]]:
        """What can be done now: answers that succeed, and trouble (failures and retries)."""
        d = self.driver
        verbs = {"job": "complete", "task": "complete", "timer": "fire"}
        verbs |= {"subscription": "deliver", "child": "complete"}
        success = [Action(verbs[w.kind], w.kind, w.id, w.step_id) for w in d.open.values()]
        trouble: list[Action] = []
        if self.plan.failures:
            for w in d.open.values():
                if w.kind in ("job", "child"):
                    trouble.append(Action("fail", w.kind, w.id, w.step_id))
                    # an error the step catches (if it has error boundaries) and one it does not
                    errors = d.definition.steps[w.step_id].errors
                    caught = {b.error_code or ANY_CODE for b in errors}
                    for code in [UNCAUGHT_CODE, *sorted(caught)]:
                        trouble.append(Action("fail_error", w.kind, w.id, w.step_id, code))
                if w.kind in ("job", "child") or (
                    isinstance(w.command, cmd.CreateUserTask) and w.command.form is not None
                ):
                    trouble.append(Action("complete_invalid", w.kind, w.id, w.step_id))
        if self.plan.retries:
            trouble += [Action("retry", "incident", i, c.step_id) for i, c in d.incidents.items()]
        return success, trouble

    def drive(self, max_events: int | None = None) -> Run:
        """Answer work until the instance ends, nothing is open, or the bound is reached.
        About one step in four is trouble (when the plan allows it), one in 25 a cancel."""
        bound = self.plan.max_events if max_events is None else max_events
        for number in range(bound):
            if not self.running():
                self.run.stopped = "ended"
                return self.run
            success, trouble = self.menu()
            if not success and not trouble:
                self.run.stopped = "idle"
                return self.run
            if self.plan.cancel and self.data.draw(st.integers(0, 24), label="cancel") == 24:
                self.send(ev.CancelRequested("plan"))
                continue
            if trouble and (not success or self.data.draw(st.integers(0, 3), label="trouble") == 3):
                actions = trouble
            else:
                actions = success
            self.perform(self.data.draw(st.sampled_from(actions), label=f"event {number}"))
        self.run.stopped = "bound" if self.running() else "ended"
        return self.run

    def perform(self, action: Action) -> None:  # noqa: C901 - one branch per action
        d = self.driver
        if action.kind == "incident":
            if self.send(ev.IncidentRetried(action.target)) is None:
                d.incidents.pop(action.target, None)
                self.refused(action.target)
            return
        work = d.open[action.target]
        if action.verb == "deliver":
            self.deliver(work)
            return
        if action.kind != "task":
            del d.open[work.id]  # answered (as the driver does: before sending)
        event: ev.Event
        if action.verb == "fire":
            assert isinstance(work.command, cmd.ScheduleTimer)
            d.now = max(d.now, work.command.due_at)
            event = ev.TimerFired(work.id)
        elif action.verb == "complete_invalid":
            if action.kind == "job":
                event = ev.ServiceTaskCompleted(work.id, WRONG_TYPE)
            elif action.kind == "child":
                event = ev.ChildInstanceCompleted(work.id, WRONG_TYPE)
            else:
                event = ev.UserTaskCompleted(work.id, WRONG_TYPE)
        elif action.kind == "task":
            assert isinstance(work.command, cmd.CreateUserTask)
            if work.command.form is not None:
                result: dict[str, Any] = {"flag": self.data.draw(st.booleans(), label="flag")}
            else:
                result = self.data.draw(st.sampled_from(RESULTS), label="result")
            event = ev.UserTaskCompleted(work.id, result)
        elif action.verb == "complete":
            result = self.data.draw(st.sampled_from(RESULTS), label="result")
            if action.kind == "job":
                event = ev.ServiceTaskCompleted(work.id, result)
            else:
                event = ev.ChildInstanceCompleted(work.id, result)
        else:
            code = action.code
            if action.kind == "job":
                retryable = code is None and self.data.draw(st.booleans(), label="retryable")
                event = ev.ServiceTaskFailed(work.id, "boom", code, retryable=retryable)
            else:
                event = ev.ChildInstanceFailed(work.id, "boom", code)
        decision = self.send(event)
        if action.kind == "task" and action.verb == "complete_invalid":
            rejected = self.run.trace[-1].rejected
            assert isinstance(rejected, InvalidVariables), f"a wrong form was taken: {event!r}"
            return  # refused, nothing changed: the task is still open
        if action.kind == "task" and decision is not None:
            d.open.pop(work.id, None)
        if decision is None:
            d.open.pop(work.id, None)
            self.refused(work)

    def deliver(self, work: Work) -> None:
        d = self.driver
        assert isinstance(work.command, cmd.SubscribeMessage)
        before = d.state
        assert before is not None
        result = self.data.draw(st.sampled_from(RESULTS), label="message variables")
        event = ev.MessageReceived(work.command.message, result, work.command.correlation_key)
        decision = self.send(event)
        if decision is None:
            d.open.pop(work.id, None)
            self.refused(work)
            return
        received = [h for h in decision.history if h.type == "message_received"]
        assert len(received) == 1, f"one message, received {len(received)} times"
        taken = received[0]
        consumed = (taken.data or {}).get("subscription")
        if consumed is None:  # a receive task: the subscription its token waited for
            token = before.tokens.get(taken.token_id or "")
            consumed = token.wait if token is not None else None
        assert isinstance(consumed, str), f"cannot tell which subscription took {event!r}"
        d.open.pop(consumed, None)

    def refused(self, work: Work | str) -> None:
        rejected = self.run.trace[-1].rejected
        assert rejected is not None
        self.run.unanswerable.append((work, rejected))


def run_plan(
    data: st.DataObject,
    definition: CompiledDefinition,
    plan: Plan = Plan(),
    hook: Hook | None = None,
) -> Run:
    """Start an instance with drawn variables and drive it by a drawn plan."""
    runner = PlanRunner(data, definition, plan, hook)
    runner.start(data.draw(start_variables(), label="start variables"))
    return runner.drive()


def late_events(driver: Driver) -> list[ev.Event]:
    """Events that answer work of an instance's past (and a few that answer nothing): once the
    instance has ended, each must be refused."""
    events: list[ev.Event] = [
        ev.CancelRequested("again"),
        ev.VariablesUpdated({"choice": 1}),
        ev.InstanceStarted({}),
        ev.MessageReceived("msg_unknown"),
    ]
    for c in driver.commands:
        if isinstance(c, cmd.RunServiceTask):
            events += [ev.ServiceTaskCompleted(c.job_id), ev.ServiceTaskFailed(c.job_id, "late")]
        elif isinstance(c, cmd.CreateUserTask):
            events.append(ev.UserTaskCompleted(c.task_id, {}))
        elif isinstance(c, cmd.ScheduleTimer):
            events.append(ev.TimerFired(c.timer_id))
        elif isinstance(c, cmd.SubscribeMessage):
            events.append(ev.MessageReceived(c.message, {}, c.correlation_key))
        elif isinstance(c, cmd.StartChildInstance):
            events += [
                ev.ChildInstanceCompleted(c.child_id),
                ev.ChildInstanceFailed(c.child_id, "x"),
            ]
        elif isinstance(c, cmd.RaiseIncident):
            events.append(ev.IncidentRetried(c.incident_id))
    return events
