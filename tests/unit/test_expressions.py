"""CEL behind the seed's ``${...}``: the seed's conditions, compile errors with their column,
the refused comprehension macros, runtime errors, and literal-vs-expression values."""

from __future__ import annotations

from typing import Any

import pytest

from engine.expressions import (
    MAX_EXPRESSION_LENGTH,
    Expression,
    ExpressionError,
    Literal,
    compile_expression,
    compile_value,
    is_expression,
    type_name,
)

NOT_ALLOWED = (
    "is not allowed: comprehensions can take unbounded time; use a multi-instance step or a "
    "service task instead"
)


# --- evaluating -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        # the seed's exclusive_gateway conditions
        ("${amount > 1000}", {"amount": 999.99}, False),
        ("${amount > 1000}", {"amount": 1000.5}, True),
        ("${amount > 1000}", {"amount": 1000.0}, False),
        ("${amount > 1000}", {"amount": 1000}, False),
        ("${amount <= 1000}", {"amount": 999.99}, True),
        ("${amount <= 1000}", {"amount": 1000.5}, False),
        # the example's, on the declared total_amount
        ("${total_amount > 1000}", {"total_amount": 999.99}, False),
        ("${approved}", {"approved": True}, True),
        ("${!approved}", {"approved": True}, False),
        # && and ||, single- and double-quoted strings
        ("${amount > 1000 && status == 'open'}", {"amount": 1500.0, "status": "open"}, True),
        ("${amount > 1000 && status == 'open'}", {"amount": 1500.0, "status": "closed"}, False),
        ("${amount > 1000 || vip}", {"amount": 10.0, "vip": True}, True),
        ('${status == "open"}', {"status": "open"}, True),
        ("${customer.tier in ['gold', 'platinum']}", {"customer": {"tier": "gold"}}, True),
        ("${customer.tier in ['gold', 'platinum']}", {"customer": {"tier": "iron"}}, False),
        ("${size(items) > 2}", {"items": [1, 2, 3]}, True),
        ("${has(order.coupon)}", {"order": {"coupon": "X"}}, True),
        ("${has(order.coupon)}", {"order": {}}, False),
        ("${approved && risk_score < 0.5}", {"approved": True, "risk_score": 0.2}, True),
        # conditions may omit the ${}
        ("amount > 1000", {"amount": 1000.5}, True),
        ("  ${amount > 1000}  ", {"amount": 1000.5}, True),
        # a macro's name inside a string literal is just text
        ("${note == 'a.map(b)'}", {"note": "a.map(b)"}, True),
    ],
)
def test_condition(text: str, variables: dict[str, Any], expected: bool) -> None:
    assert compile_expression(text).evaluate_condition(variables) is expected


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${total_amount * 0.1}", {"total_amount": 1000.0}, 100.0),
        ("${'ORDER-' + order_id}", {"order_id": "001"}, "ORDER-001"),
        ("${items[0].sku}", {"items": [{"sku": "A-1"}]}, "A-1"),
        ("${[1, 2, 3]}", {}, [1, 2, 3]),
        ("${{'a': 1}}", {}, {"a": 1}),
        ("${text.startsWith('ab')}", {"text": "abc"}, True),
        ('${"x.filter(y) " + s}', {"s": "ok"}, "x.filter(y) ok"),
    ],
)
def test_value(text: str, variables: dict[str, Any], expected: Any) -> None:
    assert compile_expression(text).evaluate(variables) == expected


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("${amount > 1000 && status == 'open'}", {"amount", "status"}),
        ("${customer.tier == 'gold'}", {"customer"}),
        ("${size(items) > 2}", {"items"}),
        ("${1 + 2 == 3}", set()),
        ("${'amount' == label}", {"label"}),
    ],
)
def test_variables_read(text: str, variables: set[str]) -> None:
    assert compile_expression(text).variables == variables


def test_compiled_expression_keeps_its_text() -> None:
    expression = compile_expression("${amount > 1000}")
    assert isinstance(expression, Expression)
    assert expression.text == "${amount > 1000}"


# --- compile errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("${amount > > 1000}", "syntax error: extraneous input '>'", 12),
        ("${1 +* 2}", "syntax error: extraneous input '*'", 6),
        ("${amount >}", "syntax error: the expression ends too early", 11),
        ("${(a}", "syntax error: the expression ends too early", 5),
        ("  ${amount > > 1}", "syntax error: extraneous input '>'", 14),  # column as written
        ("amount > > 1", "syntax error: extraneous input '>'", 10),  # bare CEL
        ("${status == 'open}", "syntax error: token recognition error at: ''open'", 13),
        ("${}", "the expression is empty", None),
        ("${   }", "the expression is empty", None),
        ("", "the expression is empty", None),
        (
            "${" + "a" * (MAX_EXPRESSION_LENGTH + 1) + "}",
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters",
            None,
        ),
    ],
)
def test_compile_error(text: str, message: str, column: int | None) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    error = raised.value
    assert (error.text, error.message, error.column) == (text, message, column)


def test_compile_error_says_where_in_its_text() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression("${amount > > 1000}")
    assert str(raised.value) == (
        "expression '${amount > > 1000}' at column 12: syntax error: extraneous input '>'"
    )


def test_an_expression_of_the_maximum_length_compiles() -> None:
    source = "a" * MAX_EXPRESSION_LENGTH
    assert compile_expression("${" + source + "}").variables == {source}


