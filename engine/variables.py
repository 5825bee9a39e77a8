"""Checking variables against their declared types and a user task's form.

Inputs from outside (starting an instance, completing a task, a message, an update) are
checked before anything changes; a wrong type is an :class:`~engine.errors.InvalidVariables`
that names each variable and why. Declared ``number`` values are stored as floats, because CEL
does not mix integers and doubles in arithmetic: ``${total_amount * 0.1}`` must work whether
the client sent ``1000`` or ``999.99``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from engine.definition import FormField, VariableSpec
from engine.errors import Problem
from engine.expressions import type_name

_Normaliser = Callable[[Any], tuple[bool, Any]]


def _string(v: Any) -> tuple[bool, Any]:
    return isinstance(v, str), v


def _number(v: Any) -> tuple[bool, Any]:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    return ok, float(v) if ok else v


def _integer(v: Any) -> tuple[bool, Any]:
    if isinstance(v, bool):
        return False, v
    if isinstance(v, int):
        return True, v
    if isinstance(v, float) and v.is_integer():
        return True, int(v)
    return False, v


def _boolean(v: Any) -> tuple[bool, Any]:
    return isinstance(v, bool), v


def _object(v: Any) -> tuple[bool, Any]:
    return isinstance(v, dict), v


def _array(v: Any) -> tuple[bool, Any]:
    return isinstance(v, list), v


def _date(v: Any) -> tuple[bool, Any]:
    try:
        return isinstance(v, str) and bool(date.fromisoformat(v)), v
    except ValueError:
        return False, v


def _datetime(v: Any) -> tuple[bool, Any]:
    """A date-time with its time zone: without one, '09:00' means different moments."""
    try:
        return isinstance(v, str) and "T" in v and datetime.fromisoformat(v).tzinfo is not None, v
    except ValueError:
        return False, v


def _any(v: Any) -> tuple[bool, Any]:
    return True, v


_CHECKS: dict[str, tuple[_Normaliser, str]] = {
    "string": (_string, "a string"),
    "number": (_number, "a number"),
    "integer": (_integer, "a whole number"),
    "boolean": (_boolean, "true or false"),
    "object": (_object, "an object"),
    "array": (_array, "a list"),
    "date": (_date, "an ISO-8601 date such as '2026-12-24'"),
    "datetime": (
        _datetime,
        "an ISO-8601 date-time with a time zone such as '2026-12-24T18:00:00+08:00'",
    ),
    "any": (_any, "any value"),
}


def check_value(kind: str, value: Any, path: str) -> Problem | None:
    """The problem with ``value`` as a ``kind``, if any (for deploy-time checks of defaults)."""
    return _check(kind, value, path)[1]


def _check(kind: str, value: Any, path: str) -> tuple[Any, Problem | None]:
    normalise, expected = _CHECKS[kind]
    ok, normalised = normalise(value)
    if ok:
        return normalised, None
    return value, Problem(
        path, "invalid_type", f"expected {expected}, got {type_name(value)} ({value!r:.40})"
    )


def check_variables(
    declared: Mapping[str, VariableSpec],
    values: Mapping[str, Any],
    *,
    path: str,
    starting: bool = False,
) -> tuple[dict[str, Any], list[Problem]]:
    """Normalised values and the problems found. Undeclared variables pass as they are;
    ``starting`` also applies defaults, checks the required ones, and sets the other declared
    ones to null, so that an expression can test ``${note == null}``."""
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    if not isinstance(values, Mapping):
        return {}, [Problem(path, "invalid_type", f"expected an object, got {type_name(values)}")]
    for name, value in values.items():
        spec = declared.get(name)
        if spec is None or value is None:
            out[name] = value
            continue
        out[name], problem = _check(spec.type, value, f"{path}.{name}")
        if problem:
            problems.append(problem)
    if starting:
        for name, spec in declared.items():
            if out.get(name) is not None:
                continue
            if spec.default is not None:
                out[name] = _check(spec.type, spec.default, name)[0]  # checked at deploy
            elif spec.required:
                problems.append(
                    Problem(
                        f"{path}.{name}",
                        "missing_variable",
                        f"required variable '{name}' is missing",
                    )
                )
            else:
                out[name] = None
    return out, problems


def check_form(
    fields: tuple[FormField, ...], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a task's completion variables against its form, field by field."""
    by_id = {f.id: f for f in fields}
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        field = by_id.get(name)
        path = f"variables.{name}"
        if field is None:
            problems.append(
                Problem(
                    path,
                    "unknown_field",
                    f"'{name}' is not a field of this task's form (fields: {', '.join(by_id)})",
                )
            )
        elif value is None:
            out[name] = None
        elif field.type == "enum":
            if value in field.values:
                out[name] = value
            else:
                problems.append(
                    Problem(
                        path, "invalid_value", f"expected one of {field.values}, got {value!r:.40}"
                    )
                )
        else:
            out[name], problem = _check(field.type, value, path)
            if problem:
                problems.append(problem)
    for field in fields:
        if field.required and values.get(field.id) is None:
            problems.append(
                Problem(
                    f"variables.{field.id}",
                    "missing_variable",
                    f"required field '{field.id}' ({field.label or field.id}) is missing",
                )
            )
    return out, problems
