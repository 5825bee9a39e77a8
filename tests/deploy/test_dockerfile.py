"""docker/Dockerfile and .dockerignore, checked without a Docker engine: the instructions
(dockerfile-parse), what they copy, and the builder stage replayed with the local uv (offline,
from its cache) into a scratch virtualenv whose `workflow-engine migrate` must then work."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploy.checks import (
    DOCKER,
    REPO,
    dockerfile_problems,
    dockerfile_stages,
    dockerignore_patterns,
    dockerignored,
    env_problems,
)
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]  # no type hints

DOCKERFILE = DOCKER / "Dockerfile"
IGNORED = dockerignore_patterns((REPO / ".dockerignore").read_text("utf-8"))


def _instructions(text: str) -> list[dict[str, Any]]:
    # an in-memory file: with none, the parser writes ./Dockerfile wherever pytest runs
    parser = DockerfileParser(fileobj=io.BytesIO(), cache_content=True)
    parser.content = text
    structure: list[dict[str, Any]] = parser.structure
    return structure


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    return _instructions(DOCKERFILE.read_text("utf-8"))


def test_the_dockerfile_is_sound(instructions: list[dict[str, Any]]) -> None:
    assert dockerfile_problems(instructions) == []


def test_both_stages_are_the_same_python(instructions: list[dict[str, Any]]) -> None:
    # the virtualenv is copied from one to the other: its interpreter must be there
    bases = [s[0]["value"].split()[0] for s in dockerfile_stages(instructions)]
    assert bases == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    [default] = [i["value"] for i in instructions if i["value"].startswith("PYTHON_IMAGE=")]
    assert default.startswith("PYTHON_IMAGE=python:3.11")


_RUNTIME_TAIL = 'USER 10001:10001\nEXPOSE 8080\nHEALTHCHECK CMD ["x", "/health/live"]\n'


@pytest.mark.parametrize(
    ("dockerfile", "problem"),
    [
        ('FROM python:3.11-slim\nUSER 10001\nENTRYPOINT ["workflow-engine"]\n', "multi-stage"),
        (
            'FROM a AS b\nFROM c\nUSER root\nEXPOSE 8080\nENTRYPOINT ["workflow-engine"]\n'
            'CMD ["serve"]\n',
            "non-root",
        ),
        (
            'FROM a AS b\nFROM c\nEXPOSE 8080\nENTRYPOINT ["workflow-engine"]\nCMD ["serve"]\n',
            "non-root",
        ),
        (
            'FROM a AS b\nFROM c\nUSER app\nEXPOSE 8080\nENTRYPOINT ["workflow-engine"]\n'
            'CMD ["serve"]\n',
            "numeric",
        ),
        (
            "FROM a AS b\nENV JWT_SECRET=abc\nFROM c\n"
            + _RUNTIME_TAIL
            + 'ENTRYPOINT ["workflow-engine"]\nCMD ["serve"]\n',
            "secret",
        ),
        (
            "FROM a AS b\nFROM c\nRUN apt-get install -y build-essential\n"
            + _RUNTIME_TAIL
            + 'ENTRYPOINT ["workflow-engine"]\nCMD ["serve"]\n',
            "build tools",
        ),
        (
            "FROM a AS b\nFROM c\n" + _RUNTIME_TAIL + 'ENTRYPOINT workflow-engine\nCMD ["serve"]\n',
            "ENTRYPOINT",
        ),
        (
            "FROM a AS b\nFROM c\n" + _RUNTIME_TAIL + 'ENTRYPOINT ["workflow-engine"]\n'
            'CMD ["server"]\n',
            "not a workflow-engine command",
        ),
        (
            'FROM a AS b\nFROM c\nUSER 10001\nENTRYPOINT ["workflow-engine"]\nCMD ["serve"]\n',
            "EXPOSE 8080",
        ),
    ],
    ids=[
        "single-stage",
        "root",
        "no-user",
        "named-user",
        "secret-env",
        "build-tools",
        "shell-entrypoint",
        "unknown-command",
        "no-expose",
    ],
)
def test_a_broken_dockerfile_is_found(dockerfile: str, problem: str) -> None:
    problems = dockerfile_problems(_instructions(dockerfile))
    assert any(problem in p for p in problems), problems


def _copies(stage: list[dict[str, Any]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of the stage's COPY instructions from the build context."""
    copies = []
    for instruction in stage:
        if instruction["instruction"] != "COPY" or "--from=" in instruction["value"]:
            continue
        *sources, destination = shlex.split(instruction["value"])
        copies.append((sources, destination))
    return copies


