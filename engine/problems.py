"""Turning pydantic's structural errors into problems a process designer understands."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from engine import definition as d
from engine.errors import Problem

_TYPE_WORDS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _field_vocabulary() -> frozenset[str]:
    names: set[str] = set()
    for obj in vars(d).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.update(obj.model_fields)
            names.update(f.alias for f in obj.model_fields.values() if f.alias)
    return frozenset(names)


_FIELDS = sorted(_field_vocabulary())


def json_path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the union-member names pydantic puts in ``loc`` (step types, 'list[str]', ...)."""
    out: list[int | str] = []
    for i, part in enumerate(loc):
        if isinstance(part, str):
            after_step_index = i >= 2 and loc[i - 2] == "steps" and isinstance(loc[i - 1], int)
            if after_step_index and part in d.STEP_TYPES:
                continue
            if "[" in part or "-" in part or part in _TYPE_WORDS or part[:1].isupper():
                continue
        out.append(part)
    return tuple(out)


def from_validation_error(
    error: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[Problem]:
    problems: dict[str, Problem] = {}
    for item in error.errors(include_url=False):
        loc = prefix + _clean_loc(tuple(item["loc"]))
        problem = _problem(item, loc)
        # a union reports one error per member at the same place: keep the first, the clearest
        problems.setdefault(problem.path, problem)
    # of a union's members, the one that got deeper into the input explains it best
    deeper = [p.path for p in problems.values()]
    return [
        p
        for p in problems.values()
        if not (
            p.code in ("invalid_type", "unknown_variable_type")
            and any(q.startswith((p.path + ".", p.path + "[")) for q in deeper)
        )
    ]


def _problem(item: Any, loc: tuple[int | str, ...]) -> Problem:
    kind: str = item["type"]
    path = json_path(loc)
    last = loc[-1] if loc else "$"
    given = item.get("input")
    if kind == "missing":
        return Problem(path, "missing_field", f"required field '{last}' is missing")
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(last), _FIELDS, n=1, cutoff=0.75)
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        return Problem(path, "unknown_field", f"unknown field '{last}'{also}")
    if kind == "union_tag_invalid":
        return Problem(
            json_path((*loc, "type")),
            "unknown_step_type",
            f"unknown step type {item['ctx']['tag']!r}; expected one of: "
            + ", ".join(d.STEP_TYPES),
        )
    if kind == "union_tag_not_found":
        return Problem(
            json_path((*loc, "type")),
            "missing_field",
            "required field 'type' is missing; one of: " + ", ".join(d.STEP_TYPES),
        )
    if kind == "literal_error" and len(loc) >= 2 and loc[0] == "variables":
        return Problem(
            path,
            "unknown_variable_type",
            f"unknown variable type {given!r}; expected one of: "
            + ", ".join(get_args(d.VariableType)),
        )
    if kind == "string_pattern_mismatch":
        return Problem(
            path,
            "invalid_name",
            f"{given!r} is not a valid name: start with a letter or '_', then letters, "
            "digits or '_'"
            + (" ('-' and '.' are allowed in step ids)" if _is_step_ref(loc) else ""),
        )
    message: str = item["msg"]
    return Problem(path, _code(kind), message[0].lower() + message[1:])


def _is_step_ref(loc: tuple[int | str, ...]) -> bool:
    return any(
        p in ("id", "next", "start", "default", "parallel_tasks", "action", "attached_to")
        for p in loc
    )


def _code(kind: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_type":
        return "invalid_type"
    return "invalid_value"
