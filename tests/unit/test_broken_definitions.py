"""The broken-definition corpus: every file in tests/corpus/broken is a definition with the exact
problems validation must report (all of them, in order), each with its path, code and message.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine import problems as engine_problems
from engine import step_compiler as engine_step_compiler
from engine import validation as engine_validation
from engine.errors import DefinitionInvalid
from engine.validation import compile_definition, validate_definition

CORPUS = Path(__file__).parents[1] / "corpus" / "broken"
CASE_FILES = sorted(CORPUS.glob("*.json"))
CASE_NAME = re.compile(r"\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*")

# Every code validate_definition can report (engine/validation.py, engine/step_compiler.py,
# engine/problems.py); test_problem_codes_are_those_of_the_engine keeps the list honest.
PROBLEM_CODES = frozenset(
    {
        # the shape
        "not_a_definition",
        "missing_field",
        "unknown_field",
        "invalid_type",
        "invalid_value",
        "invalid_name",
        "unknown_step_type",
        "unknown_variable_type",
        # the graph
        "duplicate_step_id",
        "unknown_step",
        "no_start",
        "multiple_starts",
        "unreachable_step",
        "no_path_to_end",
        # gateways and ends
        "gateway_without_paths",
        "gateway_next",
        "end_with_next",
        "invalid_join_condition",
        "join_never_completes",
        "branch_leaves_block",
        "invalid_event_gateway_target",
        # events and multi-instance
        "invalid_boundary",
        "boundary_is_target",
        "invalid_timer",
        "invalid_multi_instance",
        # values
        "invalid_expression",
        "undeclared_variable",
        "invalid_duration",
        "invalid_date",
        # forms
        "duplicate_form_field",
        "invalid_form",
    }
)


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: a case is a JSON object"
    return data


def _expected(case: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["path"], e["code"], e["message"]) for e in case["errors"]]


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_broken_definition_reports_exactly_its_problems(path: Path) -> None:
    case = _load(path)
    expected = _expected(case)
    actual = [(p.path, p.code, p.message) for p in validate_definition(case["definition"])]
    assert actual == expected
    with pytest.raises(DefinitionInvalid) as raised:
        compile_definition(case["definition"])
    assert [(p.path, p.code, p.message) for p in raised.value.problems] == expected


def test_the_corpus_has_at_least_30_cases() -> None:
    assert len(CASE_FILES) >= 30


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_file_is_well_formed(path: Path) -> None:
    assert CASE_NAME.fullmatch(path.stem), f"name it NN-short-name.json, not {path.name}"
    case = _load(path)
    assert set(case) == {"description", "definition", "errors"}
    description = case["description"]
    assert isinstance(description, str) and description and "\n" not in description
    errors = case["errors"]
    assert isinstance(errors, list) and errors, "a broken definition has problems"
    for error in errors:
        assert set(error) == {"path", "code", "message"}
        assert error["path"].startswith("$")
        assert error["code"] in PROBLEM_CODES, f"unknown code {error['code']!r}"
        assert error["message"]


def test_case_numbers_are_unique_and_contiguous() -> None:
    numbers = [int(path.stem[:2]) for path in CASE_FILES]
    assert numbers == list(range(1, len(CASE_FILES) + 1))


def test_every_problem_code_appears_in_the_corpus() -> None:
    covered = {error["code"] for path in CASE_FILES for error in _load(path)["errors"]}
    assert sorted(PROBLEM_CODES - covered) == []


def _codes_in_source(source: str) -> set[str]:
    """The codes given to ``Problem(path, code, ...)`` and ``self.problem(path, code, ...)``."""
    codes: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        named = (isinstance(func, ast.Name) and func.id == "Problem") or (
            isinstance(func, ast.Attribute) and func.attr == "problem"
        )
        code = node.args[1]
        if named and isinstance(code, ast.Constant) and isinstance(code.value, str):
            codes.add(code.value)
    return codes


def test_problem_codes_are_those_of_the_engine() -> None:
    found: set[str] = set()
    for module in (engine_validation, engine_step_compiler, engine_problems):
        assert module.__file__ is not None
        found |= _codes_in_source(Path(module.__file__).read_text(encoding="utf-8"))
    # problems.py also maps pydantic's error kinds onto these two
    found |= {"invalid_type", "invalid_value"}
    assert sorted(found ^ PROBLEM_CODES) == []
