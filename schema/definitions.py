"""Process definitions: every deployed version, deploying a new one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema import fields
from schema.context import Context
from schema.errors import (
    ConflictError,
    NotFoundError,
    ValidationFailed,
    attempt,
    validation_failed,
)
from server.models import Definition
from server.services import definitions
from server.services.definitions import Deployed

Info = strawberry.Info[Context, None]


@strawberry.type(description="One deployed version of a process (immutable).")
class ProcessDefinition:
    id: int
    key: str
    name: str
    version: str
    revision: int = strawberry.field(description="Counts the deployed versions of the key.")
    deployed_at: datetime
    deployed_by: str | None
    definition: JSON = strawberry.field(description="The definition as deployed.")

    @classmethod
    def from_row(cls, row: Definition) -> ProcessDefinition:
        assert row.id is not None
        return cls(
            id=row.id,
            key=row.key,
            name=row.name,
            version=row.version,
            revision=row.revision,
            deployed_at=row.deployed_at,
            deployed_by=row.deployed_by,
            definition=JSON(row.source),
        )

    @fields.field("Every deployed version of this key, newest first.")
    async def versions(self, info: Info) -> list[ProcessDefinition]:
        rows = await info.context.loaders.versions.load(self.key)
        return [ProcessDefinition.from_row(r) for r in rows]


@strawberry.type
class DeployDefinitionSuccess:
    definition: ProcessDefinition
    created: bool = strawberry.field(
        description="False when identical content was already deployed (a no-op)."
    )

    @classmethod
    def from_deployed(cls, deployed: Deployed) -> DeployDefinitionSuccess:
        return cls(
            definition=ProcessDefinition.from_row(deployed.definition), created=deployed.created
        )


DeployDefinitionResult = Annotated[
    DeployDefinitionSuccess | ValidationFailed | NotFoundError | ConflictError,
    strawberry.union("DeployDefinitionResult"),
]


@strawberry.type
class Query:
    @fields.field("Deployed definitions, by key then newest revision first.")
    async def definitions(
        self, info: Info, key: str | None = None, latest_only: bool = False
    ) -> list[ProcessDefinition]:
        async with info.context.db.reading() as session:
            rows = await definitions.listing(session, key=key, latest_only=latest_only)
        return [ProcessDefinition.from_row(r) for r in rows]

    @fields.field("A definition by id; null when none has it.")
    async def definition(self, info: Info, id: int) -> ProcessDefinition | None:
        row = await info.context.loaders.definition.load(id)
        return None if row is None else ProcessDefinition.from_row(row)


@strawberry.type
class Mutation:
    @fields.mutation("Validate and deploy a definition (JSON, as in examples/).")
    async def deploy_definition(self, info: Info, definition: JSON) -> DeployDefinitionResult:
        if not isinstance(definition, dict):
            return validation_failed("$", "invalid_type", "a definition is a JSON object")
        ctx = info.context
        return await attempt(
            lambda: ctx.workflow.deploy(definition, actor=ctx.user),
            DeployDefinitionSuccess.from_deployed,
        )
