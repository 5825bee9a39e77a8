"""The operators' commands of ``workflow-engine``: ``users`` (who logs in) and ``retention``
(purging old history now), and the check every command that opens the database makes first
(``database_ready``: migrate the embedded database, or find production's at head)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from server.auth.users import UserInfo, Users
    from server.services.retention import PurgeReport
    from server.settings import Settings


async def database_ready(settings: Settings, prefix: str = "") -> None:
    """Migrate the embedded database, or check production's is at head; exit 1 saying why."""
    from server.app import DatabaseNotAtHead, prepare_database

    try:
        await prepare_database(settings)
    except DatabaseNotAtHead as error:
        typer.secho(f"{prefix}{error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error


def where(embedded: bool, url: str) -> str:
    if embedded:
        return url.removeprefix("sqlite+aiosqlite:///")
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


users_app = typer.Typer(
    name="users",
    help="Users who log in: create one (the first admin too), disable, enable, list.",
    no_args_is_help=True,
)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name", show_default=False)],
    role: Annotated[
        list[str],
        typer.Option("--role", "-r", help="admin, designer, operator or user (repeat for several)"),
    ],
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="A group (tasks' candidate groups); repeatable"),
    ] = None,
    display_name: Annotated[str, typer.Option(help="Name shown to people")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of stdin (scripts), not a prompt",
        ),
    ] = False,
) -> None:
    """Create a user with a password (asked for twice, unless --password-stdin).

    The password never goes on the command line, where ps and shell history would show it.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    _users(
        lambda users: users.create(
            username, password, role, groups=group or (), display_name=display_name
        ),
        "created",
    )


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(show_default=False)]) -> None:
    """Disable a user: they cannot log in, and every token they hold stops working."""
    _users(lambda users: users.disable(username), "disabled")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(show_default=False)]) -> None:
    """Enable a disabled user again (they log in anew)."""
    _users(lambda users: users.enable(username), "enabled")


@users_app.command("list")
def users_list() -> None:
    """Every user: name, roles, groups, and whether disabled."""

    async def each(users: Users) -> None:
        for user in await users.list():
            state = " (disabled)" if user.disabled else ""
            groups = ",".join(user.groups) or "-"
            typer.echo(f"{user.username}\troles={','.join(user.roles)}\tgroups={groups}{state}")

    asyncio.run(_with_users(each))


def _users(change: Callable[[Users], Awaitable[UserInfo]], done: str) -> None:
    from server.services.errors import InvalidInput, ServiceError

    async def run(users: Users) -> None:
        user = await change(users)
        roles = ",".join(user.roles)
        typer.secho(f"{done} {user.username} (id {user.id}, roles {roles})", fg="green")

    try:
        asyncio.run(_with_users(run))
    except InvalidInput as error:
        typer.secho(f"not {done}: {len(error.problems)} problem(s)", fg="red", err=True)
        for p in error.problems:
            typer.echo(f"  {p.path}: {p.message} [{p.code}]", err=True)
        raise typer.Exit(1) from error
    except ServiceError as error:
        typer.secho(f"not {done}: {error.message}", fg="red", err=True)
        raise typer.Exit(1) from error


async def _with_users(work: Callable[[Users], Awaitable[None]]) -> None:
    from server.auth.passwords import Passwords
    from server.auth.users import Users
    from server.db import Database
    from server.settings import Settings

    settings = Settings()
    await database_ready(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        await work(Users(db, Passwords()))
    finally:
        await db.close()


retention_app = typer.Typer(
    name="retention",
    help="History retention: purge instances that ended over HISTORY_RETENTION_DAYS ago.",
    no_args_is_help=True,
)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; delete nothing")
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Days to keep instead of HISTORY_RETENTION_DAYS", show_default=False
        ),
    ] = None,
) -> None:
    """Purge now, batch by batch, what the retention policy allows (docs/data-care.md).

    Waits for nothing: if a worker's run holds the lock, says so and exits 1.
    """
    report = asyncio.run(_retention(dry_run, days))
    if report.cutoff is None:
        typer.secho(
            "HISTORY_RETENTION_DAYS is not set (history is kept forever): set it or pass --days",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
    if report.skipped:
        typer.secho("not run: another retention run holds the lock", fg="red", err=True)
        raise typer.Exit(1)
    verb = "would purge" if report.dry_run else "purged"
    typer.echo(
        f"{verb} {report.instances} instance(s) and {report.history_rows} history row(s) "
        f"ended before {report.cutoff.isoformat()}"
        + ("" if report.dry_run else f" in {report.batches} batch(es)")
    )


async def _retention(dry_run: bool, days: int | None) -> PurgeReport:
    from server.db import Database
    from server.services.retention import Retention, RetentionPolicy
    from server.settings import Settings

    settings = Settings()
    if days is not None:
        settings = settings.model_copy(update={"history_retention_days": days})
    await database_ready(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        return await Retention(db, RetentionPolicy.of(settings)).run_exclusive(dry_run=dry_run)
    finally:
        await db.close()
