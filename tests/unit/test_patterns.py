"""The workflow control-flow patterns (workflowpatterns.com) the definition language supports.

One test per pattern, named ``test_wcpNN_<pattern>``; variants of a pattern add a suffix. Each
test drives the pure state machine through events (with :class:`support.driver.Driver`) and
checks what an outside observer sees: the commands issued (work started and withdrawn), the
history (steps entered, joins fired, the instance's end) and the instance's status. Nothing
here reads tokens or scopes.

Patterns the language does not express, and so has no test here: WCP15 (instances added while
running), WCP17 (interleaved parallel routing), WCP18 (milestone), WCP24 (persistent trigger:
the pure core refuses a message nobody waits for), WCP25 (cancel region), WCP26/27 (cancel or
complete a multi-instance activity: boundaries on a multi-instance step are refused), WCP28/31
(blocking joins), WCP33 (generalised AND-join), WCP34/36 (a multi-instance partial join that
lets the remaining instances run on, or grows), WCP37/38 (unstructured synchronising merges),
WCP39/40 (critical section, interleaved routing), WCP41/42 (thread merge/split).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol, TypeVar

import pytest
from support.driver import T0, Driver, Work, withdrawn_id

from engine import Decision, EventRejected, StaleEvent
from engine import commands as cmd
from engine import events as ev

Step = dict[str, Any]

# --- building definitions ---------------------------------------------------------------------


def process(*steps: Step, variables: dict[str, Any] | None = None, key: str = "pattern") -> Step:
    return {"name": key, "key": key, "variables": variables or {}, "steps": list(steps)}


def _with_next(step: Step, next_ids: tuple[str, ...], extra: dict[str, Any]) -> Step:
    if next_ids:
        step["next"] = list(next_ids)
    step.update(extra)
    return step


def start(step_id: str, *next_ids: str) -> Step:
    return _with_next({"id": step_id, "type": "start_event"}, next_ids, {})


def end(step_id: str, *, terminate: bool = False) -> Step:
    step: Step = {"id": step_id, "type": "end_event"}
    if terminate:
        step["config"] = {"terminate": True}
    return step


def service(step_id: str, *next_ids: str, **extra: Any) -> Step:
    step: Step = {
        "id": step_id,
        "type": "service_task",
        "config": {"service_name": f"svc.{step_id}"},
    }
    return _with_next(step, next_ids, extra)


def user(step_id: str, *next_ids: str, **extra: Any) -> Step:
    return _with_next({"id": step_id, "type": "user_task"}, next_ids, extra)


def receive(step_id: str, message: str, *next_ids: str) -> Step:
    return _with_next(
        {"id": step_id, "type": "receive_task", "config": {"message": message}}, next_ids, {}
    )


def assign(step_id: str, values: dict[str, Any], *next_ids: str) -> Step:
    return _with_next(
        {"id": step_id, "type": "set_variables", "config": {"assign": values}}, next_ids, {}
    )


def parallel(
    step_id: str,
    branches: list[str],
    *next_ids: str,
    join: str = "all_complete",
    cancel_remaining: bool | None = None,
) -> Step:
    config: dict[str, Any] = {"parallel_tasks": branches, "join_condition": join}
    if cancel_remaining is not None:
        config["cancel_remaining"] = cancel_remaining
    return _with_next({"id": step_id, "type": "parallel_gateway", "config": config}, next_ids, {})


def _conditions(conditions: list[tuple[str, str]], default: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {"conditions": [{"expression": e, "next": n} for e, n in conditions]}
    if default is not None:
        config["default"] = default
    return config


def exclusive(step_id: str, conditions: list[tuple[str, str]], default: str | None = None) -> Step:
    return {
        "id": step_id,
        "type": "exclusive_gateway",
        "config": _conditions(conditions, default),
    }


def inclusive(
    step_id: str, conditions: list[tuple[str, str]], *next_ids: str, default: str | None = None
) -> Step:
    step: Step = {
        "id": step_id,
        "type": "inclusive_gateway",
        "config": _conditions(conditions, default),
    }
    return _with_next(step, next_ids, {})


def event_gateway(step_id: str, *next_ids: str) -> Step:
    return _with_next({"id": step_id, "type": "event_gateway"}, next_ids, {})


def timer(step_id: str, duration: str, *next_ids: str, **config: Any) -> Step:
    return _with_next(
        {"id": step_id, "type": "timer_event", "config": {"duration": duration, **config}},
        next_ids,
        {},
    )


def error_boundary(step_id: str, attached_to: str, *next_ids: str, code: str | None = None) -> Step:
    config: dict[str, Any] = {"attached_to": attached_to}
    if code is not None:
        config["error_code"] = code
    return _with_next({"id": step_id, "type": "error_event", "config": config}, next_ids, {})


# --- reading what happened --------------------------------------------------------------------


class _HasStep(Protocol):
    @property
    def step_id(self) -> str: ...


S = TypeVar("S", bound=_HasStep)
T = TypeVar("T")
Source = Driver | Decision


def of_type(source: Source, kind: type[T]) -> list[T]:
    """The commands of ``kind`` issued (by the driver so far, or by one decision)."""
    return [c for c in source.commands if isinstance(c, kind)]


def issued(source: Source, kind: type[S]) -> list[str]:
    """The steps for which commands of ``kind`` were issued, in order."""
    return [c.step_id for c in source.commands if isinstance(c, kind)]


def recorded(source: Source, kind: str) -> list[cmd.HistoryEvent]:
    return [h for h in source.history if h.type == kind]


def entered(source: Source) -> list[str]:
    return [h.step_id or "" for h in recorded(source, "step_entered")]


def joins(source: Source) -> list[str]:
    """The gateways (or multi-instance steps) whose join fired, once per firing."""
    return [h.step_id or "" for h in recorded(source, "join_fired")]


def work_commands(source: Source) -> list[cmd.Command]:
    """Commands that start outstanding work."""
    kinds = (
        cmd.RunServiceTask,
        cmd.CreateUserTask,
        cmd.ScheduleTimer,
        cmd.SubscribeMessage,
        cmd.StartChildInstance,
    )
    return [c for c in source.commands if isinstance(c, kinds)]


def cancel_commands(source: Source) -> list[cmd.Command]:
    kinds = (
        cmd.CancelJob,
        cmd.CancelUserTask,
        cmd.CancelTimer,
        cmd.CancelSubscription,
        cmd.CancelChildInstance,
    )
    return [c for c in source.commands if isinstance(c, kinds)]


def cancelled(source: Source) -> list[str]:
    """The ids of the work withdrawn (jobs, tasks, timers, subscriptions, children), in order."""
    return [w for c in source.commands if (w := withdrawn_id(c)) is not None]


def by_element(d: Driver, kind: str, step_id: str, element_variable: str) -> dict[Any, Work]:
    """The open work of a multi-instance step, keyed by the element each instance runs for."""
    out: dict[Any, Work] = {}
    for work in d.all_work(kind, step_id):
        assert isinstance(work.command, cmd.RunServiceTask | cmd.CreateUserTask)
        out[work.command.variables[element_variable]] = work
    return out


def assert_ended_once(d: Driver, status: str = "completed") -> None:
    """The instance is over: one ending command, nothing left running or outstanding."""
    assert d.status == status
    assert len(d.ends()) == 1, d.ends()
    assert d.active_steps == []
    assert d.open == {}
    assert d.incidents == {}


# --- basic control flow -----------------------------------------------------------------------


def test_wcp01_sequence() -> None:
    """WCP1 Sequence: a task is enabled only once the task before it has completed.

    Expressed by ``next`` naming a single step: the token moves one step at a time, and only a
    completion event moves it on.
    """
    d = Driver.of(
        process(
            start("begin", "pick"),
            service("pick", "pack"),
            user("pack", "ship"),
            service("ship", "done"),
            end("done"),
        )
    )
    first = d.start()
    assert entered(first) == ["begin", "pick"]
    assert work_commands(first) == [d.work("job", "pick").command]

    second = d.complete_job("pick")
    assert entered(second) == ["pack"]
    assert issued(second, cmd.CreateUserTask) == ["pack"]
    assert issued(second, cmd.RunServiceTask) == []
    assert d.active_steps == ["pack"]

    third = d.complete_task("pack")
    assert issued(third, cmd.RunServiceTask) == ["ship"]
    assert len(work_commands(third)) == 1

    last = d.complete_job("ship")
    assert work_commands(last) == []
    assert entered(d) == ["begin", "pick", "pack", "ship", "done"]
    assert d.completed() == ["begin", "pick", "pack", "ship", "done"]
    assert_ended_once(d)


def test_wcp02_parallel_split() -> None:
    """WCP2 Parallel Split: one thread of control diverges into several that run concurrently.

    Expressed by a ``parallel_gateway``: every step in ``config.parallel_tasks`` starts at
    once, in the decision that reaches the gateway.
    """
    d = Driver.of(
        process(
            service("receive_order", "split"),
            parallel("split", ["invoice", "pick", "notify"], "ship"),
            service("invoice"),
            user("pick"),
            service("notify"),
            service("ship"),
        )
    )
    d.start()
    decision = d.complete_job("receive_order")

    [fork] = recorded(decision, "gateway_forked")
    assert fork.step_id == "split"
    assert fork.data is not None and fork.data["branches"] == ["invoice", "pick", "notify"]
    assert entered(decision) == ["split", "invoice", "pick", "notify"]
    assert issued(decision, cmd.RunServiceTask) == ["invoice", "notify"]
    assert issued(decision, cmd.CreateUserTask) == ["pick"]
    assert d.active_steps == ["invoice", "notify", "pick"]

    # the branches are independent: finishing one leaves the others running
    d.complete_job("notify")
    assert d.active_steps == ["invoice", "pick"]
    assert {w.step_id for w in d.open.values()} == {"invoice", "pick"}

    d.complete_task("pick")
    d.complete_job("invoice")
    d.complete_job("ship")
    assert_ended_once(d)


def test_wcp02_parallel_split_via_several_next_ids() -> None:
    """WCP2 Parallel Split, without a gateway: an ordinary step whose ``next`` lists several
    ids sends an independent thread down each of them when it completes."""
    d = Driver.of(
        process(
            service("receive_order", "invoice", "ship"),
            service("invoice", "invoiced"),
            service("ship"),
            end("invoiced"),
        )
    )
    d.start()
    decision = d.complete_job("receive_order")

    assert recorded(decision, "gateway_forked") == []
    assert entered(decision) == ["invoice", "ship"]
    assert issued(decision, cmd.RunServiceTask) == ["invoice", "ship"]
    assert d.active_steps == ["invoice", "ship"]

    d.complete_job("ship")
    assert d.status == "running"
    assert d.active_steps == ["invoice"]
    d.complete_job("invoice")
    assert_ended_once(d)


def test_wcp03_synchronization() -> None:
    """WCP3 Synchronization: several parallel branches converge into one thread, which goes on
    only once every branch has completed.

    Expressed by the ``parallel_gateway``'s join (``join_condition: all_complete``): a branch
    ends at a step without ``next`` (or a non-terminating ``end_event``) and the gateway's own
    ``next`` runs once, after the last branch.
    """
    d = Driver.of(
        process(
            parallel("checks", ["stock", "credit", "fraud"], "ship", join="all_complete"),
            service("stock", "reserve"),  # a branch of two steps
            service("reserve"),
            service("credit", "credit_ok"),
            end("credit_ok"),  # a plain end event ends only its branch
            user("fraud"),
            service("ship", "done"),
            end("done"),
        )
    )
    d.start()
    assert d.active_steps == ["credit", "fraud", "stock"]

    d.complete_job("credit")
    d.complete_task("fraud")
    d.complete_job("stock")
    assert joins(d) == []
    assert d.active_steps == ["reserve"]
    assert "ship" not in issued(d, cmd.RunServiceTask)

    last = d.complete_job("reserve")
    assert joins(last) == ["checks"]
    assert issued(last, cmd.RunServiceTask) == ["ship"]
    assert d.active_steps == ["ship"]

    d.complete_job("ship")
    assert joins(d) == ["checks"]  # exactly once
    assert entered(d).count("ship") == 1
    assert_ended_once(d)


@pytest.mark.parametrize(
    ("amount", "chosen"),
    [(5000.0, "manager_approval"), (500.0, "clerk_approval"), (50.0, "auto_approve")],
)
def test_wcp04_exclusive_choice(amount: float, chosen: str) -> None:
    """WCP4 Exclusive Choice: at a decision point exactly one of several branches is taken,
    chosen from the case's data.

    Expressed by an ``exclusive_gateway``: the first of ``config.conditions`` that holds wins
    (even when a later one holds as well), ``config.default`` when none does.
    """
    targets = ["manager_approval", "clerk_approval", "auto_approve"]
    d = Driver.of(
        process(
            exclusive(
                "route",
                [("${amount > 1000}", "manager_approval"), ("${amount > 100}", "clerk_approval")],
                default="auto_approve",
            ),
            *(service(t) for t in targets),
            variables={"amount": "number"},
        )
    )
    decision = d.start(amount=amount)

    [route] = [h for h in recorded(decision, "step_completed") if h.step_id == "route"]
    assert route.data == {"taken": chosen}
    assert entered(decision) == ["route", chosen]
    assert issued(decision, cmd.RunServiceTask) == [chosen]

    d.complete_job(chosen)
    assert not set(entered(d)) & (set(targets) - {chosen})
    assert_ended_once(d)


@pytest.mark.parametrize("amount", [5000.0, 50.0])
def test_wcp05_simple_merge(amount: float) -> None:
    """WCP5 Simple Merge: alternative branches converge into one without synchronisation;
    the step after the merge runs once for whichever branch was taken.

    Expressed by the alternatives' ``next`` naming the same step.
    """
    d = Driver.of(
        process(
            exclusive("route", [("${amount > 1000}", "manual")], default="automatic"),
            user("manual", "archive"),
            service("automatic", "archive"),
            service("archive", "done"),
            end("done"),
            variables={"amount": "number"},
        )
    )
    d.start(amount=amount)
    if amount > 1000:
        merged = d.complete_task("manual")
    else:
        merged = d.complete_job("automatic")

    assert issued(merged, cmd.RunServiceTask) == ["archive"]
    assert recorded(merged, "join_fired") == []
    d.complete_job("archive")
    assert entered(d).count("archive") == 1
    assert entered(d).count("done") == 1
    assert_ended_once(d)


@pytest.mark.parametrize(
    ("channels", "taken"),
    [
        ({"email": True, "sms": False, "post": True}, ["by_email", "by_post"]),
        ({"email": False, "sms": True, "post": False}, ["by_sms"]),
        ({"email": True, "sms": True, "post": True}, ["by_email", "by_sms", "by_post"]),
        ({"email": False, "sms": False, "post": False}, ["by_phone"]),
    ],
)
def test_wcp06_multi_choice(channels: dict[str, bool], taken: list[str]) -> None:
    """WCP6 Multi-Choice: at a decision point one or more branches are taken: every branch
    whose condition holds on the case's data.

    Expressed by an ``inclusive_gateway``: every one of ``config.conditions`` that holds starts
    its branch (``config.default`` when none holds), all in the same decision.
    """
    branches = ["by_email", "by_sms", "by_post", "by_phone"]
    d = Driver.of(
        process(
            inclusive(
                "notify",
                [("${email}", "by_email"), ("${sms}", "by_sms"), ("${post}", "by_post")],
                "closed",
                default="by_phone",
            ),
            *(service(b) for b in branches),
            service("closed"),
            variables={"email": "boolean", "sms": "boolean", "post": "boolean"},
        )
    )
    decision = d.start(**channels)

    [fork] = recorded(decision, "gateway_forked")
    assert fork.data is not None and fork.data["branches"] == taken
    assert issued(decision, cmd.RunServiceTask) == taken
    assert d.active_steps == sorted(taken)

    for step in taken:
        d.complete_job(step)
    d.complete_job("closed")
    assert not set(entered(d)) & (set(branches) - set(taken))
    assert_ended_once(d)


def test_wcp07_structured_synchronizing_merge() -> None:
    """WCP7 Structured Synchronizing Merge: the branches a multi-choice started converge, and
    the flow goes on once every branch that was *started* has completed (and no other).

    Expressed by the ``inclusive_gateway``'s join: its ``next`` runs once, after the last of
    the branches it took.
    """
    d = Driver.of(
        process(
            inclusive(
                "notify",
                [("${email}", "by_email"), ("${sms}", "by_sms"), ("${post}", "by_post")],
                "closed",
            ),
            service("by_email"),
            user("by_sms"),
            service("by_post"),
            service("closed"),
            variables={"email": "boolean", "sms": "boolean", "post": "boolean"},
        )
    )
    d.start(email=True, sms=False, post=True)
    assert d.active_steps == ["by_email", "by_post"]

    first = d.complete_job("by_post")
    assert joins(first) == []
    assert issued(first, cmd.RunServiceTask) == []

    # the branch not taken (by_sms) is not waited for
    last = d.complete_job("by_email")
    assert joins(last) == ["notify"]
    assert issued(last, cmd.RunServiceTask) == ["closed"]

    d.complete_job("closed")
    assert joins(d) == ["notify"]
    assert "by_sms" not in entered(d)
    assert_ended_once(d)


def test_wcp07_structured_synchronizing_merge_single_branch() -> None:
    """WCP7 with one branch taken: the merge fires as soon as that branch completes."""
    d = Driver.of(
        process(
            inclusive("notify", [("${email}", "by_email"), ("${sms}", "by_sms")], "closed"),
            service("by_email"),
            service("by_sms"),
            service("closed"),
            variables={"email": "boolean", "sms": "boolean"},
        )
    )
    d.start(email=False, sms=True)
    last = d.complete_job("by_sms")
    assert joins(last) == ["notify"]
    assert issued(last, cmd.RunServiceTask) == ["closed"]
    d.complete_job("closed")
    assert_ended_once(d)


def test_wcp08_multi_merge() -> None:
    """WCP8 Multi-Merge: branches converge without synchronisation, and the step after the
    merge runs once for *each* branch that arrives.

    Expressed by two independent threads (here from a step with several ids in ``next``) whose
    ``next`` names the same step: it runs twice, no join is involved.
    """
    d = Driver.of(
        process(
            service("register", "check_a", "check_b"),
            service("check_a", "record"),
            service("check_b", "record"),
            service("record", "done"),
            end("done"),
        )
    )
    d.start()
    d.complete_job("register")

    first = d.complete_job("check_b")
    assert issued(first, cmd.RunServiceTask) == ["record"]
    second = d.complete_job("check_a")
    assert issued(second, cmd.RunServiceTask) == ["record"]

    records = d.all_work("job", "record")
    assert len(records) == 2
    assert d.active_steps == ["record", "record"]
    assert joins(d) == []

    d.finish(records[0])
    assert d.status == "running"
    assert d.ends() == []
    d.finish(records[1])

    assert entered(d).count("record") == 2
    assert entered(d).count("done") == 2
    assert_ended_once(d)


def test_wcp08_multi_merge_inside_a_parallel_block() -> None:
    """WCP8 inside a parallel block: both branches run the shared step, each on its own, and
    the block's join still fires once, after both."""
    d = Driver.of(
        process(
            parallel("split", ["a", "b"], "after"),
            service("a", "shared"),
            service("b", "shared"),
            service("shared"),
            service("after"),
        )
    )
    d.start()
    d.complete_job("a")
    d.complete_job("b")
    shared = d.all_work("job", "shared")
    assert len(shared) == 2

    assert joins(d.finish(shared[0])) == []
    last = d.finish(shared[1])
    assert joins(last) == ["split"]
    assert issued(last, cmd.RunServiceTask) == ["after"]
    d.complete_job("after")
    assert_ended_once(d)


