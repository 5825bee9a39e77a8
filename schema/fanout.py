"""Work shared between the subscribers of one event: executed once, encoded once.

strawberry runs a subscription's selection set once per subscriber per event, and encodes the
result once per subscriber: with 1,000 subscribers of one instance, one event cost 1,000
executions and 1,000 ``json.dumps`` of identical results (measured: most of the server's time
apart from the socket writes). Hasura multiplexes its live queries for the same reason.

Here the feeds hand every subscriber the same root object for one event (``shared``), and
``SharedEventExecutor`` keeps the result of a selection set per (root object, operation,
variables): the next subscriber that asked the same gets the same ``ExecutionResult``, whose
``data`` the view encodes once (``EncodedResults``). Only types registered with
``@shareable`` take part: their fields must resolve from the object alone, never from the
context (the user), so that every subscriber may see what one execution produced. Results
with errors are never shared (error masking works per operation). Who may receive an event
is decided per subscriber before it is handed the shared object (the permission table on the
subscription's source, then the feed's row-level rule), never inside a shared execution: a
type whose fields would check the user, or hide parts of itself from some users (``TaskChange``
and its per-subscriber ``visible``), must not be ``@shareable``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from graphql import ExecutionResult, OperationDefinitionNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T", bound=type)

_SHAREABLE: set[type] = set()


def shareable(cls: T) -> T:
    """Mark a subscription's event type whose fields depend on the object alone."""
    _SHAREABLE.add(cls)
    return cls


class IdentityCache(Generic[K, V]):
    """The last ``size`` values made from objects, by the objects' identity.

    Keyed by ``id``, holding the object itself so that its id cannot be reused while the
    entry lives; the oldest entry goes first. Bounded: a burst of events cannot grow it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def get(self, key: K, make: Callable[[K], V]) -> V:
        entry = self._entries.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        value = make(key)
        self._entries[id(key)] = (key, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


_Results = dict[tuple[int, str], tuple[OperationDefinitionNode, ExecutionResult]]
# the results of the last events, per root object (by identity: the types are not hashable)
_results: IdentityCache[object, _Results] = IdentityCache(4096)


def _variables_key(variables: dict[str, Any]) -> str:
    return json.dumps(variables, sort_keys=True, default=repr) if variables else ""


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, executing a shareable event once per operation and variables."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        root = self.root_value
        if type(root) not in _SHAREABLE:
            return super().execute_operation(serially)
        key = (id(self.operation), _variables_key(self.variable_values.coerced))
        known = _results.get(root, lambda _: {})
        hit = known.get(key)
        if hit is not None and hit[0] is self.operation:  # the same parsed document
            return hit[1]
        result = super().execute_operation(serially)
        if isinstance(result, ExecutionResult) and not result.errors:
            known[key] = (self.operation, result)  # the node is kept: its id stays its own
        return result


class EncodedResults:
    """``next`` messages of the graphql-transport-ws and graphql-ws protocols, their shared
    ``data`` encoded once: only the operation id differs between subscribers."""

    def __init__(self, size: int = 256) -> None:
        self._encoded: IdentityCache[object, str] = IdentityCache(size)

    def encode(self, message: object) -> str | None:
        """The message as JSON, or None when it is not a plain ``next``/``data`` message."""
        if not isinstance(message, dict) or message.keys() != {"id", "type", "payload"}:
            return None
        if message["type"] not in ("next", "data"):
            return None
        payload = message.get("payload")
        if not isinstance(payload, dict) or payload.keys() != {"data"}:
            return None  # errors or extensions: encoded per subscriber, as before
        body = self._encoded.get(payload["data"], _encode)
        return (
            f'{{"id":{json.dumps(message["id"])},"type":"{message["type"]}",'
            f'"payload":{{"data":{body}}}}}'
        )


def _encode(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))
