"""The ``workflow-engine`` command: validate and json-schema."""

import json
from pathlib import Path

from typer.testing import CliRunner

from server.cli import app

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def test_validate_accepts_the_examples() -> None:
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.json"))
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "order-processing.json: ok (订单处理流程 1.0.0, 16 steps)" in result.output


def test_validate_lists_every_problem_of_every_file_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "name": "broken",
                "steps": [
                    {
                        "id": "a",
                        "type": "service_task",
                        "config": {"service_name": "S"},
                        "next": "b",
                    },
                    {"id": "c", "type": "timer_event", "config": {"duration": "soon"}},
                ],
            }
        )
    )
    missing = tmp_path / "missing.yaml"
    result = runner.invoke(app, ["validate", str(broken), str(missing)])
    assert result.exit_code == 1
    assert "broken.json: 3 problem(s)" in result.output
    assert "$.steps[0].next[0]: unknown step 'b' [unknown_step]" in result.output
    assert "$.steps[1]: step 'c' can never be reached from the start 'a'" in result.output
    assert "$.steps[1].config.duration: invalid duration 'soon'" in result.output
    assert "missing.yaml: 1 problem(s)" in result.output
    assert "cannot read the file" in result.output


def test_validate_json_format_is_machine_readable(tmp_path: Path) -> None:
    broken = tmp_path / "fragment.json"
    broken.write_text('{"type": "exclusive_gateway", "config": {}}')
    result = runner.invoke(app, ["validate", "--format", "json", str(broken)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report[str(broken)]["valid"] is False
    assert report[str(broken)]["problems"][0]["code"] == "not_a_definition"


def test_validate_rejects_an_unknown_format() -> None:
    result = runner.invoke(app, ["validate", "--format", "xml", "x.json"])
    assert result.exit_code == 2
    assert "use 'text' or 'json'" in result.output


def test_json_schema_writes_the_published_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    result = runner.invoke(app, ["json-schema", "--output", str(target)])
    assert result.exit_code == 0
    assert target.read_text() == (ROOT / "engine" / "definition.schema.json").read_text()
