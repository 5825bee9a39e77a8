"""Checking variables against their declared types (starting an instance, an update) and a
user task's completion against its form."""

from __future__ import annotations

from typing import Any, cast

import pytest

from engine.definition import FormField, VariableSpec, VariableType
from engine.errors import Problem
from engine.variables import check_form, check_variables

DATE = "an ISO-8601 date such as '2026-12-24'"
DATETIME = "an ISO-8601 date-time with a time zone such as '2026-12-24T18:00:00+08:00'"


def _declared(kind: VariableType) -> dict[str, VariableSpec]:
    return {"v": VariableSpec(type=kind)}


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("string", "ORDER-001", "ORDER-001"),
        ("string", "", ""),
        # a declared number is stored as a float: CEL does not mix int and double
        ("number", 999.99, 999.99),
        ("number", 1000, 1000.0),
        ("number", 0, 0.0),
        ("number", -3, -3.0),
        ("integer", 3, 3),
        ("integer", 3.0, 3),  # a JSON client may send 3.0
        ("integer", -1, -1),
        ("boolean", True, True),
        ("boolean", False, False),
        ("object", {"tier": "gold"}, {"tier": "gold"}),
        ("object", {}, {}),
        ("array", [1, "two"], [1, "two"]),
        ("array", [], []),
        ("date", "2026-12-24", "2026-12-24"),
        ("datetime", "2026-12-24T18:00:00+08:00", "2026-12-24T18:00:00+08:00"),
        ("datetime", "2026-12-24T10:00:00Z", "2026-12-24T10:00:00Z"),
        ("any", {"whatever": [1]}, {"whatever": [1]}),
        ("any", "x", "x"),
    ],
)
def test_accepted_and_normalised(kind: VariableType, given: Any, stored: Any) -> None:
    values, problems = check_variables(_declared(kind), {"v": given}, path="variables")
    assert problems == []
    assert values == {"v": stored}
    assert type(values["v"]) is type(stored)


@pytest.mark.parametrize(
    ("kind", "given", "message"),
    [
        ("string", 5, "expected a string, got a number (5)"),
        ("string", None, None),  # null is accepted for any declared type (not set)
        ("number", "1000", "expected a number, got a string ('1000')"),
        ("number", True, "expected a number, got a boolean (True)"),
        ("number", [1], "expected a number, got a list ([1])"),
        ("integer", 3.5, "expected a whole number, got a number (3.5)"),
        ("integer", True, "expected a whole number, got a boolean (True)"),
        ("integer", "3", "expected a whole number, got a string ('3')"),
        ("boolean", "true", "expected true or false, got a string ('true')"),
        ("boolean", 1, "expected true or false, got a number (1)"),
        ("object", [], "expected an object, got a list ([])"),
        ("object", "{}", "expected an object, got a string ('{}')"),
        ("array", {}, "expected a list, got an object ({})"),
        ("array", "a,b", "expected a list, got a string ('a,b')"),
        ("date", "24/12/2026", f"expected {DATE}, got a string ('24/12/2026')"),
        ("date", "2026-12-24T10:00:00", f"expected {DATE}, got a string ('2026-12-24T10:00:00')"),
        ("date", "2026-02-30", f"expected {DATE}, got a string ('2026-02-30')"),
        ("date", 20261224, f"expected {DATE}, got a number (20261224)"),
        ("datetime", "next monday", f"expected {DATETIME}, got a string ('next monday')"),
        ("datetime", 1766570400, f"expected {DATETIME}, got a number (1766570400)"),
        (
            "datetime",
            "2026-12-24T18:00:00",
            f"expected {DATETIME}, got a string ('2026-12-24T18:00:00')",
        ),
        ("datetime", "2026-12-24", f"expected {DATETIME}, got a string ('2026-12-24')"),
    ],
)
def test_refused(kind: VariableType, given: Any, message: str | None) -> None:
    values, problems = check_variables(_declared(kind), {"v": given}, path="variables")
    expected = [] if message is None else [Problem("variables.v", "invalid_type", message)]
    assert problems == expected
    assert values == {"v": given}  # a refused value is left as it was


