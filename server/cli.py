"""The ``workflow-engine`` command.

Subcommands grow with the service (serve, worker, migrate, deploy); the ones here need only
the engine: ``validate`` checks definition files the way a deploy will, and ``json-schema``
prints the language's JSON Schema for editors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from engine import DefinitionInvalid, Problem, compile_definition, load_definition_text
from engine.definition import definition_json_schema

app = typer.Typer(
    name="workflow-engine",
    help="A workflow engine with a typed GraphQL API, live subscriptions and distributed workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def main() -> None:
    app()
