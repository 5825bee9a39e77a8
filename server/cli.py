"""The ``workflow-engine`` command.

``serve`` runs the HTTP service (``--demo``: with the examples and their demo handlers),
``worker`` runs an arq worker (service tasks and timers, with REDIS_URL), ``migrate`` brings the
configured database to the latest schema, ``deploy`` stores definition files; ``users`` (who
logs in) and ``retention`` (purge old history now) are the operators' (``server.cli_ops``).
``validate`` and ``json-schema`` need only the engine: the first checks definition files the
way a deploy will, the second prints the language's JSON Schema for editors.

The database is DATABASE_URL's, else the embedded SQLite file (SQLITE_PATH).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from engine import DefinitionInvalid, Problem, compile_definition, load_definition_text
from engine.definition import definition_json_schema
from server.cli_ops import database_ready, retention_app, users_app, where

if TYPE_CHECKING:
    from server.models import Job, Timer
    from server.settings import Settings

app = typer.Typer(
    name="workflow-engine",
    help="A workflow engine with a typed GraphQL API, live subscriptions and distributed workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(users_app)
app.add_typer(retention_app)


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Definition files (.json, .yaml, .yml)", show_default=False)
    ],
    output: Annotated[
        str, typer.Option("--format", "-f", help="'text' for people, 'json' for tools")
    ] = "text",
) -> None:
    """Check definitions as a deploy would: every problem of every file, with its JSON path.

    Exits 1 when any file has a problem.
    """
    if output not in ("text", "json"):
        raise typer.BadParameter("use 'text' or 'json'", param_hint="--format")
    report: dict[str, list[Problem]] = {}
    summaries: dict[str, str] = {}
    for path in files:
        problems, summary = _check_file(path)
        report[str(path)] = problems
        summaries[str(path)] = summary
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    name: {
                        "valid": not problems,
                        "problems": [
                            {"path": p.path, "code": p.code, "message": p.message} for p in problems
                        ],
                    }
                    for name, problems in report.items()
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for name, problems in report.items():
            if not problems:
                typer.secho(f"{name}: ok ({summaries[name]})", fg=typer.colors.GREEN)
                continue
            typer.secho(f"{name}: {len(problems)} problem(s)", fg=typer.colors.RED, err=True)
            for p in problems:
                typer.echo(f"  {p.path}: {p.message} [{p.code}]", err=True)
    if any(report.values()):
        raise typer.Exit(1)


def _check_file(path: Path) -> tuple[list[Problem], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        return [Problem("$", "unreadable_file", f"cannot read the file: {reason}")], ""
    try:
        definition = compile_definition(load_definition_text(text, filename=path.name))
    except DefinitionInvalid as error:
        return error.problems, ""
    steps = len(definition.steps)
    return [], f"{definition.name} {definition.version}, {steps} steps"


@app.command("json-schema")
def json_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")
    ] = None,
) -> None:
    """Print the definition language as JSON Schema (draft 2020-12), for editors."""
    text = json.dumps(definition_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "0.0.0.0",
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on (default: SERVER_PORT, else 8080)", show_default=False
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Load the demo handlers (server.demo_services), deploy examples/ at start, and "
            "create the user admin / password123 (a made-up signing secret unless JWT_SECRET)",
        ),
    ] = False,
) -> None:
    """Run the HTTP service: GET /health, /graphql and the REST API under /api/v1.

    Embedded (no DATABASE_URL), the SQLite file is migrated at start.

    With DATABASE_URL, the database must already be migrated (`workflow-engine migrate`).

    With TLS_CERT_FILE and TLS_KEY_FILE (both), it serves HTTPS (and wss) itself.
    """
    import uvicorn

    from server.app import (
        create_app,
        demo_settings,
        example_files,
    )
    from server.logs import configure_logging
    from server.settings import Settings
    from server.shutdown import GracefulServer
    from server.telemetry import SERVICE_API, setup_tracing

    settings = Settings()
    if demo:
        settings = demo_settings(settings)
    certfile, keyfile = _tls_files(settings)
    from server.authentication import check_auth_settings

    refused = check_auth_settings(settings)  # no signing key: no server (outside the demo)
    if refused is not None:
        typer.secho(f"not starting: {refused}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if not settings.embedded:  # say it plainly, before uvicorn wraps it in a traceback
        asyncio.run(database_ready(settings, "not starting: "))
    # every line with its request and trace ids; a trace id for every request
    configure_logging(settings.log_level, settings.log_format)
    tracing = setup_tracing(SERVICE_API)
    application = create_app(settings, deploy=example_files() if demo else ())
    config = uvicorn.Config(
        application,
        host=host,
        port=port if port is not None else settings.server_port,
        log_level=settings.log_level,
        log_config=None,  # its access and error lines go through configure_logging's handler
        # Live feeds hold thousands of websockets: per-message deflate keeps zlib contexts per
        # socket (the websockets library: ~64 KB per idle connection with it, ~14 KB without,
        # shared/LIBRARIES.md) to compress events of a few hundred bytes. Off.
        ws_per_message_deflate=False,
        # The kernel caps it at net.core.somaxconn. uvicorn's 2048 overflowed when 10,000
        # subscribers connected at once: the dropped handshakes failed ("no valid HTTP
        # response") instead of waiting their turn.
        backlog=8192,
        ssl_certfile=certfile,  # None, None: plain HTTP
        ssl_keyfile=keyfile,
        # SIGTERM: in-flight requests get this long to finish (docs/health-and-shutdown.md)
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    # drains before uvicorn's shutdown: readiness 503 at once, websockets closed with 1001
    server = GracefulServer(config, application.state.draining, settings.shutdown_delay_seconds)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: as uvicorn.run, no traceback
        server.run()
    tracing.shutdown()  # the spans still buffered are exported
    if not server.started:
        raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE: it logged why


def _tls_files(settings: Settings) -> tuple[str | None, str | None]:
    """uvicorn's ssl_certfile and ssl_keyfile, or None twice; a half or missing configuration
    stops the start with a clear message (uvicorn would start, or fail deep in ssl)."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None and key is None:
        return None, None
    if cert is None or key is None:
        missing = "TLS_CERT_FILE" if cert is None else "TLS_KEY_FILE"
        _refuse_start(f"TLS needs both TLS_CERT_FILE and TLS_KEY_FILE; {missing} is not set")
    for name, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        if not path.is_file():
            _refuse_start(f"{name} {path} is not a readable file")
    return str(cert), str(key)


