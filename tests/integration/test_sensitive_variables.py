"""Sensitive variables on real databases (PostgreSQL and SQLite): no plaintext in any row, read
back with plain SQL, while the handler (or external worker) gets the real value and the process
completes; readers of the API see ``***``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from support.auth import principal
from support.queues import RecordingQueue

from schema import schema
from schema.context import make_context
from server.crypto import MASK, DecryptionFailed, Vault, is_envelope
from server.db import Database
from server.handlers import HandlerRegistry, TaskContext, service
from server.rest import instance_json
from server.runner import InProcessRunner
from server.services.errors import Conflict, InvalidInput
from server.services.external import ExternalTasks, TopicRequest
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

LOCK = timedelta(minutes=1)
SSN = "SSN-4242-TOPSECRET"
PIN = "PIN-9911-TOPSECRET"
# every column a sensitive value could reach
COLUMNS = [
    ("instances", "variables"),
    ("instances", "state"),
    ("jobs", "variables"),
    ("history", "data"),
    ("outbox", "payload"),
    ("tasks", "outcome"),
]


def definition(*, external: bool = False) -> dict[str, Any]:
    verify: dict[str, Any] = {
        "service_name": "Kyc",
        "method": "verify",
        "input": {"ssn": "${ssn}", "full_name": "${full_name}"},
        "output": {"verified": "${result.verified}"},
    }
    if external:
        verify = {"service_name": "kyc.verify", "external": True, "input": verify["input"]}
    return {
        "key": "kyc-external" if external else "kyc-secret",
        "name": "KYC with secrets",
        "version": "1.0.0",
        "variables": {
            "full_name": {"type": "string", "required": True},
            "ssn": {"type": "string", "required": True, "sensitive": True},
            "pin": {"type": "string", "sensitive": True},
            "verified": "boolean",
        },
        "steps": [
            {"id": "start", "type": "start_event", "next": ["verify"]},
            {"id": "verify", "type": "service_task", "config": verify, "next": ["review"]},
            {
                "id": "review",
                "type": "user_task",
                "config": {"candidate_groups": ["compliance"]},
                "next": ["end"],
            },
            {"id": "end", "type": "end_event"},
        ],
    }


@service("Kyc")
class Kyc:
    """The handler: records what it was given."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def verify(self, ctx: TaskContext) -> dict[str, Any]:
        self.seen.append(dict(ctx.variables))
        return {"verified": ctx.variables["ssn"] == SSN}


def new_vault(kid: str = "k1") -> Vault:
    return Vault({kid: os.urandom(32)})


@pytest.fixture
def kyc() -> Kyc:
    return Kyc()


@pytest.fixture
async def running(
    migrated_db: Database, kyc: Kyc
) -> AsyncIterator[tuple[Workflow, InProcessRunner]]:
    registry = HandlerRegistry()
    registry.add(kyc)
    runner = InProcessRunner(registry)
    workflow = Workflow(migrated_db, runner, vault=new_vault())
    runner.bind(workflow)
    await runner.start()
    yield workflow, runner
    await runner.stop()


async def raw_text(db: Database) -> dict[tuple[str, str], list[str]]:
    """Each column of ``COLUMNS`` as the database returns it to plain SQL, as text."""
    found: dict[tuple[str, str], list[str]] = {}
    async with db.engine.connect() as connection:
        for table, column in COLUMNS:
            rows = (await connection.execute(text(f"SELECT {column} FROM {table}"))).all()
            found[(table, column)] = [str(r[0]) for r in rows if r[0] is not None]
    return found


async def open_task_id(workflow: Workflow, instance_id: int) -> int:
    async with workflow.db.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT id FROM tasks WHERE instance_id = :i AND status = 'open'"),
                {"i": instance_id},
            )
        ).one()
    return int(row[0])


