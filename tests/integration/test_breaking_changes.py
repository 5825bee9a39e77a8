"""The breaking-change check of the contract (frontend-contract/typescript/scripts/
breaking-changes.mjs, run by `make contract`): schema.graphql against the committed baseline,
with graphql-inspector. An undeclared breaking change fails; a declared one, with its reason,
passes; additions pass. Run on copies: the contract's own files are only read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.node import CLIENT, install, tool

CONTRACT = CLIENT.parent
SCHEMA = (CONTRACT / "schema.graphql").read_text(encoding="utf-8")
EXTERNAL_TASK = '''  """An external task by id; null when none has it."""
  externalTask(id: Int!): ExternalTask
'''


@pytest.fixture(scope="module")
def client() -> Path:
    install(CLIENT)  # graphql-inspector is one of the client's devDependencies
    return CLIENT


def check(client: Path, tmp_path: Path, schema: str, declared: list[dict[str, str]]) -> str:
    """``schema`` against today's contract as the baseline (the committed baseline may be
    older: additions since the last release are in it already)."""
    (tmp_path / "baseline.graphql").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "schema.graphql").write_text(schema, encoding="utf-8")
    (tmp_path / "declared.json").write_text(json.dumps({"declared": declared}), encoding="utf-8")
    done = subprocess.run(
        [
            tool("node"),
            "scripts/breaking-changes.mjs",
            "--schema",
            str(tmp_path / "schema.graphql"),
            "--baseline",
            str(tmp_path / "baseline.graphql"),
            "--declared",
            str(tmp_path / "declared.json"),
        ],
        cwd=client,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_the_committed_contract_passes(client: Path) -> None:
    done = subprocess.run(
        [tool("node"), "scripts/breaking-changes.mjs"],
        cwd=client,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_removed_field_fails_until_declared_with_a_reason(client: Path, tmp_path: Path) -> None:
    assert EXTERNAL_TASK in SCHEMA
    removed = SCHEMA.replace(EXTERNAL_TASK, "")
    undeclared = check(client, tmp_path, removed, [])
    assert undeclared.startswith("exit 1"), undeclared
    assert "BREAKING  FIELD_REMOVED Query.externalTask" in undeclared
    assert '{"type": "FIELD_REMOVED", "path": "Query.externalTask"' in undeclared  # the hint

    declaration = {"type": "FIELD_REMOVED", "path": "Query.externalTask"}
    declared = check(client, tmp_path, removed, [{**declaration, "reason": "workers use REST"}])
    assert declared.startswith("exit 0"), declared
    assert "declared  FIELD_REMOVED Query.externalTask" in declared

    no_reason = check(client, tmp_path, removed, [{**declaration, "reason": " "}])
    assert no_reason.startswith("exit 1") and "needs" in no_reason, no_reason


def test_a_required_argument_added_is_breaking(client: Path, tmp_path: Path) -> None:
    changed = SCHEMA.replace("task(id: Int!): Task\n", "task(id: Int!, tenant: String!): Task\n")
    assert changed != SCHEMA
    result = check(client, tmp_path, changed, [])
    assert result.startswith("exit 1") and "Query.task.tenant" in result, result


def test_additions_are_safe(client: Path, tmp_path: Path) -> None:
    added = SCHEMA.replace("type Query {\n", "type Query {\n  version: String\n")
    result = check(client, tmp_path, added, [])
    assert result.startswith("exit 0") and "1 safe" in result, result
