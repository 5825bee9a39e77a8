"""Reading definition text (JSON or YAML) into plain data, with a located error on failure."""

from __future__ import annotations

import json
from typing import Any

import yaml

from engine.errors import DefinitionInvalid, Problem

MAX_DEFINITION_BYTES = 1_000_000


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a few lines of aliases can expand to billions
    of nodes ("billion laughs"), and a definition never needs them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in definitions", event.start_mark
            )
        return super().compose_node(parent, index)


# Dates stay text, as in JSON: YAML's implicit timestamps would turn `until: 2026-12-24` into a
# date object that no field of the language accepts.
_NoAliasLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_definition_text(text: str, *, filename: str = "") -> Any:
    """Parse JSON (``.json`` or text starting with ``{``) or YAML into data for validation."""
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise DefinitionInvalid(
            [Problem("$", "too_large", f"a definition is at most {MAX_DEFINITION_BYTES} bytes")]
        )
    as_json = filename.endswith(".json") or (
        not filename.endswith((".yaml", ".yml")) and text.lstrip().startswith("{")
    )
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise DefinitionInvalid(
                [
                    Problem(
                        "$",
                        "invalid_json",
                        f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                    )
                ]
            ) from error
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or "syntax error"
        raise DefinitionInvalid(
            [Problem("$", "invalid_yaml", f"not valid YAML: {reason}{where}")]
        ) from error