# --- advanced branching and synchronisation ---------------------------------------------------


def test_wcp09_structured_discriminator() -> None:
    """WCP9 Structured Discriminator: the flow goes on after the *first* of several parallel
    branches completes; the others still run to completion, and their completions are ignored.

    Expressed by a ``parallel_gateway`` with ``join_condition: any_complete`` and
    ``cancel_remaining: false``: its ``next`` runs once, the other branches are not withdrawn.
    """
    d = Driver.of(
        process(
            parallel(
                "ask_suppliers",
                ["supplier_a", "supplier_b", "supplier_c"],
                "order",
                join="any_complete",
                cancel_remaining=False,
            ),
            service("supplier_a"),
            service("supplier_b"),
            service("supplier_c"),
            service("order"),
        )
    )
    d.start()

    first = d.complete_job("supplier_b")
    assert joins(first) == ["ask_suppliers"]
    assert issued(first, cmd.RunServiceTask) == ["order"]
    assert cancelled(first) == []
    assert d.active_steps == ["order", "supplier_a", "supplier_c"]

    d.complete_job("order")
    assert d.status == "running"  # the remaining branches still count
    assert d.ends() == []

    for late in ("supplier_c", "supplier_a"):
        decision = d.complete_job(late)
        assert joins(decision) == []
        assert issued(decision, cmd.RunServiceTask) == []

    assert joins(d) == ["ask_suppliers"]
    assert entered(d).count("order") == 1
    assert_ended_once(d)


