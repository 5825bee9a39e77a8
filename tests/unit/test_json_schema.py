"""The published JSON Schema is generated from the models and accepts what they accept."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine import definition_json_schema

ROOT = Path(__file__).parents[2]
PUBLISHED = ROOT / "engine" / "definition.schema.json"
EXAMPLES = sorted(
    p for p in (ROOT / "examples").iterdir() if p.suffix in (".json", ".yaml", ".yml")
)


def _load(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def test_published_schema_is_up_to_date() -> None:
    published = json.loads(PUBLISHED.read_text())
    assert published == definition_json_schema(), "run `make schema-json` and commit the result"


def test_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(PUBLISHED.read_text()))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_the_published_schema(path: Path) -> None:
    validator = Draft202012Validator(json.loads(PUBLISHED.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert errors == []


def test_schema_rejects_an_unknown_step_type() -> None:
    validator = Draft202012Validator(json.loads(PUBLISHED.read_text()))
    document = {"name": "x", "steps": [{"id": "a", "type": "script_task"}]}
    assert not validator.is_valid(document)
