"""Semantics decided beyond the workflow patterns: each test pins one decision down."""

from typing import Any

from support.driver import Driver

from engine import commands as cmd
from engine import events as ev
from engine import load_definition_text, validate_definition


def svc(step_id: str, nxt: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "service_task",
        "config": {"service_name": step_id},
        "next": nxt or [],
    }


def test_a_fired_discriminator_without_cancel_does_not_hold_up_the_enclosing_join() -> None:
    """BPMN: the branches a discriminator ignores do not reach the outer join, so it fires;
    the instance itself still waits for them (it ends when its last token does)."""
    d = Driver.of(
        {
            "name": "nested discriminator",
            "steps": [
                {
                    "id": "outer",
                    "type": "parallel_gateway",
                    "config": {"parallel_tasks": ["inner", "z"]},
                    "next": ["after"],
                },
                {
                    "id": "inner",
                    "type": "parallel_gateway",
                    "config": {
                        "parallel_tasks": ["a", "b"],
                        "join_condition": "any_complete",
                        "cancel_remaining": False,
                    },
                    "next": ["inner_next"],
                },
                svc("a"),
                svc("b"),
                svc("inner_next"),
                svc("z"),
                svc("after"),
            ],
        }
    )
    d.start()
    d.complete_job("z")
    d.complete_job("a")
    d.complete_job("inner_next")
    assert d.active_steps == ["after", "b"]  # the outer join fired without waiting for b
    d.complete_job("after")
    assert d.status == "running"  # b still runs: the instance waits for it
    d.complete_job("b")
    assert d.status == "completed"
    assert len(d.ends()) == 1
    assert d.state is not None and d.state.scopes == {}


def test_a_cancelling_join_also_withdraws_detached_stragglers_inside_it() -> None:
    d = Driver.of(
        {
            "name": "stragglers inside a cancelling join",
            "steps": [
                {
                    "id": "race",
                    "type": "parallel_gateway",
                    "config": {
                        "parallel_tasks": ["inner", "fast"],
                        "join_condition": "any_complete",
                    },
                    "next": ["done"],
                },
                {
                    "id": "inner",
                    "type": "parallel_gateway",
                    "config": {
                        "parallel_tasks": ["a", "b"],
                        "join_condition": "any_complete",
                        "cancel_remaining": False,
                    },
                    "next": ["slow"],
                },
                svc("a"),
                svc("b"),
                svc("slow"),
                svc("fast"),
                svc("done"),
            ],
        }
    )
    d.start()
    d.complete_job("a")  # inner fires; b is a detached straggler, slow continues
    assert d.active_steps == ["b", "fast", "slow"]
    d.complete_job("fast")  # race fires and withdraws its other branch: slow, and b too
    assert d.active_steps == ["done"]
    jobs = {c.step_id: c.job_id for c in d.commands if isinstance(c, cmd.RunServiceTask)}
    cancelled = {c.job_id for c in d.commands if isinstance(c, cmd.CancelJob)}
    assert cancelled == {jobs["b"], jobs["slow"]}
    assert [w.step_id for w in d.open.values()] == ["done"]
    d.complete_job("done")
    assert d.status == "completed"
    assert d.state is not None and d.state.scopes == {} and d.state.tokens == {}


def test_a_step_withdrawn_before_it_was_entered_has_no_cancel_in_the_history() -> None:
    d = Driver.of(
        {
            "name": "quick wins",
            "variables": {"x": "number"},
            "steps": [
                {
                    "id": "race",
                    "type": "parallel_gateway",
                    "config": {
                        "parallel_tasks": ["quick", "slow"],
                        "join_condition": "any_complete",
                    },
                },
                {"id": "quick", "type": "set_variables", "config": {"assign": {"x": 1.0}}},
                svc("slow"),
            ],
        }
    )
    d.start()
    assert d.status == "completed"
    entered = set(d.entered())
    cancelled = {h.step_id for h in d.history if h.type == "step_cancelled"}
    assert cancelled <= entered