def test_wcp09_structured_discriminator_resets_for_the_next_round() -> None:
    """WCP9 in a loop: once all its branches have completed the discriminator is reset, and the
    next time the flow reaches it, it fires again on the first completion."""
    d = Driver.of(
        process(
            parallel("race", ["a", "b"], "after", join="any_complete", cancel_remaining=False),
            service("a"),
            service("b"),
            service("after", "again"),
            exclusive("again", [("${round < 2}", "race")], default="done"),
            end("done"),
            variables={"round": "integer"},
        )
    )
    d.start(round=0)
    assert joins(d.complete_job("a")) == ["race"]
    assert joins(d.complete_job("b")) == []
    d.complete_job("after", round=1)  # back to the gateway: round two

    assert d.active_steps == ["a", "b"]
    second = d.complete_job("b")
    assert joins(second) == ["race"]
    assert issued(second, cmd.RunServiceTask) == ["after"]
    d.complete_job("after", round=2)
    assert joins(d.complete_job("a")) == []

    assert joins(d) == ["race", "race"]
    assert_ended_once(d)


def test_wcp10_arbitrary_cycles() -> None:
    """WCP10 Arbitrary Cycles: a process may loop back to earlier steps without the loop being
    a structured block with one entry and one exit.

    Expressed by ``exclusive_gateway`` conditions naming an earlier step: here two overlapping
    loops, one re-entering at ``draft`` and one at ``review``, each with its own exit.
    """
    d = Driver.of(
        process(
            service("collect", "draft"),
            service("draft", "review"),
            service("review", "review_ok"),
            exclusive("review_ok", [("${verdict == 'redraft'}", "draft")], default="publish"),
            service("publish", "published_ok"),
            exclusive("published_ok", [("${verdict == 'rereview'}", "review")], default="done"),
            end("done"),
            variables={"verdict": "string"},
        )
    )
    d.start(verdict="")
    d.complete_job("collect")
    d.complete_job("draft")
    d.complete_job("review", verdict="redraft")  # loop 1: back to draft
    d.complete_job("draft")
    d.complete_job("review", verdict="ok")
    d.complete_job("publish", verdict="rereview")  # loop 2: back to review
    d.complete_job("review", verdict="ok")
    d.complete_job("publish", verdict="ok")

    assert entered(d) == [
        "collect",
        "draft",
        "review",
        "review_ok",
        "draft",
        "review",
        "review_ok",
        "publish",
        "published_ok",
        "review",
        "review_ok",
        "publish",
        "published_ok",
        "done",
    ]
    assert issued(d, cmd.RunServiceTask) == [
        "collect",
        "draft",
        "review",
        "draft",
        "review",
        "publish",
        "review",
        "publish",
    ]
    assert_ended_once(d)


