"""Stored instance states: JSON, versioned, readable by every later engine."""

import json
from pathlib import Path
from typing import Any

import pytest
from support.driver import T0, Driver

from engine import InstanceState, compile_definition, decide
from engine import commands as cmd
from engine import events as ev
from engine.state import FORMAT_VERSION

ROOT = Path(__file__).parents[2]
STATES = sorted((ROOT / "tests" / "corpus" / "states").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", STATES, ids=lambda p: p.stem)
def test_a_state_stored_by_an_earlier_format_loads_and_continues(path: Path) -> None:
    """Never regenerate these files: they are what production databases hold. A change to
    the state's shape needs a new FORMAT_VERSION and an upgrade in engine/state.py."""
    case = _load(path)
    definition = compile_definition(json.loads((ROOT / case["definition"]).read_text()))
    state = InstanceState.from_json(case["state"])
    task_id = next(k for k, step in case["open"].items() if step == "manager_approval")
    event = ev.UserTaskCompleted(task_id, {"approved": True}, "manager-1")
    decision = decide(definition, state, event, T0)
    timer_id = next(k for k, step in case["open"].items() if step == "approval_timeout")
    assert decision.commands[0] == cmd.CancelTimer(timer_id)
    assert [c.step_id for c in decision.commands[1:] if isinstance(c, cmd.RunServiceTask)] == [
        "inventory_check",
        "credit_check",
        "fraud_check",
    ]
    assert decision.state.to_json()["format"] == FORMAT_VERSION


def test_the_golden_states_cover_every_format_up_to_the_current_one() -> None:
    formats = {_load(p)["state"]["format"] for p in STATES}
    assert formats == set(range(1, FORMAT_VERSION + 1))


def test_a_state_round_trips_through_json_unchanged() -> None:
    d = Driver.of(json.loads((ROOT / "examples" / "order-processing.json").read_text()))
    d.start(order_id="O-1", total_amount=5000)
    d.complete_job("validate_order")
    assert d.state is not None
    stored = json.loads(json.dumps(d.state.to_json()))
    assert InstanceState.from_json(stored) == d.state


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": FORMAT_VERSION + 1}, f"format {FORMAT_VERSION + 1} is not supported"),
        ({"format": 0}, "format 0 is not supported"),
        ({}, "format None is not supported"),
    ],
)
def test_a_state_of_an_unknown_format_is_refused_clearly(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        InstanceState.from_json(data)


def test_the_definition_survives_storage_too() -> None:
    """A deployed definition is stored as the JSON it was given and compiled again on load."""
    source = json.loads((ROOT / "examples" / "order-processing.json").read_text())
    definition = compile_definition(source)
    again = compile_definition(json.loads(json.dumps(definition.to_json())))
    assert again.to_json() == definition.to_json()
    assert again.steps.keys() == definition.steps.keys()