def test_the_exact_error_code_wins_over_a_catch_all_listed_first() -> None:
    d = Driver.of(
        {
            "name": "errors",
            "steps": [
                svc("charge", ["ship"]),
                {
                    "id": "any",
                    "type": "error_event",
                    "config": {"attached_to": "charge"},
                    "next": ["g"],
                },
                {
                    "id": "declined",
                    "type": "error_event",
                    "config": {"attached_to": "charge", "error_code": "CARD_DECLINED"},
                    "next": ["other_card"],
                },
                svc("g"),
                svc("other_card"),
                svc("ship"),
            ],
        }
    )
    d.start()
    d.fail_job("charge", "declined", error_code="CARD_DECLINED")
    assert d.active_steps == ["other_card"]
    assert [h.data for h in d.history if h.type == "error_caught"] == [
        {"error_code": "CARD_DECLINED", "boundary": "declined"}
    ]
    d.complete_job("other_card")
    assert d.status == "completed"
    assert "g" not in d.entered()


def test_sensitive_variables_are_masked_in_the_history_but_not_in_the_state() -> None:
    d = Driver.of(
        {
            "name": "kyc",
            "variables": {"id_number": {"type": "string", "sensitive": True}, "name": "string"},
            "steps": [
                svc("check"),
            ],
        }
    )
    d.start(id_number="310101199001011234", name="陈小明")
    d.complete_job("check", id_number="310101199001019999")
    recorded = [h.data for h in d.history if h.type in ("instance_started", "variables_set")]
    assert recorded[0] is not None and recorded[0]["variables"]["id_number"] == "***"
    assert recorded[1] is not None and recorded[1]["variables"] == {"id_number": "***"}
    assert "310101" not in repr(d.history)
    assert d.variables["id_number"] == "310101199001019999"
    job = next(c for c in d.commands if isinstance(c, cmd.RunServiceTask))
    assert job.variables["id_number"] == "310101199001011234"  # the handler needs it


def test_declared_variables_exist_as_null_and_defaults_are_normalised() -> None:
    d = Driver.of(
        {
            "name": "defaults",
            "variables": {"note": "string", "rate": {"type": "number", "default": 3}},
            "steps": [
                {
                    "id": "calc",
                    "type": "set_variables",
                    "config": {"assign": {"has_note": "${note != null}", "y": "${rate * 1.5}"}},
                }
            ],
        }
    )
    d.start()
    assert d.variables == {"note": None, "rate": 3.0, "has_note": False, "y": 4.5}


def test_a_default_of_the_wrong_type_is_refused_at_deploy() -> None:
    problems = validate_definition(
        {
            "name": "bad default",
            "variables": {"n": {"type": "number", "default": "abc"}},
            "steps": [svc("a")],
        }
    )
    assert [(p.path, p.code) for p in problems] == [("$.variables.n.default", "invalid_type")]


def test_a_step_cannot_read_what_it_sets_itself() -> None:
    problems = validate_definition(
        {
            "name": "chained assignment",
            "steps": [
                {
                    "id": "calc",
                    "type": "set_variables",
                    "config": {"assign": {"net": 100.0, "gross": "${net * 1.2}"}},
                }
            ],
        }
    )
    assert [(p.path, p.code) for p in problems] == [
        ("$.steps[0].config.assign.gross", "undeclared_variable")
    ]


def test_an_optional_form_field_must_be_declared_to_be_read_later() -> None:
    steps = [
        {
            "id": "review",
            "type": "user_task",
            "config": {"form": {"fields": [{"id": "note", "type": "string"}]}},
            "next": ["route"],
        },
        {
            "id": "route",
            "type": "exclusive_gateway",
            "config": {
                "conditions": [{"expression": "${note == ''}", "next": "x"}],
                "default": "x",
            },
        },
        svc("x"),
    ]
    undeclared = validate_definition({"name": "optional", "steps": steps})
    assert [p.code for p in undeclared] == ["undeclared_variable"]
    declared = validate_definition(
        {"name": "optional", "variables": {"note": "string"}, "steps": steps}
    )
    assert declared == []


def test_a_revision_that_leaves_an_optional_field_out_keeps_the_earlier_value() -> None:
    d = Driver.of(
        {
            "name": "rework",
            "variables": {"start_date": "date"},
            "steps": [
                {
                    "id": "fill",
                    "type": "user_task",
                    "config": {
                        "form": {
                            "fields": [
                                {"id": "start_date", "type": "date"},
                                {"id": "done", "type": "boolean", "required": True},
                            ]
                        }
                    },
                    "next": ["check"],
                },
                {
                    "id": "check",
                    "type": "exclusive_gateway",
                    "config": {
                        "conditions": [{"expression": "${done}", "next": "end"}],
                        "default": "fill",
                    },
                },
                {"id": "end", "type": "end_event"},
            ],
        }
    )
    d.start()
    d.complete_task("fill", start_date="2026-12-21", done=False)
    d.complete_task("fill", done=True)
    assert d.variables["start_date"] == "2026-12-21"
    assert d.status == "completed"


