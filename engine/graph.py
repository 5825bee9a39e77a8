"""Reachability over a definition's steps (ids and their outgoing edges)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping


def reach(start: str, edges: Mapping[str, list[str]], stop: str | None = None) -> set[str]:
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        step_id = queue.popleft()
        if step_id in seen or step_id == stop:
            continue
        seen.add(step_id)
        queue.extend(edges.get(step_id, ()))
    return seen


def predecessors(edges: Mapping[str, list[str]]) -> dict[str, set[str]]:
    """Every step from which a given step can be reached (its possible earlier steps)."""
    reverse: dict[str, list[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            reverse.setdefault(target, []).append(source)
    return {step_id: reach(step_id, reverse) - {step_id} for step_id in edges}
