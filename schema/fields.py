"""``strawberry.field`` / ``strawberry.mutation`` with a description, typed for mypy.

Called with keyword arguments only, strawberry's decorators are typed ``Any`` (an untyped
decorator under mypy strict); these keep the decorated resolver's own type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.mutation(description=description))
