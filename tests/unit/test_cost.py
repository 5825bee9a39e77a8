"""The query cost limit: wide nested queries are refused before they run; every operation of
the frontend contract is well under the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate
from support.contract import with_fragments

from schema import MAX_TOKENS, schema
from schema.cost import LIST_SIZE, MAX_COST, MAX_PAGE, cost_rule

OPERATIONS = Path(__file__).resolve().parents[2] / "frontend-contract" / "operations"
GRAPHQL = schema._schema  # graphql-core's schema under strawberry's


def errors(query: str, max_cost: int = MAX_COST) -> list[str]:
    return [e.message for e in validate(GRAPHQL, parse(query), [cost_rule(max_cost)])]


def cost_of(query: str) -> int:
    """The estimate, read from the error of a limit of zero."""
    [error] = validate(GRAPHQL, parse(query), [cost_rule(0)])
    assert error.extensions is not None
    cost: int = error.extensions["cost"]
    return cost


@pytest.mark.parametrize("path", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.stem)
def test_every_contract_operation_is_within_the_limit(path: Path) -> None:
    assert errors(with_fragments(path.read_text(encoding="utf-8"))) == []


def test_a_page_multiplies_what_is_under_it_and_its_edges_count_once() -> None:
    assert cost_of("{ instances(first: 10) { edges { node { id } } } }") == 1 + 10 * (1 + 1 * 2)


def test_a_list_without_a_page_counts_as_its_typical_size() -> None:
    query = "{ instance(id: 1) { tasks { id name } } }"
    assert cost_of(query) == 1 + (1 + LIST_SIZE * 2)


def test_a_page_size_in_a_variable_counts_as_the_largest_page() -> None:
    query = "query Q($n: Int!) { tasks(first: $n) { edges { node { id } } } }"
    assert cost_of(query) == 1 + MAX_PAGE * (1 + 1 * 2)


def test_fragments_count_like_the_fields_they_stand_for() -> None:
    inline = "{ instances(first: 5) { edges { node { id status } } } }"
    spread = (
        "{ instances(first: 5) { edges { node { ...F } } } } "
        "fragment F on ProcessInstance { id status }"
    )
    assert cost_of(spread) == cost_of(inline)


def test_a_wide_nested_query_is_refused_with_its_estimate() -> None:
    query = (
        "{ instances(first: 200) { edges { node { tasks { instance { history { seq } } } } } } }"
    )
    [message] = errors(query)
    assert "over the limit" in message and str(MAX_COST) in message


@pytest.mark.anyio
async def test_a_document_over_the_token_limit_is_refused_before_it_is_parsed_whole() -> None:
    fields = " ".join(f"f{i}: __typename" for i in range(MAX_TOKENS))
    result = await schema.execute(f"{{ {fields} }}")
    assert result.errors is not None
    [error] = result.errors
    assert "token" in error.message.lower()