def test_wcp11_implicit_termination() -> None:
    """WCP11 Implicit Termination: the case ends when nothing is left to do, without a step
    that says so.

    Expressed by steps with no ``next`` (or non-terminating end events): the instance completes
    when its last thread ends, not when the first one does.
    """
    d = Driver.of(
        process(
            service("register", "quick", "slow"),
            service("quick", "quick_end"),
            end("quick_end"),
            user("slow", "slow_followup"),
            service("slow_followup"),  # no next, no end event
        )
    )
    d.start()
    d.complete_job("register")
    d.complete_job("quick")

    assert "quick_end" in entered(d)
    assert d.status == "running"
    assert d.ends() == []
    assert recorded(d, "instance_completed") == []

    d.complete_task("slow")
    assert d.status == "running"
    last = d.complete_job("slow_followup")

    assert [c for c in last.commands if isinstance(c, cmd.InstanceCompleted)] == [
        cmd.InstanceCompleted({}, None)
    ]
    assert len(recorded(d, "instance_completed")) == 1
    assert_ended_once(d)


# --- multiple instances -----------------------------------------------------------------------


def test_wcp12_multiple_instances_without_synchronization() -> None:
    """WCP12 Multiple Instances without Synchronization: several instances of a task run
    independently, and the flow goes on at once without waiting for them.

    Expressed by ``multi_instance`` with ``synchronize: false``: the instances and the step's
    ``next`` start in the same decision; the case still ends only when everything is done.
    """
    d = Driver.of(
        process(
            service(
                "notify",
                "close",
                multi_instance={
                    "for_each": "recipients",
                    "element_variable": "recipient",
                    "synchronize": False,
                },
            ),
            service("close"),
            variables={"recipients": "array"},
        )
    )
    decision = d.start(recipients=["ann", "bob", "cy"])

    assert sorted(issued(decision, cmd.RunServiceTask)) == ["close", "notify", "notify", "notify"]
    notified = [
        c.variables["recipient"]
        for c in of_type(decision, cmd.RunServiceTask)
        if c.step_id == "notify"
    ]
    assert notified == ["ann", "bob", "cy"]

    # the flow after the step does not wait for the instances...
    d.complete_job("close")
    assert d.status == "running"
    assert d.active_steps == ["notify", "notify", "notify"]

    # ...and the instances finish on their own, without firing anything
    for work in d.all_work("job", "notify"):
        decision = d.finish(work)
        assert issued(decision, cmd.RunServiceTask) == []
    assert entered(d).count("close") == 1
    assert_ended_once(d)


def test_wcp13_multiple_instances_with_design_time_knowledge() -> None:
    """WCP13 Multiple Instances with a priori Design-Time Knowledge: a task runs a number of
    times fixed in the model, concurrently, and the flow goes on once all have completed.

    Expressed by ``multi_instance.cardinality`` (the instances see ``loop_counter``); the
    step's ``next`` runs once, after the last instance.
    """
    d = Driver.of(
        process(
            user("sign", "archive", multi_instance={"cardinality": 3}),
            service("archive"),
        )
    )
    started = d.start()

    tasks = of_type(started, cmd.CreateUserTask)
    assert [t.step_id for t in tasks] == ["sign", "sign", "sign"]
    assert [t.variables["loop_counter"] for t in tasks] == [0, 1, 2]
    assert [h.data["count"] for h in recorded(started, "multi_instance_started") if h.data] == [3]

    signatures = d.all_work("task", "sign")
    for work in signatures[:2]:
        decision = d.finish(work)
        assert joins(decision) == []
        assert issued(decision, cmd.RunServiceTask) == []
    last = d.finish(signatures[2])
    assert joins(last) == ["sign"]
    assert issued(last, cmd.RunServiceTask) == ["archive"]

    d.complete_job("archive")
    assert_ended_once(d)


