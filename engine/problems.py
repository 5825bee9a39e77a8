"""Turning pydantic's structural errors into problems a process designer understands."""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from engine import definition as d
from engine.errors import Problem


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


def _walk(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], type[BaseModel] | None]:
    """Follow ``loc`` through the models: keep the parts that are fields, list indexes and
    dict keys (a variable named ``Amount`` or ``order-id`` included), drop the labels pydantic
    adds for union members (``service_task``, ``VariableSpec``, ``list[str]``). Returns the
    clean location and the model that holds its last part (for did-you-mean hints)."""
    annotation: Any = d.ProcessDefinition
    holder: type[BaseModel] | None = None
    out: list[int | str] = []
    parts = list(loc)
    while parts:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if origin in (Union, UnionType):
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) == 1:  # X | None: pydantic adds no label
                annotation = members[0]
                continue
            label = parts.pop(0)  # which member pydantic tried: never part of the path
            annotation = _member(annotation, label)
            continue
        part = parts.pop(0)
        if part == "[key]":
            continue  # the dict key itself is wrong: the path already names it
        holder = annotation if _is_model(annotation) else None
        out.append(part)
        if origin is list:
            annotation = get_args(annotation)[0]
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif holder is not None and isinstance(part, str):
            field = _field(holder, part)
            annotation = field.annotation if field is not None else Any
        else:
            annotation = Any
    return tuple(out), holder


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field(model: type[BaseModel], name: str) -> FieldInfo | None:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return field
    return None


def _member(union: Any, label: int | str) -> Any:
    """The member of ``union`` that pydantic's ``label`` names: a step type (the tag), a
    model's class name, or another member's label such as 'list[str]'."""
    members = [_unwrap(m) for m in get_args(union)]
    for member in members:
        if _is_model(member):
            tag = member.model_fields.get("type")
            if member.__name__ == label or (
                tag is not None and get_args(tag.annotation) == (label,)
            ):
                return member
    kinds = {"list": list, "dict": dict}
    for prefix, kind in kinds.items():
        if str(label).startswith(prefix):
            return next((m for m in members if get_origin(m) is kind), Any)
    return Any


def from_validation_error(
    error: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[Problem]:
    problems: dict[str, Problem] = {}
    for item in error.errors(include_url=False):
        loc, holder = _walk(tuple(item["loc"]))
        problem = _problem(item, prefix + loc, holder)
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


_PATTERN_MESSAGES = {
    d.STEP_ID_PATTERN: "is not a valid step id: start with a letter or '_', then letters, "
    "digits, '_', '-' or '.'",
    d.NAME_PATTERN: "is not a valid name: start with a letter or '_', then letters, digits or '_'",
    d.KEY_PATTERN: "is not a valid key: use letters, digits, '_', '.' and '-'",
}


def _problem(item: Any, loc: tuple[int | str, ...], holder: type[BaseModel] | None) -> Problem:
    kind: str = item["type"]
    path = json_path(loc)
    last = loc[-1] if loc else "$"
    given = item.get("input")
    if kind == "missing":
        return Problem(path, "missing_field", f"required field '{last}' is missing")
    if kind == "extra_forbidden":
        known = sorted(holder.model_fields) if holder is not None else []
        hint = difflib.get_close_matches(str(last), known, n=1, cutoff=0.75)
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
    if kind == "string_pattern_mismatch" and item["ctx"]["pattern"] in _PATTERN_MESSAGES:
        return Problem(
            path, "invalid_name", f"{given!r} {_PATTERN_MESSAGES[item['ctx']['pattern']]}"
        )
    message: str = item["msg"]
    return Problem(path, _code(kind), message[0].lower() + message[1:])


def _code(kind: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_type":
        return "invalid_type"
    return "invalid_value"