def _refuse_start(message: str) -> NoReturn:
    typer.secho(f"not starting: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def worker(
    modules: Annotated[
        list[str] | None,
        typer.Argument(
            help="Handler modules to load, besides HANDLER_MODULES (and the built-in http)",
            show_default=False,
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo handlers (server.demo_services)")
    ] = False,
) -> None:
    """Run an arq worker: service tasks and timers from Redis (REDIS_URL), on DATABASE_URL.

    Start as many as you like, on as many machines: a job runs once at a time (arq's job id),
    its result is applied once, and every worker sweeps the database for work Redis lost.
    Settings: WORKER_CONCURRENCY, WORKER_JOB_TIMEOUT, WORKER_POLL_DELAY, WORKER_SWEEP_INTERVAL,
    WORKER_EAGER.
    """
    from server.app import demo_settings
    from server.settings import Settings

    settings = Settings()
    if demo:
        settings = demo_settings(settings)
    if modules:
        extra = list(dict.fromkeys([*settings.handler_modules, *modules]))
        settings = settings.model_copy(update={"handler_modules": extra})
    if not settings.redis_url:
        typer.secho("not starting: a worker needs REDIS_URL", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    from server.logs import configure_logging
    from server.telemetry import SERVICE_WORKER, setup_tracing

    configure_logging(settings.log_level, settings.log_format)  # arq's lines too
    tracing = setup_tracing(SERVICE_WORKER)
    asyncio.run(database_ready(settings, "not starting: "))
    try:
        asyncio.run(_work(settings))
    finally:
        tracing.shutdown()  # the spans still buffered are exported


async def _work(settings: Settings) -> None:
    from arq.worker import Worker

    from workers.settings import close_worker, drain_on_signal, worker_settings

    arq_worker = Worker(**worker_settings(settings))
    drain_on_signal(arq_worker)  # SIGTERM: finish or hand back the running jobs
    try:
        await arq_worker.async_run()
    except asyncio.CancelledError:
        main = arq_worker.main_task
        if main is None or not main.cancelled():
            raise
        # SIGTERM or SIGINT: arq cancelled its main task; this is the way out, not an error
    finally:
        await close_worker(arq_worker)


@app.command()
def migrate() -> None:
    """Migrate the configured database to the latest schema revision."""
    from server import migrations
    from server.settings import Settings

    settings = Settings()
    url = settings.sqlalchemy_url
    if settings.embedded:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(migrations.upgrade(url))
    typer.echo(f"database at revision {migrations.head()} ({where(settings.embedded, url)})")


@app.command()
def deploy(
    files: Annotated[
        list[Path], typer.Argument(help="Definition files (.json, .yaml, .yml)", show_default=False)
    ],
) -> None:
    """Deploy definition files to the configured database (created / unchanged per file).

    A changed file becomes a new version of its key; content already deployed is unchanged.

    Exits 1 when any file is invalid (its problems are printed); the valid ones are deployed.
    """
    failed = asyncio.run(_deploy(files))
    if failed:
        raise typer.Exit(1)


class _NoQueue:
    """Deploying starts no work: nothing is ever handed to this queue."""

    async def submit(self, jobs: Sequence[Job]) -> None:
        return None

    async def schedule(self, timers: Sequence[Timer]) -> None:
        return None


async def _deploy(files: list[Path]) -> bool:
    from server.db import Database
    from server.keys import vault_from_settings
    from server.services.errors import InvalidInput
    from server.services.workflow import Workflow
    from server.settings import Settings

    settings = Settings()
    await database_ready(settings)
    db = Database(settings.sqlalchemy_url)
    workflow = Workflow(db, _NoQueue(), vault=vault_from_settings(settings))
    failed = False
    try:
        for path in files:
            problems: list[Problem]
            try:
                text = path.read_text(encoding="utf-8")
                source = load_definition_text(text, filename=path.name)
                deployed = await workflow.deploy(source, actor="cli")
            except (OSError, UnicodeDecodeError):
                problems = [Problem("$", "unreadable_file", "cannot read the file")]
            except (DefinitionInvalid, InvalidInput) as error:
                problems = error.problems
            else:
                row = deployed.definition
                state = "created" if deployed.created else "unchanged"
                typer.secho(
                    f"{path}: {state} {row.key} {row.version} (id {row.id}, revision "
                    f"{row.revision})",
                    fg=typer.colors.GREEN if deployed.created else None,
                )
                continue
            failed = True
            typer.secho(f"{path}: not deployed, {len(problems)} problem(s)", fg="red", err=True)
            for p in problems:
                typer.echo(f"  {p.path}: {p.message} [{p.code}]", err=True)
    finally:
        await db.close()
    return failed


def main() -> None:
    app()