def test_a_yaml_version_written_as_a_number_is_text() -> None:
    data = load_definition_text(
        "name: p\nversion: 1.0\nsteps:\n  - {id: a, type: end_event}\n", filename="p.yaml"
    )
    assert validate_definition(data) == []


def test_retrying_a_result_of_the_wrong_type_runs_the_handler_again() -> None:
    d = Driver.of(
        {"name": "typed result", "variables": {"score": "integer"}, "steps": [svc("score_it")]}
    )
    d.start()
    d.complete_job("score_it", score="high")
    assert [i.error for i in d.incidents.values()] == ["invalid_variables"]
    assert d.open == {}
    d.retry("score_it")
    rerun = d.work("job", "score_it").command
    assert isinstance(rerun, cmd.RunServiceTask) and rerun.attempt == 1
    d.complete_job("score_it", score=7)
    assert d.status == "completed"
    assert d.variables["score"] == 7


def test_retrying_a_failed_output_mapping_applies_the_kept_result_after_a_fix() -> None:
    d = Driver.of(
        {
            "name": "mapping",
            "variables": {"rate": "number", "price": "number"},
            "steps": [
                {
                    "id": "quote",
                    "type": "service_task",
                    "config": {
                        "service_name": "quote",
                        "output": {"price": "${result.base * rate}"},
                    },
                }
            ],
        }
    )
    d.start()  # rate is null: the mapping cannot multiply
    d.complete_job("quote", base=100.0)
    assert [i.error for i in d.incidents.values()] == ["expression_failed"]
    d.send(ev.VariablesUpdated({"rate": 1.1}))
    d.retry("quote")
    assert d.status == "completed"
    assert round(d.variables["price"], 6) == 110.0
    assert not any(isinstance(c, cmd.RunServiceTask) and c.attempt > 1 for c in d.commands)


def test_an_automatic_loop_that_never_exits_stops_with_an_incident_and_can_be_retried() -> None:
    d = Driver.of(
        {
            "name": "spin",
            "variables": {"n": {"type": "integer", "default": 0}, "limit": "integer"},
            "steps": [
                {
                    "id": "count",
                    "type": "set_variables",
                    "config": {"assign": {"n": "${n + 1}"}},
                    "next": ["more"],
                },
                {
                    "id": "more",
                    "type": "exclusive_gateway",
                    "config": {
                        "conditions": [
                            {"expression": "${limit == null || n < limit}", "next": "count"}
                        ],
                        "default": "done",
                    },
                },
                {"id": "done", "type": "end_event"},
            ],
        }
    )
    d.start()  # no limit: it would count forever
    incident = next(iter(d.incidents.values()))
    assert incident.error == "loop_limit"
    assert incident.step_id in ("count", "more")
    assert d.status == "running"
    d.send(ev.VariablesUpdated({"limit": 1}))
    d.retry(incident.step_id)
    assert d.status == "completed"


def test_retrying_an_incident_keeps_the_boundary_timer_that_was_already_running() -> None:
    d = Driver.of(
        {
            "name": "retry under a deadline",
            "steps": [
                {
                    "id": "charge",
                    "type": "service_task",
                    "config": {"service_name": "pay", "retry": {"max_attempts": 1}},
                    "next": ["done"],
                },
                {
                    "id": "deadline",
                    "type": "timer_event",
                    "config": {"attached_to": "charge", "duration": "1h", "action": "late"},
                },
                svc("late"),
                {"id": "done", "type": "end_event"},
            ],
        }
    )
    d.start()
    [timer] = d.all_work("timer", "deadline")
    d.fail_job("charge", "gateway down")
    assert [i.error for i in d.incidents.values()] == ["job_failed"]
    d.retry("charge")
    assert d.all_work("timer", "deadline") == [timer]  # the same timer, none added
    assert sum(isinstance(c, cmd.ScheduleTimer) for c in d.commands) == 1
    d.fire_timer("deadline")  # it still escalates: the retried job is withdrawn
    assert d.active_steps == ["late"]
    assert d.all_work("job", "charge") == []