def test_what_is_copied_is_in_the_build_context(instructions: list[dict[str, Any]]) -> None:
    for stage in dockerfile_stages(instructions):
        for sources, _ in _copies(stage):
            for source in sources:
                assert (REPO / source).exists(), source
                assert not dockerignored(source, IGNORED), f"{source} is in .dockerignore"


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".venv/bin/python", True),
        (".git/config", True),
        ("server/__pycache__/app.cpython-311.pyc", True),
        (".env", True),
        ("tests/unit/test_cli.py", True),
        ("server/app.py", False),
        ("engine/definition.schema.json", False),
        ("uv.lock", False),
    ],
)
def test_dockerignore_keeps_secrets_and_caches_out(path: str, ignored: bool) -> None:
    assert dockerignored(path, IGNORED) is ignored


def _uv() -> str:
    # as the Makefile picks it: UV, else uv on PATH, else the one `make bootstrap` installed
    found = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".bootstrap" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.fail("no uv: run `make bootstrap` (it installs one into .bootstrap/)")
    return found


def test_the_builder_stage_installs_a_working_engine(
    instructions: list[dict[str, Any]], tmp_path: Path
) -> None:
    builder = dockerfile_stages(instructions)[0]
    context = tmp_path / "src"
    context.mkdir()
    # the build context as Docker sends it: what the stage copies, less .dockerignore's
    for sources, _ in _copies(builder):
        for source in sources:
            origin = REPO / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    context / source,
                    ignore=lambda folder, names: [
                        name
                        for name in names
                        if dockerignored(str((Path(folder) / name).relative_to(REPO)), IGNORED)
                    ],
                )
            else:
                shutil.copy2(origin, context / source)
    syncs = [
        shlex.split(i["value"][i["value"].index("uv sync") :])
        for i in builder
        if i["instruction"] == "RUN" and "uv sync" in i["value"]
    ]
    assert len(syncs) == 2 and "--no-install-project" in syncs[0]
    assert "--frozen" in syncs[-1] and "--no-dev" in syncs[-1]
    venv = tmp_path / "venv"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/"),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": os.path.realpath(sys.executable),  # this Python, as the image has its own
        "UV_PYTHON_DOWNLOADS": "never",
    }
    result = subprocess.run(
        [_uv(), *syncs[-1][1:], "--offline", "--no-progress"],
        cwd=context,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [site] = venv.glob("lib/python3*/site-packages")
    installed = site / "server"
    # a real install, not a link back to the sources: the image has no /src
    assert (installed / "_alembic" / "env.py").is_file()
    for link in site.glob("*.pth"):
        assert str(context) not in link.read_text(), link
    for path in (context / "server").rglob("*"):
        if path.is_file():
            assert (installed / path.relative_to(context / "server")).is_file(), path
    # the image's one-shot migration, on the embedded database in /data
    data = tmp_path / "data"
    migrated = subprocess.run(
        [str(venv / "bin" / "workflow-engine"), "migrate"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "SQLITE_PATH": str(data / "wf.db")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    assert (data / "wf.db").is_file()


def test_the_image_environment_is_settings_or_python(instructions: list[dict[str, Any]]) -> None:
    runtime = dockerfile_stages(instructions)[-1]
    names: list[str] = []
    for instruction in runtime:
        if instruction["instruction"] == "ENV":
            names += [pair.split("=")[0] for pair in shlex.split(instruction["value"])]
    assert {"SERVER_PORT", "SQLITE_PATH", "PYTHONDONTWRITEBYTECODE"} <= set(names)
    python = {
        "PATH",
        "VIRTUAL_ENV",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONFAULTHANDLER",
    }
    assert env_problems(n for n in names if n not in python) == []
