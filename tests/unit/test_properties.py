"""Properties of the state machine, over generated definitions and generated plans.

Each test draws a valid definition (:func:`support.strategies.definitions`), starts an instance
and drives it with a drawn plan (:class:`support.strategies.PlanRunner`), then checks one
property of the run. On a failure, hypothesis prints the definition and each drawn step of the
plan; the assertion message lists the events sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support.strategies import (
    MAX_STEPS,
    SUCCESS_ONLY,
    Features,
    Hook,
    Plan,
    PlanRunner,
    Run,
    compile_generated,
    definitions,
    late_events,
    run_plan,
    start_variables,
    step_ids,
)

from engine import CompiledDefinition, EventRejected, InstanceState, decide
from engine import commands as cmd
from engine import events as ev

BASE = settings(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository
    # no explain phase: it re-runs each failing case under a tracer, slow for whole runs
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENDS = (cmd.InstanceCompleted, cmd.InstanceFailed, cmd.InstanceCancelled)
END_OF = {
    "completed": cmd.InstanceCompleted,
    "failed": cmd.InstanceFailed,
    "cancelled": cmd.InstanceCancelled,
}

Json = dict[str, Any]
Outcome = tuple[Any, ...]


def _definition(
    data: st.DataObject, features: Features | None = None
) -> tuple[Json, CompiledDefinition]:
    raw = data.draw(definitions(features or Features()), label="definition")
    return raw, compile_generated(raw)


def _drive(data: st.DataObject, plan: Plan | None = None) -> tuple[Json, Run]:
    raw, definition = _definition(data)
    return raw, run_plan(data, definition, plan or Plan())


def _snapshot(state: InstanceState | None) -> str | None:
    """The state as text: taken before and after, it shows whether anything changed."""
    if state is None:
        return None
    return json.dumps(state.to_json(), sort_keys=True, default=repr)


def _outcome(
    definition: CompiledDefinition, state: InstanceState | None, event: ev.Event, now: datetime
) -> Outcome:
    try:
        decision = decide(definition, state, event, now)
    except EventRejected as error:
        return ("rejected", type(error).__name__, error.code, str(error))
    return ("decided", _snapshot(decision.state), decision.commands, decision.history)


def _ends(commands: list[cmd.Command]) -> list[cmd.Command]:
    return [c for c in commands if isinstance(c, ENDS)]


# --- the strategy itself ---------------------------------------------------------------------


@settings(BASE, max_examples=100)
@given(definitions())
def test_generated_definitions_compile(data: Json) -> None:
    """The strategy: every definition it generates is valid, and of the size asked for."""
    definition = compile_generated(data)
    assert definition.start == "start"
    assert len(data["steps"]) <= MAX_STEPS + 2  # the budget, the start and the end


# --- 1. an instance ends at most once --------------------------------------------------------


@settings(BASE, max_examples=300)
@given(st.data())
def test_an_instance_ends_at_most_once(data: st.DataObject) -> None:
    """One ending command (completed, failed or cancelled) in the whole run; after it, every
    event is refused and changes nothing."""
    _, run = _drive(data)
    d = run.driver
    if d.status == "running":
        d.send(ev.CancelRequested("the test ends it"))
    ends = _ends(d.commands)
    assert len(ends) == 1, f"{len(ends)} ending commands: {ends}\n{run.log()}"
    assert isinstance(ends[0], END_OF[d.status]), f"status {d.status}, but {ends[0]}"
    for sent in run.trace:
        if sent.decision is not None:
            assert len(_ends(sent.decision.commands)) <= 1
    # after the end, every event is refused and changes nothing
    late = data.draw(
        st.lists(st.sampled_from(late_events(d)), min_size=1, max_size=5), label="late"
    )
    for event in late:
        before = _snapshot(d.state)
        with pytest.raises(EventRejected):
            d.send(event)
        assert _snapshot(d.state) == before
    assert len(_ends(d.commands)) == 1


# --- 2. a join fires once per activation -----------------------------------------------------


@settings(BASE, max_examples=250)
@given(st.data())
def test_a_join_fires_once_per_activation(data: st.DataObject) -> None:
    """``join_fired`` at most once per scope, and only for a scope a fork opened."""
    _, run = _drive(data)
    history = run.driver.history
    fired = [(h.data or {})["scope"] for h in history if h.type == "join_fired"]
    assert len(fired) == len(set(fired)), f"a join fired twice: {fired}\n{run.log()}"
    opened = {
        (h.data or {})["scope"]
        for h in history
        if h.type in ("gateway_forked", "multi_instance_started")
    }
    assert set(fired) <= opened


# --- 3. no token is left behind at a completed instance --------------------------------------


@settings(BASE, max_examples=300)
@given(st.data())
def test_no_token_is_left_behind_at_a_completed_instance(data: st.DataObject) -> None:
    """A completed instance has no tokens, scopes, outstanding work or open incidents; and no
    work is left neither answered nor cancelled (nor cancelled after it was answered)."""
    _, run = _drive(data, Plan(cancel=False))
    d = run.driver
    assert d.state is not None
    # every piece of outstanding work is answered, or cancelled by a command: the engine never
    # refuses the answer to work it asked for and did not withdraw
    assert not run.unanswerable, f"work neither answered nor cancelled: {run.unanswerable}"
    assert not d.stray_cancels, f"cancelled, but not outstanding: {d.stray_cancels}\n{run.log()}"
    if d.status == "completed":
        assert d.state.tokens == {}, f"tokens left: {d.state.tokens}\n{run.log()}"
        assert d.state.scopes == {}, f"scopes left: {d.state.scopes}\n{run.log()}"
        assert d.open == {}, f"work left open: {list(d.open.values())}\n{run.log()}"
        assert d.incidents == {}, f"incidents left open: {d.incidents}\n{run.log()}"


# --- 4. cancel leaves nothing running --------------------------------------------------------


@settings(BASE, max_examples=300)
@given(st.data())
def test_cancel_leaves_nothing_running(data: st.DataObject) -> None:
    """Cancelled at any point: no tokens, scopes, outstanding work or open incidents."""
    _, definition = _definition(data)
    runner = PlanRunner(data, definition, Plan(cancel=False))
    runner.start(data.draw(start_variables(), label="start variables"))
    run = runner.drive(data.draw(st.integers(0, 25), label="events before the cancel"))
    d = runner.driver
    was_running = runner.running()
    before = _snapshot(d.state)
    decision = runner.send(ev.CancelRequested("cancelled by the test"))
    if not was_running:
        assert decision is None and _snapshot(d.state) == before
        return
    assert decision is not None, f"cancel refused: {run.trace[-1].rejected}\n{run.log()}"
    assert d.state is not None
    assert d.status == "cancelled"
    assert d.state.tokens == {}, f"tokens left: {d.state.tokens}\n{run.log()}"
    assert d.state.scopes == {}, f"scopes left: {d.state.scopes}\n{run.log()}"
    assert d.open == {}, f"work left running: {list(d.open.values())}\n{run.log()}"
    assert d.incidents == {}, f"incidents left open: {d.incidents}\n{run.log()}"
    assert not d.stray_cancels, f"cancelled, but not outstanding: {d.stray_cancels}\n{run.log()}"
    assert _ends(d.commands) == [cmd.InstanceCancelled("cancelled by the test")]


# --- 5. determinism and purity ---------------------------------------------------------------


def _purity_check(definition: CompiledDefinition) -> Hook:
    def check(state: InstanceState | None, event: ev.Event, now: datetime) -> None:
        before = _snapshot(state)
        first = _outcome(definition, state, event, now)
        assert _snapshot(state) == before, f"decide modified its input state on {event!r}"
        second = _outcome(definition, state, event, now)
        assert first == second, f"two decisions on the same input differ: {event!r}"

    return check


@settings(BASE, max_examples=200)
@given(st.data())
def test_decide_is_deterministic_and_pure(data: st.DataObject) -> None:
    """At every event of a run: the same inputs decide the same, and the state given is left
    as it was."""
    _, definition = _definition(data)
    run = run_plan(data, definition, Plan(), _purity_check(definition))
    d = run.driver
    if d.state is not None:  # the events refused at the end are pure too
        check = _purity_check(definition)
        for event in late_events(d)[:8]:
            check(d.state, event, d.now)


# --- 6. the state round-trips through JSON ---------------------------------------------------


def _round_trip(state: InstanceState) -> InstanceState:
    text = json.dumps(state.to_json())  # plain JSON: no default= for odd types
    restored = InstanceState.from_json(json.loads(text))
    assert restored.to_json() == json.loads(text), "to_json differs after a round trip"
    return restored


def _round_trip_check(definition: CompiledDefinition) -> Hook:
    def check(state: InstanceState | None, event: ev.Event, now: datetime) -> None:
        if state is None:
            return
        restored = _round_trip(state)
        assert _outcome(definition, restored, event, now) == _outcome(
            definition, state, event, now
        ), f"the round-tripped state decides {event!r} differently"

    return check


@settings(BASE, max_examples=200)
@given(st.data())
def test_state_round_trips_through_json(data: st.DataObject) -> None:
    """At every event of a run: the state read back from its JSON is the same, and decides the
    next event the same."""
    _, definition = _definition(data)
    run = run_plan(data, definition, Plan(), _round_trip_check(definition))
    assert run.driver.state is not None
    _round_trip(run.driver.state)


# --- 7. history is numbered without gaps and names real steps --------------------------------


@settings(BASE, max_examples=250)
@given(st.data())
def test_history_is_numbered_and_names_real_steps(data: st.DataObject) -> None:
    """History seq numbers are 1, 2, 3, ... across the run; every step entered exists."""
    raw, run = _drive(data)
    history = run.driver.history
    seqs = [h.seq for h in history]
    assert seqs == list(range(1, len(seqs) + 1)), f"history seq: {seqs}"
    for sent in run.trace:
        if sent.decision is not None and sent.decision.history:
            previous = 0 if sent.before is None else sent.before.seq
            assert sent.decision.history[0].seq == previous + 1
            assert sent.decision.state.seq == sent.decision.history[-1].seq
    known = step_ids(raw)
    entered = [h.step_id for h in history if h.type == "step_entered"]
    assert all(step in known for step in entered), f"unknown steps entered: {entered}"


# --- 8. liveness -----------------------------------------------------------------------------


def _assert_not_stuck(run: Run) -> None:
    d = run.driver
    if d.status == "running" and not d.open and not d.incidents:
        assert d.state is not None
        raise AssertionError(
            f"the instance is running but waits on nothing: tokens {d.state.tokens}, "
            f"scopes {d.state.scopes}\n{run.log()}"
        )


@settings(BASE, max_examples=400)
@given(st.data())
def test_successful_work_always_completes_the_instance(data: st.DataObject) -> None:
    """Liveness: when all work succeeds (no failures, no cancel), the instance completes."""
    _, definition = _definition(data, Features(error_ends=False))
    run = run_plan(data, definition, SUCCESS_ONLY)
    d = run.driver
    _assert_not_stuck(run)
    assert not run.unanswerable, f"work the engine refused: {run.unanswerable}\n{run.log()}"
    incidents = [c for c in d.commands if isinstance(c, cmd.RaiseIncident)]
    assert not incidents, f"incidents without any failure: {incidents}\n{run.log()}"
    assert run.stopped != "bound", "the plan's bound is too small for the definition"
    assert d.status == "completed", f"status {d.status}\n{run.log()}"


@settings(BASE, max_examples=300)
@given(st.data())
def test_an_instance_never_waits_on_nothing(data: st.DataObject) -> None:
    """Liveness with failures too: a running instance always has outstanding work or an
    open incident."""
    _, run = _drive(data, Plan(cancel=False))
    _assert_not_stuck(run)
