"""A query cost limit: depth and alias limits do not stop a wide, nested query.

``{ instances(first: 200) { edges { node { tasks { instance { history { ... } } } } } } }`` is
only seven levels deep and has no alias, yet asks for 200 x 20 x 20 objects. The estimate here is
the number of objects a query may return: every field costs one, times how many of it may come
back. A field with a ``first`` argument multiplies what is under it by that page size (a variable
counts as the largest page); the list field of a page (``edges``) is already counted by it; any
other list multiplies by ``LIST_SIZE``. The estimate depends on the document alone, so it is
checked once per document, at validation, and cached with it.

A query over ``MAX_COST`` is refused before it runs, with the estimate and the limit in the
error (``extensions.code = "query_too_costly"``).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    get_named_type,
)
from graphql.validation import ASTValidationRule

MAX_COST = 50_000  # a page of 200 instances with their incidents is about 25,000
LIST_SIZE = 20  # a list without a page size: what one typically holds (tasks of an instance)
MAX_PAGE = 200  # the largest `first` the API accepts (server.services.queries.MAX_PAGE)
MAX_FRAGMENT_DEPTH = 20  # deeper nesting is refused by the depth limit anyway


def cost_rule(max_cost: int = MAX_COST) -> type[ASTValidationRule]:
    """The validation rule class for ``max_cost`` (build it once: caches key on the class)."""

    class CostLimit(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            context = self.context
            assert isinstance(context, ValidationContext)  # rules run with the schema's context
            root = context.schema.get_root_type(node.operation)
            if root is None:
                return
            fragments = {
                definition.name.value: definition
                for definition in context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            cost = _selection_cost(context, node.selection_set, root, fragments, False, 0)
            if cost > max_cost:
                name = f" {node.name.value}" if node.name else ""
                context.report_error(
                    GraphQLError(
                        f"the operation{name} may return about {cost} objects, over the limit "
                        f"of {max_cost}: ask for smaller pages or fewer nested lists",
                        node,
                        extensions={"code": "query_too_costly", "cost": cost, "limit": max_cost},
                    )
                )

    return CostLimit


def _selection_cost(
    context: ValidationContext,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    paged: bool,
    depth: int,
) -> int:
    if selection_set is None or depth > MAX_FRAGMENT_DEPTH:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(context, selection, parent, fragments, paged, depth)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = context.schema.get_type(condition.name.value) if condition else parent
            if target is not None:
                total += _selection_cost(
                    context, selection.selection_set, target, fragments, paged, depth + 1
                )
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                continue
            target = context.schema.get_type(fragment.type_condition.name.value)
            if target is not None:
                total += _selection_cost(
                    context, fragment.selection_set, target, fragments, paged, depth + 1
                )
    return total


def _field_cost(
    context: ValidationContext,
    node: FieldNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    paged: bool,
    depth: int,
) -> int:
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return 1
    definition = parent.fields.get(node.name.value)
    if definition is None:  # unknown fields are another rule's error
        return 1
    field_type = definition.type
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    page = _first(node)
    if page is not None:
        times = page
    elif isinstance(field_type, GraphQLList) and not paged:
        times = LIST_SIZE
    else:
        times = 1
    inner = _selection_cost(
        context,
        node.selection_set,
        get_named_type(definition.type),
        fragments,
        page is not None,
        depth + 1,
    )
    return 1 + times * inner


def _first(node: FieldNode) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, min(int(value.value), MAX_PAGE))
            return MAX_PAGE  # a variable (or null): the largest page it could be
    return None