def test_wcp13_multiple_instances_with_design_time_knowledge_literal_list() -> None:
    """WCP13 with the elements written in the model: ``for_each`` as a literal list, each
    instance seeing its element under ``element_variable``."""
    d = Driver.of(
        process(
            service(
                "sign_off",
                "archive",
                multi_instance={
                    "for_each": ["legal", "finance", "security"],
                    "element_variable": "department",
                },
            ),
            service("archive"),
        )
    )
    d.start()
    jobs = by_element(d, "job", "sign_off", "department")
    assert sorted(jobs) == ["finance", "legal", "security"]

    for department in ("security", "legal"):
        assert joins(d.finish(jobs[department])) == []
    assert joins(d.finish(jobs["finance"])) == ["sign_off"]
    d.complete_job("archive")
    assert_ended_once(d)


@pytest.mark.parametrize("reviewers", [["ann", "bob"], ["ann", "bob", "cy", "dee"]])
def test_wcp14_multiple_instances_with_run_time_knowledge(reviewers: list[str]) -> None:
    """WCP14 Multiple Instances with a priori Run-Time Knowledge: the number of instances is
    known only while the case runs, before the instances start; all must complete.

    Expressed by ``multi_instance.for_each`` naming a list variable that an earlier step
    produced; ``output_collection`` gathers each instance's result, in element order.
    """
    d = Driver.of(
        process(
            service("find_reviewers", "review"),
            service(
                "review",
                "publish",
                multi_instance={
                    "for_each": "reviewers",
                    "element_variable": "reviewer",
                    "output_collection": "reviews",
                },
            ),
            service("publish"),
            variables={"reviewers": "array", "reviews": "array"},
        )
    )
    d.start()
    found = d.complete_job("find_reviewers", reviewers=reviewers)
    assert issued(found, cmd.RunServiceTask) == ["review"] * len(reviewers)

    jobs = by_element(d, "job", "review", "reviewer")
    assert sorted(jobs) == sorted(reviewers)
    for reviewer in reversed(reviewers):  # completion order does not matter
        d.finish(jobs[reviewer], score=len(reviewer), by=reviewer)

    assert joins(d) == ["review"]
    publish = d.work("job", "publish").command
    assert isinstance(publish, cmd.RunServiceTask)
    assert publish.variables["reviews"] == [{"score": len(r), "by": r} for r in reviewers]
    d.complete_job("publish")
    assert_ended_once(d)


def test_wcp14_multiple_instances_with_run_time_knowledge_sequential() -> None:
    """WCP14, sequential: ``mode: sequential`` runs the instances one after another in list
    order; a ``completion_condition`` stops early (here at the first rejection) and the
    ``output_collection`` has the results of the instances that ran (``None`` for the rest)."""
    form = {"fields": [{"id": "approved", "type": "boolean", "required": True}]}
    d = Driver.of(
        process(
            user(
                "approve",
                "decide",
                config={"form": form},
                multi_instance={
                    "for_each": "${approvers}",
                    "element_variable": "approver",
                    "mode": "sequential",
                    "completion_condition": "${approved == false}",
                    "output_collection": "decisions",
                },
            ),
            service("decide"),
            variables={"approvers": "array"},
        )
    )
    started = d.start(approvers=["ann", "bob", "cy", "dee"])
    tasks = of_type(started, cmd.CreateUserTask)
    assert [t.variables["approver"] for t in tasks] == ["ann"]

    second = d.complete_task("approve", approved=True)
    assert [t.variables["approver"] for t in of_type(second, cmd.CreateUserTask)] == ["bob"]
    assert joins(second) == []

    stop = d.complete_task("approve", approved=False)
    assert of_type(stop, cmd.CreateUserTask) == []  # cy and dee never get a task
    assert joins(stop) == ["approve"]
    assert cancelled(stop) == []
    assert issued(stop, cmd.RunServiceTask) == ["decide"]
    assert d.variables["decisions"] == [{"approved": True}, {"approved": False}, None, None]

    d.complete_job("decide")
    assert [t.variables["approver"] for t in of_type(d, cmd.CreateUserTask)] == ["ann", "bob"]
    assert_ended_once(d)


def test_wcp14_multiple_instances_with_run_time_knowledge_completion_condition() -> None:
    """WCP14, parallel with a ``completion_condition``: once it holds the join fires, the
    instances still running are withdrawn, and ``output_collection`` keeps the finished ones'
    results in element order."""
    d = Driver.of(
        process(
            service(
                "quote",
                "choose",
                multi_instance={
                    "for_each": "carriers",
                    "element_variable": "carrier",
                    "completion_condition": "${nr_of_completed_instances >= 2}",
                    "output_collection": "quotes",
                },
            ),
            service("choose"),
            variables={"carriers": "array"},
        )
    )
    d.start(carriers=["dhl", "ups", "fedex"])
    jobs = by_element(d, "job", "quote", "carrier")

    assert joins(d.finish(jobs["fedex"], price=30)) == []
    second = d.finish(jobs["dhl"], price=10)

    assert joins(second) == ["quote"]
    assert cancelled(second) == [jobs["ups"].id]
    assert issued(second, cmd.RunServiceTask) == ["choose"]
    assert d.variables["quotes"] == [{"price": 10}, None, {"price": 30}]
    assert [h.step_id for h in recorded(second, "step_cancelled")] == ["quote"]

    d.complete_job("choose")
    assert_ended_once(d)


def test_wcp14_multiple_instances_with_run_time_knowledge_empty_list() -> None:
    """WCP14 with zero instances known at run time: the step is passed over at once."""
    d = Driver.of(
        process(
            service(
                "review",
                "publish",
                multi_instance={"for_each": "reviewers", "output_collection": "reviews"},
            ),
            service("publish"),
            variables={"reviewers": "array"},
        )
    )
    started = d.start(reviewers=[])
    assert issued(started, cmd.RunServiceTask) == ["publish"]
    assert joins(started) == ["review"]
    assert d.variables["reviews"] == []
    d.complete_job("publish")
    assert_ended_once(d)


# --- state-based patterns ---------------------------------------------------------------------


def _deferred_choice() -> Step:
    return process(
        service("send_invoice", "await_payment"),
        event_gateway("await_payment", "paid", "overdue"),
        receive("paid", "payment_received", "ship"),
        timer("overdue", "14d", "remind"),
        service("ship"),
        service("remind"),
        variables={"amount": "number"},
    )


