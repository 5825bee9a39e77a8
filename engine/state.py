"""The state of one running instance: a plain, JSON-serialisable value.

Tokens mark where the instance is; scopes count the branches of a fork (a parallel or
inclusive gateway, a multi-instance step) until its join fires. The root scope is the
instance itself: when its last token is gone, the instance has completed.

``to_json`` / ``from_json`` carry ``format``, so that instances stored by an older engine are
read (and upgraded) by a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

FORMAT_VERSION = 1
ROOT = "root"

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

Json = dict[str, Any]


@dataclass(slots=True)
class Token:
    id: str
    step: str
    scope: str
    branch: int
    status: str = "active"  # active | waiting | incident (| pending, within a decision)
    wait: str | None = None  # the job, task, timer, subscription or child it waits for
    key: str | None = None  # correlation key of a receive task's subscription
    attempt: int = 0  # attempts of the current service task
    element: int | None = None  # index of the multi-instance element it runs
    locals: dict[str, Any] | None = None  # multi-instance element variables
    timers: dict[str, str] | None = None  # timer id -> boundary step (or event-gateway target)
    subscriptions: dict[str, list[Any]] | None = None  # event gateway: id -> [message, key, target]
    incident: str | None = None
    resume: str | None = None  # where a retried incident resumes: "enter" or "complete"
    pending: dict[str, Any] | None = None  # a result kept while its completion is in incident

    def clone(self) -> Token:
        return Token(
            self.id,
            self.step,
            self.scope,
            self.branch,
            self.status,
            self.wait,
            self.key,
            self.attempt,
            self.element,
            None if self.locals is None else dict(self.locals),
            None if self.timers is None else dict(self.timers),
            None if self.subscriptions is None else dict(self.subscriptions),
            self.incident,
            self.resume,
            self.pending,
        )


@dataclass(slots=True)
class Scope:
    id: str
    kind: str  # root | parallel | inclusive | multi
    step: str | None  # the gateway or multi-instance step that opened it
    parent: str | None
    parent_branch: int
    live: list[int]  # live units (tokens, open child scopes) per branch
    required: int  # finished branches that fire the join
    completed: int = 0
    fired: bool = False
    cancel_remaining: bool = False
    items: list[Any] | None = None  # multi-instance elements
    started: int = 0  # multi-instance elements started (sequential mode starts them one by one)
    results: list[Any] | None = None  # multi-instance output collection
    detached: bool = False  # fired without cancelling: its stragglers count at the root

    def clone(self) -> Scope:
        return Scope(
            self.id,
            self.kind,
            self.step,
            self.parent,
            self.parent_branch,
            list(self.live),
            self.required,
            self.completed,
            self.fired,
            self.cancel_remaining,
            self.items,
            self.started,
            None if self.results is None else list(self.results),
            self.detached,
        )


@dataclass(slots=True)
class InstanceState:
    status: str = RUNNING
    variables: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    counter: int = 0  # for deterministic ids
    seq: int = 0  # sequence number of the last history event
    error: dict[str, Any] | None = None  # why a failed instance failed

    def clone(self) -> InstanceState:
        return InstanceState(
            self.status,
            dict(self.variables),
            {k: t.clone() for k, t in self.tokens.items()},
            {k: s.clone() for k, s in self.scopes.items()},
            self.counter,
            self.seq,
            self.error,
        )

    @property
    def active_steps(self) -> list[str]:
        """The steps tokens are at, in token order (duplicates kept: a step may run twice)."""
        return [t.step for t in self.tokens.values()]

    def to_json(self) -> Json:
        return {
            "format": FORMAT_VERSION,
            "status": self.status,
            "variables": self.variables,
            "tokens": [_compact(t) for t in self.tokens.values()],
            "scopes": [_compact(s) for s in self.scopes.values()],
            "counter": self.counter,
            "seq": self.seq,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Json) -> InstanceState:
        version = data.get("format")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise ValueError(
                f"instance state format {version!r} is not supported by this engine "
                f"(it reads formats 1 to {FORMAT_VERSION})"
            )
        while version < FORMAT_VERSION:
            data = _UPGRADES[version](data)
            version += 1
        tokens = [Token(**t) for t in data["tokens"]]
        scopes = [Scope(**s) for s in data["scopes"]]
        return cls(
            status=data["status"],
            variables=dict(data["variables"]),
            tokens={t.id: t for t in tokens},
            scopes={s.id: s for s in scopes},
            counter=data["counter"],
            seq=data["seq"],
            error=data.get("error"),
        )


# format N -> N+1, applied in order by from_json; none yet
_UPGRADES: dict[int, Callable[[Json], Json]] = {}


def _compact(item: Token | Scope) -> Json:
    """The fields that differ from their defaults: stored states stay small and readable."""
    out: Json = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if f.default is MISSING or value != f.default:
            out[f.name] = value
    return out
