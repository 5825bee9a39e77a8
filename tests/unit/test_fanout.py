"""Work shared between subscribers (schema.fanout): one execution and one encoding per event,
never shared across operations, variables or results with errors."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import pytest
import strawberry
from strawberry.extensions import ParserCache

from schema.fanout import EncodedResults, IdentityCache, SharedEventExecutor, shareable

calls: list[str] = []


@shareable
@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def doubled(self, times: int = 2) -> int:
        calls.append("doubled")
        return self.n * times


SHARED = Tick(n=21)


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Tick, None]:
        yield SHARED  # the same object for every subscriber, as the feeds do


schema = strawberry.Schema(
    query=Query,
    subscription=Subscription,
    execution_context_class=SharedEventExecutor,
    extensions=[lambda: ParserCache(maxsize=8)],  # as the app: one parsed document per query text
)


async def _first(query: str, variables: dict[str, object] | None = None) -> object:
    stream = await schema.subscribe(query, variable_values=variables)
    async for result in stream:
        await stream.aclose()
        return result
    raise AssertionError("no event")


@pytest.mark.anyio
async def test_an_event_is_executed_once_per_operation_and_variables() -> None:
    calls.clear()
    query = "subscription($t: Int!) { ticks { n doubled(times: $t) } }"
    first = await _first(query, {"t": 2})
    again = await _first(query, {"t": 2})
    other = await _first(query, {"t": 3})
    assert first.data == again.data == {"ticks": {"n": 21, "doubled": 42}}  # type: ignore[attr-defined]
    assert other.data == {"ticks": {"n": 21, "doubled": 63}}  # type: ignore[attr-defined]
    assert calls == ["doubled", "doubled"]  # the second subscriber with t=2 shared the first's


def test_a_next_message_is_encoded_as_json_would_with_its_own_id() -> None:
    encoded = EncodedResults()
    data = {"x": [1, "é"], "y": None}
    for id_ in ("1", 'a"b'):
        message = {"id": id_, "type": "next", "payload": {"data": data}}
        assert json.loads(encoded.encode(message) or "") == message
    with_errors = {"id": "1", "type": "next", "payload": {"data": data, "errors": []}}
    assert encoded.encode(with_errors) is None  # per subscriber, as strawberry does


def test_the_identity_cache_is_bounded_and_never_confuses_objects() -> None:
    cache: IdentityCache[object, int] = IdentityCache(2)
    keys = [object() for _ in range(3)]
    assert [cache.get(k, lambda k: keys.index(k)) for k in keys] == [0, 1, 2]
    assert len(cache._entries) == 2
    assert cache.get(keys[0], lambda k: 99) == 99  # evicted, made again
