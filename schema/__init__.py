"""The GraphQL schema: one module per domain, merged here.

``schema`` is what the app serves; ``schema.context.make_context`` builds the context of
each operation.
"""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from schema import definitions, instances, tasks
from schema.errors import mask_errors

MAX_DEPTH = 10  # instances > edges > node > tasks > instance > definition > versions is 7
MAX_ALIASES = 30
CACHE_SIZE = 256


def build_schema() -> strawberry.Schema:
    query = merge_types("Query", (definitions.Query, instances.Query, tasks.Query))
    mutation = merge_types("Mutation", (definitions.Mutation, instances.Mutation, tasks.Mutation))
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        # factories: a fresh extension per operation (the caches themselves are shared,
        # module-level LRU caches keyed by size)
        extensions=[
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            mask_errors,
        ],
    )


schema = build_schema()

__all__ = ["build_schema", "schema"]