async def test_no_plaintext_at_rest_while_the_handler_gets_the_value(
    running: tuple[Workflow, InProcessRunner], migrated_db: Database, kyc: Kyc
) -> None:
    workflow, runner = running
    await workflow.deploy(definition())
    instance = await workflow.start(
        key="kyc-secret", variables={"full_name": "Chen", "ssn": SSN}, actor="alice"
    )
    assert instance.id is not None
    await runner.idle()
    assert kyc.seen == [{"ssn": SSN, "full_name": "Chen"}]  # the real value, decrypted
    done = await workflow.complete_task(
        await open_task_id(workflow, instance.id), {"pin": PIN}, actor="bob"
    )
    assert done.status == "completed"
    await runner.idle()

    columns = await raw_text(migrated_db)
    for table, column in COLUMNS:
        assert columns[(table, column)], f"{table}.{column}: no rows, nothing was checked"
        for value in columns[(table, column)]:
            assert SSN not in value and PIN not in value, f"plaintext in {table}.{column}"
    async with migrated_db.reading() as session:
        row = await session.get(type(instance), instance.id)
    assert row is not None and row.status == "completed"
    assert row.variables["verified"] is True  # the handler saw the real value
    assert is_envelope(row.variables["ssn"]) and is_envelope(row.variables["pin"])
    assert is_envelope(row.state["variables"]["ssn"])
    assert "$enc" in " ".join(columns[("jobs", "variables")])
    assert "$enc" in " ".join(columns[("tasks", "outcome")])
    assert MASK in " ".join(columns[("history", "data")])  # the history masks

    # the API's readers: masked
    assert instance_json(row)["variables"] == {
        "full_name": "Chen",
        "ssn": MASK,
        "pin": MASK,
        "verified": True,
    }
    result = await schema.execute(
        "query($id: Int!) { instance(id: $id) { variables } }",
        variable_values={"id": instance.id},
        context_value=make_context(workflow, migrated_db, principal("alice", "user")),
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    assert result.data["instance"]["variables"]["ssn"] == MASK
    # an operator (instances.operate) sees them decrypted
    result = await schema.execute(
        "query($id: Int!) { instance(id: $id) { variables } }",
        variable_values={"id": instance.id},
        context_value=make_context(workflow, migrated_db, principal("olga", "operator")),
    )
    assert result.data is not None
    assert result.data["instance"]["variables"]["ssn"] == SSN


async def test_set_variables_of_a_sensitive_one_is_sealed_too(
    running: tuple[Workflow, InProcessRunner], migrated_db: Database
) -> None:
    workflow, runner = running
    await workflow.deploy(definition())
    instance = await workflow.start(key="kyc-secret", variables={"full_name": "C", "ssn": SSN})
    assert instance.id is not None
    await runner.idle()
    await workflow.set_variables(instance.id, {"pin": PIN})
    for values in (await raw_text(migrated_db)).values():
        assert not any(PIN in v or SSN in v for v in values)


async def test_rotation_an_instance_started_under_the_old_key_finishes_under_the_new(
    migrated_db: Database,
) -> None:
    old_key = os.urandom(32)
    old = Vault({"2025": old_key})
    queue = RecordingQueue()
    before = Workflow(migrated_db, queue, vault=old)
    await before.deploy(definition())
    instance = await before.start(key="kyc-secret", variables={"full_name": "C", "ssn": SSN})
    assert instance.id is not None
    assert instance.variables["ssn"]["kid"] == "2025"
    [job] = queue.jobs
    assert job.id is not None

    rotated = Vault({"2026": os.urandom(32), "2025": old_key})
    after = Workflow(migrated_db, queue, vault=rotated)
    assert TaskContext.from_job(job, rotated).variables["ssn"] == SSN  # old key still opens
    await after.job_finished(job.id, variables={"verified": True})
    async with migrated_db.reading() as session:
        row = await session.get(type(instance), instance.id)
    assert row is not None
    assert row.variables["ssn"]["kid"] == "2026"  # re-sealed with the active key as it moved
    assert rotated.open(instance.id, row.variables)["ssn"] == SSN


async def test_a_ciphertext_copied_to_another_instance_does_not_decrypt(
    migrated_db: Database,
) -> None:
    queue = RecordingQueue()
    workflow = Workflow(migrated_db, queue, vault=new_vault())
    await workflow.deploy(definition())
    first = await workflow.start(key="kyc-secret", variables={"full_name": "A", "ssn": SSN})
    second = await workflow.start(key="kyc-secret", variables={"full_name": "B", "ssn": "other"})
    assert first.id is not None and second.id is not None
    async with migrated_db.transaction() as session:
        victim = await session.get(type(second), second.id)
        assert victim is not None
        state = dict(victim.state)
        state["variables"] = {**state["variables"], "ssn": first.state["variables"]["ssn"]}
        victim.state = state
    with pytest.raises(DecryptionFailed):
        await workflow.set_variables(second.id, {"pin": PIN})


async def test_without_a_key_a_sensitive_definition_is_refused_with_a_clear_error(
    migrated_db: Database,
) -> None:
    keyless = Workflow(migrated_db, RecordingQueue())
    with pytest.raises(InvalidInput) as refused:
        await keyless.deploy(definition())
    assert refused.value.code == "encryption_not_configured"
    assert [p.path for p in refused.value.problems] == [
        "variables.pin.sensitive",
        "variables.ssn.sensitive",
    ]
    # deployed earlier with a key, then started without one: refused, not stored in plaintext
    await Workflow(migrated_db, RecordingQueue(), vault=new_vault()).deploy(definition())
    with pytest.raises(Conflict) as conflict:
        await keyless.start(key="kyc-secret", variables={"full_name": "C", "ssn": SSN})
    assert conflict.value.code == "encryption_not_configured"
    assert not any(SSN in v for vs in (await raw_text(migrated_db)).values() for v in vs)


async def test_an_external_worker_gets_the_value_other_readers_the_mask(
    migrated_db: Database,
) -> None:
    workflow = Workflow(migrated_db, RecordingQueue(), vault=new_vault())
    external = ExternalTasks(workflow)
    await workflow.deploy(definition(external=True))
    instance = await workflow.start(key="kyc-external", variables={"full_name": "C", "ssn": SSN})
    [fetched] = await external.fetch_and_lock("w1", [TopicRequest("kyc.verify", LOCK)])
    assert fetched.variables["ssn"] == SSN
    assert is_envelope(fetched.job.variables["ssn"])
    assert fetched.job.id is not None
    looked_up = await external.get(fetched.job.id)
    assert looked_up is not None and looked_up.variables["ssn"] == MASK
    done = await external.complete(fetched.job.id, "w1", {"verified": True})
    assert done.variables["ssn"] == MASK
    assert instance.id is not None
    for values in (await raw_text(migrated_db)).values():
        assert not any(SSN in v for v in values)