def test_wcp16_deferred_choice_message_wins() -> None:
    """WCP16 Deferred Choice: of several branches, the one taken is decided by the environment,
    not by data: the first event that happens chooses, and the other branches are withdrawn.

    Expressed by an ``event_gateway`` whose ``next`` lists ``receive_task`` and ``timer_event``
    steps: all wait at once; here the message comes first and the timer is cancelled.
    """
    d = Driver.of(_deferred_choice())
    d.start()
    waiting = d.complete_job("send_invoice")

    [deadline] = of_type(waiting, cmd.ScheduleTimer)
    assert (deadline.step_id, deadline.due_at) == ("overdue", T0 + timedelta(days=14))
    [subscription] = of_type(waiting, cmd.SubscribeMessage)
    assert (subscription.step_id, subscription.message) == ("paid", "payment_received")
    assert d.active_steps == ["await_payment"]

    chosen = d.message("payment_received", amount=99.5)

    assert of_type(chosen, cmd.CancelTimer) == [cmd.CancelTimer(deadline.timer_id)]
    assert of_type(chosen, cmd.CancelSubscription) == []
    assert issued(chosen, cmd.RunServiceTask) == ["ship"]
    assert entered(chosen) == ["paid", "ship"]
    [gateway] = [h for h in recorded(chosen, "step_completed") if h.step_id == "await_payment"]
    assert gateway.data == {"taken": "paid"}
    assert d.variables["amount"] == 99.5

    d.complete_job("ship")
    assert "overdue" not in entered(d) and "remind" not in entered(d)
    assert_ended_once(d)


def test_wcp16_deferred_choice_timer_wins() -> None:
    """WCP16 where the timer fires first: the subscription is cancelled, the timer's branch
    runs, and a late message finds nobody waiting for it."""
    d = Driver.of(_deferred_choice())
    d.start()
    waiting = d.complete_job("send_invoice")
    [subscription] = of_type(waiting, cmd.SubscribeMessage)

    chosen = d.fire_timer("overdue")

    assert of_type(chosen, cmd.CancelSubscription) == [
        cmd.CancelSubscription(subscription.subscription_id)
    ]
    assert of_type(chosen, cmd.CancelTimer) == []
    assert issued(chosen, cmd.RunServiceTask) == ["remind"]
    assert entered(chosen) == ["overdue", "remind"]

    with pytest.raises(EventRejected) as late:
        d.message("payment_received", amount=99.5)
    assert late.value.code == "no_subscription"

    d.complete_job("remind")
    assert "paid" not in entered(d) and "ship" not in entered(d)
    assert_ended_once(d)


# --- iteration, recursion, triggers -----------------------------------------------------------


def _loop(first: str) -> Step:
    return process(
        exclusive("check", [("${count < 3}", "work")], default="done"),
        service("work", "count_up"),
        assign("count_up", {"count": "${count + 1}"}, "check"),
        end("done"),
        variables={"count": "integer"},
    ) | {"start": first}


@pytest.mark.parametrize(("count", "runs"), [(0, 3), (2, 1), (5, 0)])
def test_wcp21_structured_loop_while(count: int, runs: int) -> None:
    """WCP21 Structured Loop (while): a block is repeated while a condition, tested *before*
    each iteration, holds; it may run zero times.

    Expressed by an ``exclusive_gateway`` in front of the body whose default leaves the loop,
    and the body's last step leading back to it.
    """
    d = Driver.of(_loop("check"))
    d.start(count=count)
    for _ in range(runs):
        d.complete_job("work")
    assert issued(d, cmd.RunServiceTask) == ["work"] * runs
    assert d.variables["count"] == max(count, 3)
    assert_ended_once(d)


@pytest.mark.parametrize(("count", "runs"), [(0, 3), (5, 1)])
def test_wcp21_structured_loop_repeat(count: int, runs: int) -> None:
    """WCP21 Structured Loop (repeat-until): the condition is tested *after* each iteration,
    so the body runs at least once. Expressed by starting at the body, the gateway after it."""
    d = Driver.of(_loop("work"))
    d.start(count=count)
    for _ in range(runs):
        d.complete_job("work")
    assert issued(d, cmd.RunServiceTask) == ["work"] * runs
    assert_ended_once(d)


def test_wcp22_recursion() -> None:
    """WCP22 Recursion: a task's implementation may invoke the process it belongs to.

    Expressed by a ``call_activity`` whose ``config.process`` is the process's own key: the
    engine starts a child instance of the same definition and resumes when it completes.
    """
    d = Driver.of(
        process(
            exclusive("more", [("${n > 1}", "recurse")], default="base"),
            {
                "id": "recurse",
                "type": "call_activity",
                "config": {"process": "countdown", "input": {"n": "${n - 1}"}},
                "next": ["done"],
            },
            service("base", "done"),
            end("done"),
            variables={"n": "integer"},
            key="countdown",
        )
    )
    started = d.start(n=3)
    [child] = of_type(started, cmd.StartChildInstance)
    assert (child.process, child.step_id, child.variables) == ("countdown", "recurse", {"n": 2})

    d.complete_child("recurse")
    assert entered(d) == ["more", "recurse", "done"]
    assert_ended_once(d)

    base = Driver.of(d.definition)
    base.start(n=1)
    assert of_type(base, cmd.StartChildInstance) == []
    base.complete_job("base")
    assert_ended_once(base)


def test_wcp23_transient_trigger() -> None:
    """WCP23 Transient Trigger: a signal from the environment enables a task only if the task
    is waiting when it arrives; otherwise it is lost.

    Expressed by a ``receive_task``: a message with no step waiting for it is refused
    (``EventRejected``, code ``no_subscription``) and leaves no trace; the step waits for one
    sent after it was reached.
    """
    d = Driver.of(
        process(
            service("prepare", "await_go"),
            receive("await_go", "go", "run"),
            service("run"),
        )
    )
    d.start()
    before = (list(d.history), list(d.commands))
    with pytest.raises(EventRejected) as early:
        d.message("go")
    assert early.value.code == "no_subscription"
    assert (d.history, d.commands) == before

    waiting = d.complete_job("prepare")
    assert issued(waiting, cmd.SubscribeMessage) == ["await_go"]
    assert d.active_steps == ["await_go"]  # the early message was not kept

    received = d.message("go")
    assert issued(received, cmd.RunServiceTask) == ["run"]
    d.complete_job("run")
    assert_ended_once(d)


# --- partial joins ----------------------------------------------------------------------------


def test_wcp29_cancelling_discriminator() -> None:
    """WCP29 Cancelling Discriminator: the flow goes on after the first of several parallel
    branches completes, and the other branches are withdrawn at that moment.

    Expressed by ``join_condition: any_complete`` (whose ``cancel_remaining`` defaults to
    true): the join fires once and the remaining work (with its boundary timers) is cancelled.
    """
    d = Driver.of(
        process(
            parallel("find", ["search_db", "ask_expert", "await_tip"], "use", join="any_complete"),
            service("search_db"),
            user("ask_expert"),
            timer("expert_late", "1d", "chase", attached_to="ask_expert", interrupting=False),
            service("chase"),
            receive("await_tip", "tip"),
            service("use"),
        )
    )
    d.start()
    task = d.work("task", "ask_expert").id
    reminder = d.work("timer", "expert_late").id
    subscription = d.work("subscription", "await_tip").id

    first = d.complete_job("search_db")

    assert joins(first) == ["find"]
    assert sorted(cancelled(first)) == sorted([task, reminder, subscription])
    assert sorted(h.step_id or "" for h in recorded(first, "step_cancelled")) == [
        "ask_expert",
        "await_tip",
    ]
    assert issued(first, cmd.RunServiceTask) == ["use"]
    assert d.active_steps == ["use"]
    assert set(d.open) == {d.work("job", "use").id}

    d.complete_job("use")
    assert joins(d) == ["find"]
    assert_ended_once(d)