def test_a_long_value_is_cut_in_the_message() -> None:
    _, problems = check_variables(_declared("number"), {"v": "x" * 100}, path="variables")
    assert problems == [
        Problem(
            "variables.v", "invalid_type", "expected a number, got a string ('" + "x" * 39 + ")"
        )
    ]


def test_every_problem_is_reported_at_its_path() -> None:
    declared = {
        "order_id": VariableSpec(type="string"),
        "total_amount": VariableSpec(type="number"),
        "approved": VariableSpec(type="boolean"),
    }
    values, problems = check_variables(
        declared,
        {"order_id": 1, "total_amount": "999.99", "approved": True},
        path="$.input.variables",
    )
    assert problems == [
        Problem(
            "$.input.variables.order_id", "invalid_type", "expected a string, got a number (1)"
        ),
        Problem(
            "$.input.variables.total_amount",
            "invalid_type",
            "expected a number, got a string ('999.99')",
        ),
    ]
    assert values["approved"] is True


def test_undeclared_variables_pass_as_they_are() -> None:
    values, problems = check_variables(
        _declared("number"), {"v": 1, "note": 5, "extra": {"a": 1}}, path="variables"
    )
    assert problems == []
    assert values == {"v": 1.0, "note": 5, "extra": {"a": 1}}


def test_not_an_object() -> None:
    values, problems = check_variables(_declared("string"), cast(Any, ["v", "x"]), path="variables")
    assert values == {}
    assert problems == [Problem("variables", "invalid_type", "expected an object, got a list")]


# --- starting an instance: required and defaults --------------------------------------------

SEED_DECLARED = {
    "order_id": VariableSpec(type="string", required=True),
    "customer_id": VariableSpec(type="string"),
    "total_amount": VariableSpec(type="number", required=True),
    "currency": VariableSpec(type="string", default="CNY"),
    "priority": VariableSpec(type="integer", required=True, default=50),
}


def test_starting_with_the_seeds_variables() -> None:
    values, problems = check_variables(
        SEED_DECLARED,
        {"order_id": "ORDER-001", "customer_id": "CUST-456", "total_amount": 999.99},
        path="variables",
        starting=True,
    )
    assert problems == []
    assert values == {
        "order_id": "ORDER-001",
        "customer_id": "CUST-456",
        "total_amount": 999.99,
        "currency": "CNY",
        "priority": 50,  # required, but its default fills it
    }


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, ["order_id", "total_amount"]),
        ({"order_id": "ORDER-001"}, ["total_amount"]),
        ({"order_id": None, "total_amount": 10}, ["order_id"]),  # null is not set
    ],
)
def test_starting_without_a_required_variable(given: dict[str, Any], missing: list[str]) -> None:
    _, problems = check_variables(SEED_DECLARED, given, path="variables", starting=True)
    assert problems == [
        Problem(f"variables.{name}", "missing_variable", f"required variable '{name}' is missing")
        for name in missing
    ]


def test_a_given_value_wins_over_the_default() -> None:
    values, problems = check_variables(
        SEED_DECLARED,
        {"order_id": "A", "total_amount": 1, "currency": "EUR", "priority": 90.0},
        path="variables",
        starting=True,
    )
    assert problems == []
    assert (values["currency"], values["priority"]) == ("EUR", 90)


def test_starting_sets_the_other_declared_variables_to_null() -> None:
    values, problems = check_variables(
        SEED_DECLARED, {"order_id": "A", "total_amount": 1}, path="variables", starting=True
    )
    assert problems == []
    assert "customer_id" in values and values["customer_id"] is None


def test_a_default_is_normalised_like_a_given_value() -> None:
    declared = {"limit": VariableSpec(type="number", default=1000)}
    values, _ = check_variables(declared, {}, path="variables", starting=True)
    assert values == {"limit": 1000.0}
    assert isinstance(values["limit"], float)


def test_required_and_defaults_only_apply_when_starting() -> None:
    values, problems = check_variables(SEED_DECLARED, {"customer_id": "C"}, path="variables")
    assert problems == []
    assert values == {"customer_id": "C"}


