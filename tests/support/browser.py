"""Headless Chromium for the dashboard's browser tests and benchmark.

Debian's ``chromium`` (``/usr/bin/chromium``, or ``CHROMIUM``) is driven by ``playwright-core``
from a Node.js script; playwright-core is a dev dependency of the dashboard
(``frontend-contract/dashboard/node_modules``, installed by ``npm ci`` there, which
``make dashboard-check`` runs). The scripts load it from there (``DASHBOARD_DIR``).

Missing pieces skip loudly on a developer's machine and fail under ``CI=true``: CI installs
chromium (.ci/run) and never skips silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "frontend-contract" / "dashboard"
# What the machine's closed network needs (no background lookups of Google's hosts), and
# what root needs (no sandbox): the env doc's flags.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass(frozen=True)
class Browser:
    node: str
    chromium: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CHROMIUM": self.chromium,
            "CHROMIUM_FLAGS": " ".join(CHROMIUM_FLAGS),
            "DASHBOARD_DIR": str(DASHBOARD_DIR),
            **extra,
        }

    def popen(self, script: Path, *args: str, **env: str) -> subprocess.Popen[str]:
        """``node script args...``, with pipes for a step-by-step conversation."""
        return subprocess.Popen(
            [self.node, str(script), *args],
            env=self.env(**env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(os.environ.get("NODE", "node")) is None:
        return "node is not installed"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return f"{chromium} is missing: apt-get install -y chromium"
    if not (DASHBOARD_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed: npm ci in frontend-contract/dashboard"
    return None


def browser_or_skip() -> Browser:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the dashboard's browser test cannot run under CI: {reason}")
        pytest.skip(f"NO BROWSER TEST: {reason}")
    node = shutil.which(os.environ.get("NODE", "node"))
    assert node is not None
    return Browser(node, os.environ.get("CHROMIUM", "/usr/bin/chromium"))