def test_wcp30_structured_partial_join() -> None:
    """WCP30 Structured Partial Join: the flow goes on once N of the M parallel branches have
    completed; the rest still run, and their completions are ignored.

    Expressed by ``join_condition: "2_of_3"`` with ``cancel_remaining: false``.
    """
    d = Driver.of(
        process(
            parallel(
                "reviews", ["r1", "r2", "r3"], "decide", join="2_of_3", cancel_remaining=False
            ),
            service("r1"),
            service("r2"),
            service("r3"),
            service("decide"),
        )
    )
    d.start()
    assert joins(d.complete_job("r3")) == []
    second = d.complete_job("r1")
    assert joins(second) == ["reviews"]
    assert issued(second, cmd.RunServiceTask) == ["decide"]
    assert cancelled(second) == []

    d.complete_job("decide")
    assert d.status == "running"
    late = d.complete_job("r2")
    assert joins(late) == []
    assert issued(late, cmd.RunServiceTask) == []
    assert entered(d).count("decide") == 1
    assert_ended_once(d)


def test_wcp32_cancelling_partial_join() -> None:
    """WCP32 Cancelling Partial Join: the flow goes on once N of the M parallel branches have
    completed, and the branches still running are withdrawn.

    Expressed by ``join_condition: "2_of_3"`` (``cancel_remaining`` defaults to true for it).
    """
    d = Driver.of(
        process(
            parallel("reviews", ["r1", "r2", "r3"], "decide", join="2_of_3"),
            service("r1"),
            service("r2"),
            user("r3"),
            service("decide"),
        )
    )
    d.start()
    r3 = d.work("task", "r3").id

    assert joins(d.complete_job("r1")) == []
    assert cancelled(d) == []
    second = d.complete_job("r2")

    assert joins(second) == ["reviews"]
    assert cancelled(second) == [r3]
    assert issued(second, cmd.RunServiceTask) == ["decide"]
    assert d.active_steps == ["decide"]

    with pytest.raises(StaleEvent):
        d.send(ev.UserTaskCompleted(r3, {}))

    d.complete_job("decide")
    assert joins(d) == ["reviews"]
    assert_ended_once(d)


def test_wcp35_cancelling_partial_join_for_multiple_instances() -> None:
    """WCP35 Cancelling Partial Join for Multiple Instances: of the concurrent instances of a
    task, once enough have completed the flow goes on and the others are withdrawn.

    Expressed by ``multi_instance.completion_condition`` over ``nr_of_completed_instances``.
    """
    d = Driver.of(
        process(
            user(
                "vote",
                "count",
                multi_instance={
                    "for_each": ["ann", "bob", "cy"],
                    "element_variable": "voter",
                    "completion_condition": "${nr_of_completed_instances >= 2}",
                },
            ),
            service("count"),
        )
    )
    d.start()
    votes = by_element(d, "task", "vote", "voter")
    assert sorted(votes) == ["ann", "bob", "cy"]

    assert joins(d.finish(votes["cy"])) == []
    second = d.finish(votes["ann"])
    assert joins(second) == ["vote"]
    assert cancelled(second) == [votes["bob"].id]
    assert issued(second, cmd.RunServiceTask) == ["count"]

    d.complete_job("count")
    assert_ended_once(d)


# --- cancellation and termination -------------------------------------------------------------


def _escalation() -> Step:
    return process(
        user("approve", "ship"),
        timer("too_slow", "2h", attached_to="approve", action="escalate"),
        user("escalate", "ship"),
        service("ship"),
    )


def test_wcp19_cancel_task() -> None:
    """WCP19 Cancel Task: an enabled task is withdrawn before it completes.

    Expressed by an interrupting boundary ``timer_event`` (``config.attached_to``): when it
    fires, the user task is cancelled and the flow follows the boundary's ``action``.
    """
    d = Driver.of(_escalation())
    started = d.start()
    [deadline] = of_type(started, cmd.ScheduleTimer)
    assert (deadline.step_id, deadline.due_at) == ("too_slow", T0 + timedelta(hours=2))
    task = d.work("task", "approve").id

    fired = d.fire_timer("too_slow")

    assert cancelled(fired) == [task]
    assert issued(fired, cmd.CreateUserTask) == ["escalate"]
    [withdrawn] = recorded(fired, "step_cancelled")
    assert withdrawn.step_id == "approve"
    assert entered(fired) == ["too_slow", "escalate"]
    assert d.active_steps == ["escalate"]

    with pytest.raises(StaleEvent):  # the withdrawn task can no longer complete
        d.send(ev.UserTaskCompleted(task, {}))

    d.complete_task("escalate")
    d.complete_job("ship")
    assert "approve" not in d.completed()
    assert_ended_once(d)


def test_wcp19_cancel_task_not_needed() -> None:
    """WCP19, the other way round: the task completes before its deadline, so the boundary
    timer is cancelled and the cancellation path is never taken."""
    d = Driver.of(_escalation())
    d.start()
    timer_id = d.work("timer", "too_slow").id
    done = d.complete_task("approve")
    assert of_type(done, cmd.CancelTimer) == [cmd.CancelTimer(timer_id)]
    assert issued(done, cmd.RunServiceTask) == ["ship"]
    d.complete_job("ship")
    assert "escalate" not in entered(d)
    assert_ended_once(d)


def test_wcp19_cancel_task_via_error_boundary() -> None:
    """WCP19 through an error: a business error reported by the handler withdraws the task
    (no retry, no incident) and the flow follows the ``error_event`` attached to it."""
    d = Driver.of(
        process(
            service("charge", "ship", config={"service_name": "pay", "retry": {"max_attempts": 5}}),
            timer("charge_slow", "1h", "ship", attached_to="charge"),
            error_boundary("declined", "charge", "ask_other_card", code="CARD_DECLINED"),
            user("ask_other_card"),
            service("ship"),
        )
    )
    d.start()
    timer_id = d.work("timer", "charge_slow").id

    failed = d.fail_job("charge", "card declined", "CARD_DECLINED")

    assert issued(failed, cmd.RunServiceTask) == []  # not retried
    assert of_type(failed, cmd.RaiseIncident) == []
    assert of_type(failed, cmd.CancelTimer) == [cmd.CancelTimer(timer_id)]
    assert issued(failed, cmd.CreateUserTask) == ["ask_other_card"]
    [caught] = recorded(failed, "error_caught")
    assert caught.data == {"error_code": "CARD_DECLINED", "boundary": "declined"}
    assert [h.step_id for h in recorded(failed, "step_cancelled")] == ["charge"]
    assert entered(failed) == ["declined", "ask_other_card"]

    d.complete_task("ask_other_card")
    assert "ship" not in entered(d)
    assert_ended_once(d)


