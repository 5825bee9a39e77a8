"""Node.js for the tests of the generated TypeScript client: npm, and the packages installed
from the lock files (CI has Node.js and the npm registry; `make contract` installs them first)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "frontend-contract" / "typescript"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is needed (Node.js 20+, as in CI): the TS client is tested"
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
