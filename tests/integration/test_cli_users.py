"""``workflow-engine users``: the first admin is created from the command line (on the embedded
SQLite file, migrated on the way), and can then log in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from server import cli
from server.auth.sessions import AuthService
from server.auth.throttle import MemoryThrottle, ThrottleLimits
from server.auth.tokens import AccessTokens, SigningKey
from server.db import Database

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "users.db"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SQLITE_PATH", str(path))
    return path


def test_users_create_list_disable(sqlite_path: Path) -> None:
    created = runner.invoke(
        cli.app,
        ["users", "create", "root", "--role", "admin", "-g", "ops", "--password-stdin"],
        input="a long admin password\n",
    )
    assert created.exit_code == 0, created.output
    assert "created root (id 1, roles admin)" in created.output

    listed = runner.invoke(cli.app, ["users", "list"])
    assert listed.stdout == "root\troles=admin\tgroups=ops\n"

    async def login() -> str:
        db = Database(f"sqlite+aiosqlite:///{sqlite_path}")
        tokens = AccessTokens(
            SigningKey.hs256("k" * 40), issuer="i", audience="a", ttl=timedelta(minutes=1)
        )
        try:
            auth = AuthService(db, tokens, MemoryThrottle(ThrottleLimits()))
            session = await auth.login("root", "a long admin password")
            return session.principal.username
        finally:
            await db.close()

    assert anyio.run(login) == "root"

    disabled = runner.invoke(cli.app, ["users", "disable", "root"])
    assert disabled.exit_code == 0 and "disabled root" in disabled.output
    assert runner.invoke(cli.app, ["users", "list"]).stdout.endswith("(disabled)\n")


def test_users_create_explains_what_is_wrong(sqlite_path: Path) -> None:
    bad = runner.invoke(
        cli.app,
        ["users", "create", "root", "--role", "root", "--password-stdin"],
        input="short\n",
    )
    assert bad.exit_code == 1
    assert "not created: 2 problem(s)" in bad.output
    assert "$.password: a password needs at least 8 characters [weak_password]" in bad.output
    assert "$.roles[0]: 'root' is not one of" in bad.output

    args = ["users", "create", "root", "-r", "admin", "--password-stdin"]
    assert runner.invoke(cli.app, args, input="long enough\n").exit_code == 0
    again = runner.invoke(cli.app, args, input="long enough\n")
    assert again.exit_code == 1 and "a user named 'root' exists already" in again.output
    missing = runner.invoke(cli.app, ["users", "disable", "nobody"])
    assert missing.exit_code == 1 and "no user with id 'nobody'" in missing.output


def test_users_create_without_a_role_is_a_usage_error(sqlite_path: Path) -> None:
    result = runner.invoke(cli.app, ["users", "create", "root", "--password-stdin"], input="x\n")
    assert result.exit_code == 2
    assert "--role" in result.output
