"""Deploying definitions and finding the version to run.

Every deployed version is kept and never changes; ``revision`` numbers the versions of one
key. Deploying content identical to an existing version of the key returns that version
(a no-op), so a deploy script can run on every start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine import CompiledDefinition, DefinitionInvalid, Problem, compile_definition
from server.models import Definition
from server.services.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class Deployed:
    definition: Definition
    created: bool  # False: identical content was already deployed


class DefinitionCache:
    """Compiled definitions by id. Versions are immutable, so a compiled one stays valid for
    the life of the process; compiling happens once per version per process."""

    def __init__(self) -> None:
        self._compiled: dict[int, CompiledDefinition] = {}

    def get(self, row: Definition) -> CompiledDefinition:
        assert row.id is not None
        found = self._compiled.get(row.id)
        if found is None:
            found = self._compiled[row.id] = compile_definition(row.source)
        return found

    async def by_id(self, session: AsyncSession, definition_id: int) -> CompiledDefinition:
        """The compiled version; the row (with its source) is read only on the first use in
        this process, not on every transition."""
        found = self._compiled.get(definition_id)
        if found is not None:
            return found
        row = await session.get(Definition, definition_id)
        if row is None:
            raise NotFound("process definition", definition_id)
        return self.get(row)


def content_hash(source: dict[str, Any]) -> str:
    canonical = json.dumps(source, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def deploy(
    session: AsyncSession,
    source: Any,
    *,
    actor: str | None,
    now: datetime,
    can_encrypt: bool = True,
) -> Deployed:
    """Validate and store a new version (or return the identical one already stored).

    ``can_encrypt``: False when no encryption key is configured; a definition with
    ``sensitive`` variables is then refused, rather than its values stored in plaintext."""
    try:
        compiled = compile_definition(source)
    except DefinitionInvalid as error:
        raise InvalidInput(error.problems, code="definition_invalid") from error
    if compiled.sensitive and not can_encrypt:
        raise InvalidInput(
            [
                Problem(
                    f"variables.{name}.sensitive",
                    "encryption_not_configured",
                    "sensitive variables are encrypted at rest, and no encryption key is "
                    "configured (ENCRYPTION_KEYS)",
                )
                for name in sorted(compiled.sensitive)
            ],
            code="encryption_not_configured",
        )
    stored = compiled.to_json()
    digest = content_hash(stored)
    existing = (
        await session.exec(
            select(Definition).where(
                col(Definition.key) == compiled.key, col(Definition.content_hash) == digest
            )
        )
    ).first()
    if existing is not None:
        return Deployed(existing, created=False)
    # the unique (key, revision) constraint settles two concurrent deploys of one key
    latest = (
        await session.exec(
            select(func.max(col(Definition.revision))).where(col(Definition.key) == compiled.key)
        )
    ).one()
    row = Definition(
        key=compiled.key,
        name=compiled.name,
        version=compiled.version,
        revision=(latest or 0) + 1,
        content_hash=digest,
        source=stored,
        deployed_at=now,
        deployed_by=actor,
    )
    session.add(row)
    await session.flush()
    return Deployed(row, created=True)


async def listing(
    session: AsyncSession, *, key: str | None = None, latest_only: bool = False, limit: int = 1000
) -> list[Definition]:
    """Deployed definitions by key, newest revision first; ``latest_only``: one per key."""
    query = select(Definition)
    if key is not None:
        query = query.where(col(Definition.key) == key)
    query = query.order_by(col(Definition.key), col(Definition.revision).desc()).limit(limit)
    rows = list(await session.exec(query))
    if not latest_only:
        return rows
    latest: dict[str, Definition] = {}
    for row in rows:  # the newest revision comes first within a key
        latest.setdefault(row.key, row)
    return list(latest.values())


async def find(
    session: AsyncSession,
    *,
    definition_id: int | None = None,
    key: str | None = None,
    version: str | None = None,
) -> Definition:
    """A definition by id, or by key: the latest revision, or the latest with ``version``."""
    if definition_id is not None:
        row = await session.get(Definition, definition_id)
        if row is None:
            raise NotFound("process definition", definition_id)
        return row
    if key is None:
        raise ValueError("give a definition id or a key")
    query = select(Definition).where(col(Definition.key) == key)
    if version is not None:
        query = query.where(col(Definition.version) == version)
    row = (await session.exec(query.order_by(col(Definition.revision).desc()).limit(1))).first()
    if row is None:
        what = f"{key} version {version}" if version else key
        raise NotFound("process definition", what)
    return row