@pytest.mark.parametrize("catch_all_listed", ["first", "last"])
def test_wcp19_cancel_task_via_error_boundary_prefers_the_specific_code(
    catch_all_listed: str,
) -> None:
    """WCP19 with two error boundaries on one task, a catch-all (no ``error_code``) and one for
    the code reported: the specific boundary catches it, whatever order the steps are listed
    in; the catch-all is the fallback for codes no other boundary names (as in BPMN engines)."""
    boundaries = [
        error_boundary("any_error", "charge", "generic_handling"),
        error_boundary("declined", "charge", "ask_other_card", code="CARD_DECLINED"),
    ]
    if catch_all_listed == "last":
        boundaries.reverse()
    definition = process(
        service("charge", "ship"),
        *boundaries,
        user("ask_other_card"),
        service("generic_handling"),
        service("ship"),
    )

    d = Driver.of(definition)
    d.start()
    failed = d.fail_job("charge", "card declined", "CARD_DECLINED")
    [caught] = recorded(failed, "error_caught")
    assert caught.data == {"error_code": "CARD_DECLINED", "boundary": "declined"}
    assert issued(failed, cmd.CreateUserTask) == ["ask_other_card"]
    assert issued(failed, cmd.RunServiceTask) == []

    # the catch-all still catches the codes nobody else names
    other = Driver.of(definition)
    other.start()
    unnamed = other.fail_job("charge", "payment provider down", "PSP_DOWN")
    [caught] = recorded(unnamed, "error_caught")
    assert caught.data == {"error_code": "PSP_DOWN", "boundary": "any_error"}
    assert issued(unnamed, cmd.RunServiceTask) == ["generic_handling"]


def test_wcp20_cancel_case() -> None:
    """WCP20 Cancel Case: the whole case is withdrawn, with every task running or waiting.

    Expressed by the ``CancelRequested`` event: every piece of outstanding work (jobs, user
    tasks, boundary and intermediate timers, subscriptions, child instances, multi-instance
    instances, an event gateway's waits) is cancelled and the instance ends as cancelled.
    """
    d = Driver.of(
        process(
            parallel(
                "everything",
                ["job", "task", "wait", "message", "child", "choice", "many"],
                "after",
            ),
            service("job"),
            user("task"),
            timer("task_deadline", "1h", attached_to="task", action="after_deadline"),
            service("after_deadline"),
            timer("wait", "1d"),
            receive("message", "go"),
            {"id": "child", "type": "call_activity", "config": {"process": "sub"}},
            event_gateway("choice", "choice_msg", "choice_timer"),
            receive("choice_msg", "left"),
            timer("choice_timer", "2d"),
            service("many", multi_instance={"cardinality": 2}),
            service("after"),
        )
    )
    d.start()
    open_before = dict(d.open)
    assert len(open_before) == 10  # 1+1(+1 boundary)+1+1+1+2(gateway)+2(instances)

    decision = d.cancel("customer withdrew")

    # exactly the outstanding work is withdrawn, each piece once
    assert sorted(cancelled(decision)) == sorted(open_before)
    assert d.open == {}
    assert {type(c) for c in cancel_commands(decision)} == {
        cmd.CancelJob,
        cmd.CancelUserTask,
        cmd.CancelTimer,
        cmd.CancelSubscription,
        cmd.CancelChildInstance,
    }
    assert of_type(decision, cmd.InstanceCancelled) == [cmd.InstanceCancelled("customer withdrew")]
    assert sorted(h.step_id or "" for h in recorded(decision, "step_cancelled")) == sorted(
        ["job", "task", "wait", "message", "child", "choice", "many", "many"]
    )
    assert [h.data for h in recorded(decision, "instance_cancelled")] == [
        {"reason": "customer withdrew"}
    ]
    assert joins(d) == []
    assert_ended_once(d, "cancelled")

    # nothing moves a cancelled case any more
    job = next(w for w in open_before.values() if w.step_id == "job")
    with pytest.raises(StaleEvent):
        d.send(ev.ServiceTaskCompleted(job.id))
    with pytest.raises(EventRejected):
        d.message("go")
    with pytest.raises(EventRejected):
        d.cancel()
    assert len(d.ends()) == 1


def test_wcp43_explicit_termination() -> None:
    """WCP43 Explicit Termination: the case ends as soon as a designated end is reached, even
    though other work is still running, which is withdrawn.

    Expressed by an ``end_event`` with ``config.terminate: true``: the instance completes
    (``InstanceCompleted.terminated_at`` names it) and everything else is cancelled; no join
    fires and nothing after it runs.
    """
    d = Driver.of(
        process(
            parallel("handle", ["check", "review", "await_docs"], "archive"),
            service("check", "verdict"),
            exclusive("verdict", [("${fraud}", "stop")], default="check_done"),
            end("stop", terminate=True),
            end("check_done"),
            user("review"),
            timer("review_late", "1d", "nudge", attached_to="review", interrupting=False),
            service("nudge"),
            receive("await_docs", "docs"),
            service("archive"),
            variables={"fraud": "boolean"},
        )
    )
    d.start(fraud=False)
    review = d.work("task", "review").id
    review_late = d.work("timer", "review_late").id
    docs = d.work("subscription", "await_docs").id

    terminated = d.complete_job("check", fraud=True)

    assert sorted(cancelled(terminated)) == sorted([review, review_late, docs])
    assert of_type(terminated, cmd.InstanceCompleted) == [
        cmd.InstanceCompleted({"fraud": True}, "stop")
    ]
    assert [h.data for h in recorded(terminated, "instance_terminated")] == [{"step": "stop"}]
    assert joins(d) == []
    assert "archive" not in entered(d)
    assert_ended_once(d)


def test_wcp43_explicit_termination_after_a_discriminator() -> None:
    """WCP43 with branches left running by a non-cancelling join: reaching the terminating end
    withdraws them too, and the case ends once."""
    d = Driver.of(
        process(
            parallel(
                "race", ["fast", "slow"], "finish", join="any_complete", cancel_remaining=False
            ),
            service("fast"),
            service("slow"),
            service("finish", "stop"),
            end("stop", terminate=True),
        )
    )
    d.start()
    slow = d.work("job", "slow").id
    d.complete_job("fast")
    terminated = d.complete_job("finish")
    assert cancelled(terminated) == [slow]
    assert of_type(terminated, cmd.InstanceCompleted) == [cmd.InstanceCompleted({}, "stop")]
    assert_ended_once(d)
