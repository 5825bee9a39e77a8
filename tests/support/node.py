"""Node.js for the tests of the generated TypeScript client: npm, and the packages installed
from the lock files (CI has Node.js and the npm registry; `make contract` installs them first)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "frontend-contract" / "typescript"


def tool(name: str) -> str:
    """The path of ``name``; missing, a loud skip on a developer's machine, a failure under CI
    (as the services' and the browser's)."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is missing (Node.js 20+ with npm): the TypeScript client is not tested"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(f"NO TYPESCRIPT TEST: {reason}")
    return found


def npm(folder: Path, *args: str) -> None:
    done = subprocess.run(
        [tool("npm"), *args], cwd=folder, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"npm {' '.join(args)} in {folder}:\n{done.stdout}{done.stderr}"


def installed(folder: Path) -> bool:
    """node_modules matches the lock file (npm writes node_modules/.package-lock.json)."""
    marker = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def install(folder: Path) -> None:
    """``npm ci`` unless node_modules is current already."""
    if not installed(folder):
        npm(folder, "ci", "--no-audit", "--no-fund")
