"""Safe expressions: CEL (Common Expression Language) behind the seed's ``${...}`` syntax.

CEL is the language of Kubernetes admission rules and Google's workflow products; its syntax
accepts the seed's JUEL-style conditions unchanged (``${amount > 1000}``, ``&&``, ``'text'``).
It has no attribute access to Python objects, no imports and no loops of its own, so its work
is bounded by the expression's length, except for the comprehension macros (``map``, ``all``,
``exists``, ``exists_one``, ``filter``), which nest to exponential work and are refused here.

Every expression is compiled once, when a definition is validated, never per evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

MAX_EXPRESSION_LENGTH = 1000
_FORBIDDEN_MACROS = ("map", "all", "exists", "exists_one", "filter")
_MACRO_CALL = re.compile(r"\.\s*(" + "|".join(_FORBIDDEN_MACROS) + r")\s*\(")
# string literals and // comments: blanked out before looking for macro calls, so that a
# literal '.map(' is allowed and a comment cannot hide a real one ("items.// x\nmap(...)")
_NOT_CODE = re.compile(
    r"""[rRbB]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")"""
    r"|//[^\n]*",
    re.DOTALL,
)
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")
_WRAPPED = re.compile(r"\$\{(.*)\}", re.DOTALL)


def is_expression(value: object) -> bool:
    """True for a string that is entirely ``${ ... }``: anywhere else it is a literal."""
    return isinstance(value, str) and _WRAPPED.fullmatch(value.strip()) is not None


def _unwrap(text: str) -> tuple[str, int]:
    """The CEL source inside ``${...}`` and its offset in the written text."""
    stripped = text.strip()
    match = _WRAPPED.fullmatch(stripped)
    if match is None:
        return text, 0
    return match.group(1), text.index("${") + 2


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression. ``variables`` are the names it reads, for deploy-time checks."""

    text: str
    variables: frozenset[str]
    _program: Any = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate against ``variables``; raise :class:`ExpressionError` on any failure."""
        try:
            return self._program.execute(variables)
        except Exception as exc:  # CEL raises builtin types for everything; all mean "bad input"
            raise ExpressionError(self.text, _runtime_message(exc)) from exc

    def evaluate_condition(self, variables: Mapping[str, Any]) -> bool:
        result = self.evaluate(variables)
        if not isinstance(result, bool):
            raise ExpressionError(
                self.text,
                f"a condition must be true or false, but it gave {type_name(result)}",
            )
        return result


class ExpressionError(Exception):
    """An expression that does not compile or evaluate. ``column`` is 1-based in the text as
    written (``${`` included), when known."""

    def __init__(self, text: str, message: str, column: int | None = None) -> None:
        self.text = text
        self.message = message
        self.column = column
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"expression {text!r}{where}: {message}")


def compile_expression(text: str) -> Expression:
    """Compile ``${cel}`` or bare CEL; raise :class:`ExpressionError` with the position."""
    source, offset = _unwrap(text)
    if text.strip().startswith("${") and offset == 0:
        raise ExpressionError(
            text, "'${' is not closed: an expression is written ${...}", column=text.index("${") + 1
        )
    if not source.strip():
        raise ExpressionError(text, "the expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            text, f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters"
        )
    macro = _MACRO_CALL.search(_NOT_CODE.sub(lambda m: " " * len(m.group()), source))
    if macro is not None:
        raise ExpressionError(
            text,
            f"'{macro.group(1)}()' is not allowed: comprehensions can take unbounded time; "
            "use a multi-instance step or a service task instead",
            column=offset + macro.start() + 1,
        )
    try:
        program = cel.compile(source)
    except Exception as exc:  # a ValueError for syntax errors, but be safe: any is a bad input
        message, column = _syntax_message(str(exc))
        raise ExpressionError(text, message, None if column is None else offset + column) from exc
    return Expression(text=text, variables=frozenset(program.variables()), _program=program)


def _syntax_message(raw: str) -> tuple[str, int | None]:
    match = _CEL_POSITION.search(raw)
    if match is None:
        return raw.splitlines()[0] if raw else "syntax error", None
    column = int(match.group(2))
    detail = match.group(3).strip()
    if "Recursion limit" in raw:
        return "syntax error: the expression is nested too deeply", column
    if "<EOF>" in detail:
        detail = "Syntax error: the expression ends too early"
    elif "expecting" in detail:
        detail = detail.split(" expecting", 1)[0]
    return detail[0].lower() + detail[1:], column


def _runtime_message(exc: Exception) -> str:
    text = str(exc)
    undefined = re.search(r"Undefined variable or function: '([^']+)'", text)
    if undefined:
        return f"'{undefined.group(1)}' is not set"
    if isinstance(exc, KeyError):
        return f"no key {text} in the map"
    return text.split(". ", 1)[0].rstrip(".")


def type_name(value: object) -> str:
    """JSON-ish names for messages: a designer thinks in 'number', not 'float'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Literal:
    """A value written as is: evaluates to itself."""

    value: Any
    variables: frozenset[str] = frozenset()

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self.value


Value = Expression | Literal


def compile_value(value: object) -> Value:
    """A config value: ``${...}`` is an expression, anything else a literal."""
    if is_expression(value):
        assert isinstance(value, str)
        return compile_expression(value)
    return Literal(value)
