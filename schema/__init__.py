"""The GraphQL schema: one module per domain, merged here.

``schema`` is the full schema (the SDL export, tests); the app builds its own with
``build_schema(introspection=..., max_batch=...)`` from its settings. ``schema.context.
make_context`` builds the context of each operation.
"""

from __future__ import annotations

from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import BatchingConfig, StrawberryConfig
from strawberry.tools import merge_types

from schema import (
    auth,
    definitions,
    external_tasks,
    incidents,
    instances,
    subscriptions,
    tasks,
)
from schema.context import OperationLoaders
from schema.cost import cost_rule
from schema.errors import Schema, mask_errors
from schema.fanout import SharedEventExecutor
from schema.permissions import guard_root_fields

MAX_DEPTH = 10  # instances > edges > node > tasks > instance > definition > versions is 7
MAX_ALIASES = 30
MAX_TOKENS = 5_000  # the size limit of a document (the largest contract operation has ~150)
CACHE_SIZE = 256
# The limits' validation rules, built once: the validation cache is keyed by the rule classes,
# and QueryDepthLimiter / MaxAliasesLimiter build new classes each time they are constructed,
# so as per-operation factories they made every request miss the cache and validate again
# (about 4.6 ms of a 50-task page, measured with make bench-service).
LIMITS: list[type[ASTValidationRule]] = [
    alias_rule(MAX_ALIASES),
    depth_rule(MAX_DEPTH, None, None),
    cost_rule(),
]
# Without introspection (production's default): `__schema` and `__type` are refused at
# validation; `__typename` stays (clients need it for unions). A constant list too, for the cache.
LIMITS_WITHOUT_INTROSPECTION: list[type[ASTValidationRule]] = [
    *LIMITS,
    NoSchemaIntrospectionCustomRule,
]


def build_schema(*, introspection: bool = True, max_batch: int = 0) -> Schema:
    """The schema; ``introspection=False`` refuses introspection queries; ``max_batch`` > 0
    accepts HTTP requests that are a JSON array of up to that many operations (0: refused)."""
    query = merge_types(
        "Query",
        (
            auth.Query,
            definitions.Query,
            instances.Query,
            incidents.Query,
            tasks.Query,
            external_tasks.Query,
        ),
    )
    mutation = merge_types(
        "Mutation",
        (
            auth.Mutation,
            definitions.Mutation,
            instances.Mutation,
            tasks.Mutation,
            external_tasks.Mutation,
        ),
    )
    rules = LIMITS if introspection else LIMITS_WITHOUT_INTROSPECTION
    batching = BatchingConfig(max_operations=max_batch) if max_batch > 0 else None
    built = Schema(
        query=query,
        mutation=mutation,
        subscription=subscriptions.Subscription,
        execution_context_class=SharedEventExecutor,  # one execution per event (schema.fanout)
        # factories: a fresh extension per operation (the caches themselves are shared,
        # module-level LRU caches keyed by size)
        extensions=[
            # sets the parser's token limit before the (cached) parse: the cache keys on it
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            lambda: AddValidationRules(rules),
            mask_errors,
            OperationLoaders,  # loaders per operation, also on a long-lived websocket
        ],
        config=StrawberryConfig(batching_config=batching),
    )
    guard_root_fields(built)  # every root field's permission rule; none missing (fail closed)
    return built


schema = build_schema()

__all__ = ["build_schema", "schema"]
