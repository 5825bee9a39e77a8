"""engine/ does no I/O and reads no clock or randomness: its imports are an allow-list.

import-linter keeps the project's own layers apart; this test covers the standard library,
which a contract cannot (``import time`` or ``import socket`` would go unnoticed).
"""

import ast
from pathlib import Path

ENGINE = Path(__file__).parents[2] / "engine"
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",  # the types only: the clock is passed in as ``now`` (see the test below)
    "difflib",
    "json",
    "re",
    "types",
    "typing",
    "cel",
    "pydantic",
    "pydantic_core",
    "yaml",
    "engine",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_imports_only_pure_modules() -> None:
    found = {path.name: _imports(path) - ALLOWED for path in sorted(ENGINE.glob("*.py"))}
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_engine_never_reads_the_clock() -> None:
    for path in ENGINE.glob("*.py"):
        source = path.read_text()
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            assert call not in source, f"{path.name} calls {call}"
