"""Who may call what: one rule per root field of Query, Mutation and Subscription, in one table.

``guard_root_fields`` wraps every root resolver (and subscription source) of the built schema
with its rule, and refuses to build a schema with a root field the table does not name: a new
operation without a rule fails at import, closed, not open. The check runs once per root field,
not per nested field, so a page of tasks costs nothing more.

Row-level rules are the resolvers' business, through the helpers here: without
``tasks.see_all`` a principal sees and acts on the tasks assigned to them or offered to them or
one of their groups; without ``instances.see_all``, the instances they started or hold such a
task of. Nested paths (an instance's tasks, a task's instance, a parent) apply the same helpers.

A refusal is a GraphQL error with ``extensions.code``: ``unauthenticated`` (no token) or
``forbidden`` (a token without the permission), never masked, never a 500.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    default_field_resolver,
)

from server.auth.roles import Permission, Principal
from server.auth.visibility import (
    instance_viewer,
    may_see_sensitive,
    may_see_task,
    task_viewer,
)

if TYPE_CHECKING:
    from schema.context import Context


@dataclass(frozen=True)
class Rule:
    """``needs``: the permission a principal must hold (None: any authenticated principal);
    ``public``: anonymous callers too; ``rows``: the row-level rule its resolver applies (for
    the reader, and the docs)."""

    needs: Permission | None = None
    public: bool = False
    rows: str = ""


P = Permission
PUBLIC = Rule(public=True)
TASK_ROWS = "assigned or offered to the principal or a group of theirs, unless tasks.see_all"
INSTANCE_ROWS = "started by the principal or holding a visible task, unless instances.see_all"

RULES: Mapping[str, Mapping[str, Rule]] = {
    "Query": {
        "me": PUBLIC,  # null when anonymous
        "definitions": Rule(P.DEFINITIONS_READ),
        "definition": Rule(P.DEFINITIONS_READ),
        "instances": Rule(rows=INSTANCE_ROWS),
        "instance": Rule(rows=INSTANCE_ROWS),
        "incidents": Rule(rows=f"of instances {INSTANCE_ROWS}"),
        "tasks": Rule(P.TASKS_WORK, rows=TASK_ROWS),
        "task": Rule(P.TASKS_WORK, rows=TASK_ROWS),
        "externalTask": Rule(P.EXTERNAL_TASKS_WORK),
    },
    "Mutation": {
        "login": PUBLIC,
        "refreshToken": PUBLIC,
        "logout": Rule(),
        "deployDefinition": Rule(P.DEFINITIONS_DEPLOY),
        "startInstance": Rule(P.INSTANCES_START),
        "cancelInstance": Rule(P.INSTANCES_OPERATE),
        "suspendInstance": Rule(P.INSTANCES_OPERATE),
        "resumeInstance": Rule(P.INSTANCES_OPERATE),
        "setVariables": Rule(P.INSTANCES_OPERATE),
        "sendMessage": Rule(P.INSTANCES_OPERATE),
        "retryIncident": Rule(P.INSTANCES_OPERATE),
        "claimTask": Rule(P.TASKS_WORK, rows=TASK_ROWS),
        "unclaimTask": Rule(P.TASKS_WORK, rows=TASK_ROWS),
        "completeTask": Rule(P.TASKS_WORK, rows=TASK_ROWS),
        "assignTask": Rule(P.TASKS_SEE_ALL),
        "fetchAndLockExternalTasks": Rule(P.EXTERNAL_TASKS_WORK),
        "extendExternalTaskLock": Rule(P.EXTERNAL_TASKS_WORK),
        "completeExternalTask": Rule(P.EXTERNAL_TASKS_WORK),
        "failExternalTask": Rule(P.EXTERNAL_TASKS_WORK),
        "reportExternalTaskError": Rule(P.EXTERNAL_TASKS_WORK),
    },
    "Subscription": {
        # one instance's events: the feed checks the instance is visible to the principal
        # (an invisible one is not_found, as for Query.instance); every instance's changes
        # carry what only those who see every instance may see
        "instanceEvents": Rule(rows=INSTANCE_ROWS),
        "instanceChanges": Rule(P.INSTANCES_SEE_ALL),
        "taskChanges": Rule(P.TASKS_WORK, rows="filtered per principal by the feed"),
        "dashboardCounters": Rule(P.INSTANCES_SEE_ALL),
    },
}


# --- the checks -------------------------------------------------------------------------------


def refusal(principal: Principal | None, rule: Rule) -> GraphQLError | None:
    """Why ``principal`` may not call a field with ``rule``, or None when it may."""
    if rule.public:
        return None
    if principal is None:
        return GraphQLError(
            "authentication required: send Authorization: Bearer <access token>",
            extensions={"code": "unauthenticated"},
        )
    if rule.needs is not None and rule.needs not in principal.permissions:
        return forbidden(f"not allowed: needs the permission {rule.needs.value}")
    return None


def forbidden(message: str = "not allowed") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "forbidden"})


__all__ = [
    "RULES",
    "forbidden",
    "guard_root_fields",
    "instance_viewer",
    "may_see_instance",
    "may_see_sensitive",
    "may_see_task",
    "task_viewer",
]


async def may_see_instance(ctx: Context, instance_id: int, started_by: str | None) -> bool:
    """Started by the principal, or holding a task they may see (the instance's tasks are
    loaded through the operation's loader: batched, and reused by ``tasks``)."""
    viewer = instance_viewer(ctx.principal)
    if viewer is None:
        return True
    if not viewer.user:
        return False
    if started_by == viewer.user:
        return True
    tasks = await ctx.loaders.tasks.load(instance_id)
    return any(may_see_task(ctx.principal, row) for row in tasks)


# --- enforcement ------------------------------------------------------------------------------


class MissingRule(RuntimeError):
    """A root field has no rule: the schema must not be served."""


Resolver = Callable[..., Any]


def _guarded(resolve: Resolver, rule: Rule) -> Resolver:
    async def guarded(root: Any, info: Any, **arguments: Any) -> Any:
        denied = refusal(getattr(info.context, "principal", None), rule)
        if denied is not None:
            raise denied
        result = resolve(root, info, **arguments)
        return await result if inspect.isawaitable(result) else result

    return guarded


def _root_types(schema: strawberry.Schema) -> Iterable[GraphQLObjectType]:
    graphql_schema = schema._schema  # the graphql-core schema strawberry built
    for root in (
        graphql_schema.query_type,
        graphql_schema.mutation_type,
        graphql_schema.subscription_type,
    ):
        if root is not None:
            yield root


def guard_root_fields(schema: strawberry.Schema) -> None:
    """Wrap every root field with its rule; raise ``MissingRule`` for a field without one
    (and for a rule of a field that no longer exists: the table stays the truth)."""
    for root in _root_types(schema):
        rules = RULES.get(root.name, {})
        missing = sorted(set(root.fields) - set(rules))
        stale = sorted(set(rules) - set(root.fields))
        if missing or stale:
            raise MissingRule(
                f"{root.name}: fields without a permission rule {missing}, "
                f"rules without a field {stale} (schema/permissions.py)"
            )
        for name, graphql_field in root.fields.items():
            _guard(graphql_field, rules[name], subscription=root.name == "Subscription")


def _guard(graphql_field: GraphQLField, rule: Rule, *, subscription: bool) -> None:
    if subscription:
        assert graphql_field.subscribe is not None
        graphql_field.subscribe = _guarded(graphql_field.subscribe, rule)
    else:
        resolve = graphql_field.resolve or default_field_resolver
        graphql_field.resolve = _guarded(resolve, rule)