def test_type_problems_and_missing_ones_together() -> None:
    _, problems = check_variables(
        SEED_DECLARED, {"total_amount": "lots"}, path="variables", starting=True
    )
    assert [(p.path, p.code) for p in problems] == [
        ("variables.total_amount", "invalid_type"),
        ("variables.order_id", "missing_variable"),
    ]


# --- a user task's form ---------------------------------------------------------------------

APPROVAL_FORM = (
    FormField(id="approved", label="批准", type="boolean", required=True),
    FormField(id="comments", label="审批意见", type="string"),
    FormField(id="decision", type="enum", values=["approve", "reject", "escalate"]),
    FormField(id="discount", type="number"),
    FormField(id="reviewer_count", type="integer", required=True),
)


def test_the_seeds_completion_is_accepted() -> None:
    values, problems = check_form(
        APPROVAL_FORM, {"approved": True, "comments": "审批通过", "reviewer_count": 2}
    )
    assert problems == []
    assert values == {"approved": True, "comments": "审批通过", "reviewer_count": 2}


def test_form_values_are_normalised() -> None:
    values, problems = check_form(
        APPROVAL_FORM,
        {"approved": False, "discount": 5, "reviewer_count": 2.0, "decision": "reject"},
    )
    assert problems == []
    assert values == {"approved": False, "discount": 5.0, "reviewer_count": 2, "decision": "reject"}
    assert isinstance(values["discount"], float) and isinstance(values["reviewer_count"], int)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"approved": True, "reviewer_count": 1, "aproved": True},
            [
                Problem(
                    "variables.aproved",
                    "unknown_field",
                    "'aproved' is not a field of this task's form (fields: approved, comments, "
                    "decision, discount, reviewer_count)",
                )
            ],
        ),
        (
            {"approved": True, "reviewer_count": 1, "decision": "maybe"},
            [
                Problem(
                    "variables.decision",
                    "invalid_value",
                    "expected one of ['approve', 'reject', 'escalate'], got 'maybe'",
                )
            ],
        ),
        (
            {"approved": True, "reviewer_count": 1, "decision": "APPROVE"},
            [
                Problem(
                    "variables.decision",
                    "invalid_value",
                    "expected one of ['approve', 'reject', 'escalate'], got 'APPROVE'",
                )
            ],
        ),
        (
            {"approved": "yes", "reviewer_count": 1.5},
            [
                Problem(
                    "variables.approved",
                    "invalid_type",
                    "expected true or false, got a string ('yes')",
                ),
                Problem(
                    "variables.reviewer_count",
                    "invalid_type",
                    "expected a whole number, got a number (1.5)",
                ),
            ],
        ),
        (
            {"comments": "ok"},
            [
                Problem(
                    "variables.approved",
                    "missing_variable",
                    "required field 'approved' (批准) is missing",
                ),
                Problem(
                    "variables.reviewer_count",
                    "missing_variable",
                    "required field 'reviewer_count' (reviewer_count) is missing",
                ),
            ],
        ),
        (
            {"approved": None, "reviewer_count": 1},
            [
                Problem(
                    "variables.approved",
                    "missing_variable",
                    "required field 'approved' (批准) is missing",
                )
            ],
        ),
    ],
)
def test_form_problems(given: dict[str, Any], expected: list[Problem]) -> None:
    _, problems = check_form(APPROVAL_FORM, given)
    assert problems == expected


def test_an_optional_field_may_be_null() -> None:
    values, problems = check_form(
        APPROVAL_FORM, {"approved": True, "reviewer_count": 1, "comments": None, "decision": None}
    )
    assert problems == []
    assert values["comments"] is None and values["decision"] is None


def test_every_form_problem_at_once() -> None:
    _, problems = check_form(APPROVAL_FORM, {"bogus": 1, "decision": "maybe", "discount": "5%"})
    assert [(p.path, p.code) for p in problems] == [
        ("variables.bogus", "unknown_field"),
        ("variables.decision", "invalid_value"),
        ("variables.discount", "invalid_type"),
        ("variables.approved", "missing_variable"),
        ("variables.reviewer_count", "missing_variable"),
    ]
