"""The frontend contract's operations as documents a test can send.

An operation file (``frontend-contract/operations/<Name>.graphql``) may spread the shared
fragments of ``operations/fragments/`` (the failure members of the result unions). A document
sent to the server must define every fragment it spreads, and no other (GraphQL's
NoUnusedFragments rule), so ``operation_text`` appends exactly those it needs, transitively,
as the generated clients do.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import DocumentNode, FragmentDefinitionNode, FragmentSpreadNode, parse, print_ast
from graphql.language import Visitor, visit

CONTRACT = Path(__file__).resolve().parents[2] / "frontend-contract"
OPERATIONS = CONTRACT / "operations"
FRAGMENTS = OPERATIONS / "fragments"


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spreads(node: DocumentNode | FragmentDefinitionNode) -> set[str]:
    visitor = _Spreads()
    visit(node, visitor)
    return visitor.names


@cache
def shared_fragments() -> dict[str, FragmentDefinitionNode]:
    """Every fragment of operations/fragments/, by name."""
    found: dict[str, FragmentDefinitionNode] = {}
    for path in sorted(FRAGMENTS.glob("*.graphql")):
        for definition in parse(path.read_text(encoding="utf-8")).definitions:
            if isinstance(definition, FragmentDefinitionNode):
                found[definition.name.value] = definition
    return found


def with_fragments(text: str) -> str:
    """``text`` (operations, maybe with local fragments) and the shared fragments it uses."""
    document = parse(text)
    defined = {d.name.value for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    shared = shared_fragments()
    needed: list[str] = []
    pending = sorted(_spreads(document) - defined)
    while pending:
        name = pending.pop()
        if name in needed or name not in shared:
            continue  # an unknown fragment is left for the server's validation to report
        needed.append(name)
        pending.extend(sorted(_spreads(shared[name]) - defined))
    extra = [print_ast(shared[name]) for name in sorted(needed)]
    return "\n\n".join([text.rstrip(), *extra]) + "\n"


def operation_text(name: str) -> str:
    """The document of ``operations/<name>.graphql``, with the shared fragments it uses."""
    return with_fragments((OPERATIONS / f"{name}.graphql").read_text(encoding="utf-8"))