@pytest.mark.parametrize(
    ("text", "macro", "column"),
    [
        ("${items.map(i, i * 2)}", "map", 8),
        ("${items.all(i, i > 0)}", "all", 8),
        ("${items.exists(i, i > 0)}", "exists", 8),
        ("${items.exists_one(i, i > 0)}", "exists_one", 8),
        ("${items.filter(i, i > 0)}", "filter", 8),
        ("${items . map (i, i * 2)}", "map", 9),  # whitespace around the name
        ("${items.\n  filter\t(i, i > 0)}", "filter", 8),  # newlines and tabs too
        ("${[1, 2].map(i, i).size() > 1}", "map", 9),
        ("${note == 'x' && items.all(i, i > 0)}", "all", 23),
        ("${'.map(' + items.map(i, i)[0]}", "map", 18),  # after a string that names one
        ("items.exists(i, i > 0)", "exists", 6),  # bare CEL
        ("  ${items.map(i, i)}", "map", 10),
    ],
)
def test_comprehension_macros_are_refused(text: str, macro: str, column: int) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    assert raised.value.message == f"'{macro}()' {NOT_ALLOWED}"
    assert raised.value.column == column


@pytest.mark.parametrize(
    "text",
    [
        "${note == 'items.map(i, i)'}",
        '${note == "items.all(i, i > 0)"}',
        "${note == '''x.exists(y, y)'''}",
        "${note == r'x.filter(y, y)'}",
        "${note == 'it\\'s .map('}",  # an escaped quote does not end the string
        "${mapping.size() > 0 && all_done && filtered}",  # names that merely start like one
    ],
)
def test_macro_names_inside_string_literals_are_allowed(text: str) -> None:
    compile_expression(text)


@pytest.mark.parametrize(
    "text", ["${items.// each\nmap(i, i * 2)}", "${items.map// each\n(i, i * 2)}"]
)
def test_a_comment_does_not_hide_a_macro(text: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    assert raised.value.message == f"'map()' {NOT_ALLOWED}"
    assert raised.value.column == 8


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${amount // the order's total\n > 1000}", {"amount": 1500.0}, True),
        ("${url == 'http://x/map(y)'}", {"url": "http://x/map(y)"}, True),  # not a comment
    ],
)
def test_comments_are_allowed(text: str, variables: dict[str, Any], expected: bool) -> None:
    assert compile_expression(text).evaluate_condition(variables) is expected


# --- runtime errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variables", "message"),
    [
        ("${amount > 1000}", {}, "'amount' is not set"),
        ("${order.total > 1}", {"order": {}}, "no key 'total' in the map"),
        ("${order['total'] > 1}", {"order": {}}, "no key 'total' in the map"),
        ("${a / b}", {"a": 1, "b": 0}, "division by zero in CEL expression"),
        (
            "${amount > 1000}",
            {"amount": "a lot"},
            "No such overload: the operation is not defined for the given operand types",
        ),
        # integers and doubles do not mix in arithmetic: why declared numbers are floats
        (
            "${total_amount * 0.1}",
            {"total_amount": 1000},
            "No such overload: the operation is not defined for the given operand types",
        ),
        ("${total_amount + 1}", {"total_amount": 1000.0}, "Unsupported operation: float + int"),
    ],
)
def test_runtime_error_is_an_expression_error(
    text: str, variables: dict[str, Any], message: str
) -> None:
    expression = compile_expression(text)
    with pytest.raises(ExpressionError) as raised:
        expression.evaluate(variables)
    error = raised.value
    assert (error.text, error.message, error.column) == (text, message, None)
    assert str(error) == f"expression {text!r}: {message}"


@pytest.mark.parametrize(
    ("text", "variables", "gave"),
    [
        ("${amount}", {"amount": 5.0}, "a number"),
        ("${status}", {"status": "open"}, "a string"),
        ("${items}", {"items": [1]}, "a list"),
        ("${order}", {"order": {"a": 1}}, "an object"),
    ],
)
def test_a_condition_must_give_true_or_false(
    text: str, variables: dict[str, Any], gave: str
) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text).evaluate_condition(variables)
    assert raised.value.message == f"a condition must be true or false, but it gave {gave}"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "a boolean"),
        (3, "a number"),
        (2.5, "a number"),
        ("x", "a string"),
        ([1], "a list"),
        ((1,), "a list"),
        ({"a": 1}, "an object"),
        (object(), "object"),
    ],
)
def test_type_name(value: object, name: str) -> None:
    assert type_name(value) == name


# --- literal or expression ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${initiator}", True),
        ("  ${initiator}  ", True),
        ("${a}${b}", True),  # entirely ${ ... }: one expression 'a}${b'
        ("alice", False),
        ("Dear ${name}", False),  # ${...} inside a text is a literal
        ("${name} and more", False),
        ("${unclosed", False),
        ("$name", False),
        ("{name}", False),
        (None, False),
        (5, False),
        (["${a}"], False),
        ({"x": "${a}"}, False),
    ],
)
def test_is_expression(value: object, expected: bool) -> None:
    assert is_expression(value) is expected


@pytest.mark.parametrize(
    "value",
    ["alice", "Dear ${name}", "", 70, 2.5, True, None, ["managers"], {"a": "${b}"}],
)
def test_compile_value_keeps_a_literal_as_is(value: object) -> None:
    compiled = compile_value(value)
    assert compiled == Literal(value)
    assert compiled.variables == frozenset()
    assert compiled.evaluate({"name": "x", "b": 1}) == value


def test_compile_value_compiles_an_expression() -> None:
    compiled = compile_value("${initiator}")
    assert isinstance(compiled, Expression)
    assert compiled.variables == {"initiator"}
    assert compiled.evaluate({"initiator": "alice"}) == "alice"


def test_compile_value_reports_a_bad_expression() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_value("${amount >}")
    assert raised.value.column == 11
