"""Reading definition text: JSON or YAML, syntax errors located by line and column, the size
limit, and YAML that builds nothing but plain data."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import DefinitionInvalid, Problem
from engine.loading import MAX_DEFINITION_BYTES, load_definition_text

SEED_JSON = """{
  "name": "订单处理流程",
  "version": "1.0.0",
  "variables": {"order_id": "string", "total_amount": "number"},
  "steps": [{"id": "validate_order", "type": "service_task",
             "config": {"service_name": "OrderValidationService"}}]
}
"""
SEED_DATA = {
    "name": "订单处理流程",
    "version": "1.0.0",
    "variables": {"order_id": "string", "total_amount": "number"},
    "steps": [
        {
            "id": "validate_order",
            "type": "service_task",
            "config": {"service_name": "OrderValidationService"},
        }
    ],
}
SEED_YAML = """\
name: 订单处理流程
version: "1.0.0"
variables:
  order_id: string
  total_amount: number
steps:
  - id: validate_order
    type: service_task
    config:
      service_name: OrderValidationService
"""


def _problems(text: str, filename: str = "") -> list[Problem]:
    with pytest.raises(DefinitionInvalid) as raised:
        load_definition_text(text, filename=filename)
    return raised.value.problems


@pytest.mark.parametrize(
    ("text", "filename"),
    [
        (SEED_JSON, ""),
        (SEED_JSON, "order.json"),
        (SEED_JSON, "order.yaml"),  # JSON is YAML too
        ("\n\n   " + SEED_JSON, ""),  # leading blanks before the '{'
        (SEED_YAML, ""),
        (SEED_YAML, "order.yaml"),
        (SEED_YAML, "order.yml"),
    ],
)
def test_json_and_yaml_read_the_same(text: str, filename: str) -> None:
    assert load_definition_text(text, filename=filename) == SEED_DATA


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        # JSON when the file is .json or the text starts with '{' (and it is not .yaml/.yml)
        ('{"name": "x"}', "", {"name": "x"}),
        ("{name: x}", "order.yaml", {"name": "x"}),  # YAML flow mapping: a .yaml file
        ("{name: x}", "order.yml", {"name": "x"}),
        # anything else is YAML
        ("[1, 2]", "", [1, 2]),
        ("name: x", "order.txt", {"name": "x"}),
        ("", "", None),
    ],
)
def test_format_detection(text: str, filename: str, expected: Any) -> None:
    assert load_definition_text(text, filename=filename) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default: 2026-12-24", {"default": "2026-12-24"}),
        ("until: 2026-12-24T18:00:00+08:00", {"until": "2026-12-24T18:00:00+08:00"}),
    ],
)
def test_yaml_dates_stay_text_as_in_json(text: str, expected: Any) -> None:
    assert load_definition_text(text, filename="order.yaml") == expected


@pytest.mark.parametrize(
    ("text", "filename", "message"),
    [
        (
            "{name: x}",
            "",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            '{"name": "x",\n  "steps": [,]}',
            "",
            "not valid JSON: Expecting value at line 2 column 13",
        ),
        ('{"name": "x"} trailing', "", "not valid JSON: Extra data at line 1 column 15"),
        ("name: x", "order.json", "not valid JSON: Expecting value at line 1 column 1"),
        ("", "order.json", "not valid JSON: Expecting value at line 1 column 1"),
    ],
)
def test_json_syntax_error_is_located(text: str, filename: str, message: str) -> None:
    assert _problems(text, filename) == [Problem("$", "invalid_json", message)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: [unclosed\n",
            "not valid YAML: expected ',' or ']', but got '<stream end>' at line 2 column 1",
        ),
        (
            "name: x\n steps: []\n",
            "not valid YAML: mapping values are not allowed here at line 2 column 7",
        ),
        (
            'name: "\\q"\n',
            "not valid YAML: found unknown escape character 'q' at line 1 column 9",
        ),
        (
            "\t- a\n",
            "not valid YAML: found character '\\t' that cannot start any token at line 1 column 1",
        ),
    ],
)
def test_yaml_syntax_error_is_located(text: str, message: str) -> None:
    assert _problems(text, "order.yaml") == [Problem("$", "invalid_yaml", message)]


def test_yaml_aliases_are_refused() -> None:
    text = "base: &b {service_name: X}\nsteps:\n  - config: *b\n"
    assert _problems(text) == [
        Problem(
            "$",
            "invalid_yaml",
            "not valid YAML: aliases (*name) are not allowed in definitions at line 3 column 13",
        )
    ]


def test_yaml_builds_no_python_objects() -> None:
    text = "name: !!python/object/apply:os.system ['echo hacked']\n"
    assert _problems(text) == [
        Problem(
            "$",
            "invalid_yaml",
            "not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system' at line 1 column 7",
        )
    ]


def _json_of_bytes(size: int, char: str = "x") -> str:
    """A JSON document of exactly ``size`` bytes (``char`` is one byte or three)."""
    width = len(char.encode())
    filler = size - len(b'{"a": ""}')
    assert filler % width == 0
    return '{"a": "' + char * (filler // width) + '"}'


@pytest.mark.parametrize("char", ["x", "订"])
def test_size_limit_in_bytes(char: str) -> None:
    at_limit = MAX_DEFINITION_BYTES - (MAX_DEFINITION_BYTES - 9) % len(char.encode())
    assert isinstance(load_definition_text(_json_of_bytes(at_limit, char)), dict)
    over = _json_of_bytes(at_limit + len(char.encode()), char)
    assert len(over.encode()) > MAX_DEFINITION_BYTES
    assert _problems(over) == [
        Problem("$", "too_large", f"a definition is at most {MAX_DEFINITION_BYTES} bytes")
    ]


def test_exactly_the_limit_is_accepted() -> None:
    text = _json_of_bytes(MAX_DEFINITION_BYTES)
    assert len(text.encode()) == MAX_DEFINITION_BYTES
    assert isinstance(load_definition_text(text), dict)
    assert _problems(_json_of_bytes(MAX_DEFINITION_BYTES + 1))[0].code == "too_large"


def test_the_size_is_checked_before_parsing() -> None:
    text = "{" * (MAX_DEFINITION_BYTES + 1)  # would be a JSON error if it were parsed
    assert [p.code for p in _problems(text)] == ["too_large"]


def test_a_loading_error_is_a_definition_error() -> None:
    with pytest.raises(DefinitionInvalid) as raised:
        load_definition_text("{")
    assert str(raised.value).startswith("definition has 1 problem(s): $: not valid JSON")
