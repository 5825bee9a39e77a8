"""External tasks on real databases (PostgreSQL and SQLite): a client fetches and locks jobs by
topic, reports back, and the process moves on exactly as with a worker of ours."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from support.auth import principal
from support.contract import operation_text
from support.queues import RecordingQueue

from schema import schema
from schema.context import make_context
from server.db import Database
from server.models import Incident, Instance, Job, UserTask
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.external import ExternalJob, ExternalTasks, TopicRequest
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPIC = "payment.charge"
LOCK = timedelta(minutes=1)


class Clock:
    """The services' clock, moved by the test: backoffs and lock expiry without sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def workflow(migrated_db: Database, queue: RecordingQueue, clock: Clock) -> Workflow:
    return Workflow(migrated_db, queue, clock=clock)


@pytest.fixture
def external(workflow: Workflow) -> ExternalTasks:
    return ExternalTasks(workflow)


def definition() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / "external-payment.json").read_text())
    return data


async def start(workflow: Workflow, order_id: str = "ORDER-1", amount: float = 99.5) -> int:
    await workflow.deploy(definition())
    instance = await workflow.start(
        key="external-payment",
        business_key=order_id,
        variables={"order_id": order_id, "amount": amount},
    )
    assert instance.id is not None
    return instance.id


async def fetch(
    external: ExternalTasks, worker: str = "go-worker", n: int = 10
) -> list[ExternalJob]:
    return await external.fetch_and_lock(worker, [TopicRequest(TOPIC, LOCK)], n)


async def instance_row(db: Database, instance_id: int) -> Instance:
    async with db.reading() as session:
        found = await session.get(Instance, instance_id)
    assert found is not None
    return found


async def rows(db: Database, table: Any, instance_id: int) -> list[Any]:
    async with db.reading() as session:
        query = select(table).where(col(table.instance_id) == instance_id).order_by(col(table.id))
        return list(await session.exec(query))


# --- the happy path -----------------------------------------------------------------------------


async def test_fetch_lock_and_complete_drive_the_process_on(
    workflow: Workflow, external: ExternalTasks, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    assert queue.jobs == []  # external: never handed to our job queue
    [locked] = await fetch(external)
    job = locked.job
    assert (job.service_name, job.step_id, job.attempt, job.max_attempts) == (
        TOPIC,
        "charge_payment",
        1,
        3,
    )
    assert job.variables == {"order_id": "ORDER-1", "amount": 99.5}
    assert (job.worker_id, job.locked_until) == ("go-worker", T0 + LOCK)
    assert (locked.business_key, locked.definition_key) == ("ORDER-1", "external-payment")
    assert locked.idempotency_key == f"{instance_id}:{job.key}"
    assert await fetch(external, "another") == []  # locked: nobody else gets it

    assert job.id is not None
    done = await external.complete(job.id, "go-worker", {"payment_id": "PAY-7"})
    assert done.job.status == "done"
    instance = await instance_row(migrated_db, instance_id)
    assert instance.status == "completed"
    assert instance.variables["payment_id"] == "PAY-7"
    with pytest.raises(Conflict) as again:  # a second report is refused, not applied twice
        await external.complete(job.id, "go-worker", {"payment_id": "PAY-8"})
    assert again.value.code == "task_closed"


async def test_only_due_jobs_of_the_asked_topics_and_running_instances_are_fetched(
    workflow: Workflow, external: ExternalTasks
) -> None:
    first = await start(workflow, "ORDER-1")
    await start(workflow, "ORDER-2")
    assert await external.fetch_and_lock("w", [TopicRequest("other.topic", LOCK)], 10) == []
    await workflow.suspend(first)
    [locked] = await fetch(external)
    assert locked.business_key == "ORDER-2"
    await workflow.resume(first)
    [locked] = await fetch(external)
    assert locked.business_key == "ORDER-1"


async def test_max_jobs_is_honoured_and_the_oldest_come_first(
    workflow: Workflow, external: ExternalTasks, clock: Clock
) -> None:
    for n in range(3):
        await start(workflow, f"ORDER-{n}")
        clock.advance(timedelta(seconds=1))
    locked = await fetch(external, n=2)
    assert [j.business_key for j in locked] == ["ORDER-0", "ORDER-1"]
    assert [j.business_key for j in await fetch(external, n=2)] == ["ORDER-2"]


# --- locks --------------------------------------------------------------------------------------


async def test_an_expired_lock_is_fetched_by_another_worker_and_the_first_loses_it(
    workflow: Workflow, external: ExternalTasks, clock: Clock, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [first] = await fetch(external, "slow-worker")
    job_id = first.job.id
    assert job_id is not None
    clock.advance(LOCK + timedelta(microseconds=1))  # expired: locked_until < now
    [second] = await fetch(external, "fast-worker")
    assert second.job.id == job_id
    with pytest.raises(Conflict) as lost:
        await external.complete(job_id, "slow-worker", {"payment_id": "PAY-1"})
    assert lost.value.code == "lock_lost"
    with pytest.raises(Conflict) as lost_extension:
        await external.extend_lock(job_id, "slow-worker", LOCK)
    assert lost_extension.value.code == "lock_lost"
    await external.complete(job_id, "fast-worker", {"payment_id": "PAY-2"})
    assert (await instance_row(migrated_db, instance_id)).variables["payment_id"] == "PAY-2"


async def test_an_expired_lock_nobody_took_is_still_lost(
    workflow: Workflow, external: ExternalTasks, clock: Clock
) -> None:
    await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    clock.advance(LOCK + timedelta(seconds=1))
    with pytest.raises(Conflict) as lost:
        await external.fail(locked.job.id, "go-worker", "timeout")
    assert lost.value.code == "lock_lost"


async def test_extending_a_lock_keeps_the_job_from_other_workers(
    workflow: Workflow, external: ExternalTasks, clock: Clock
) -> None:
    await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    clock.advance(timedelta(seconds=50))
    extended = await external.extend_lock(locked.job.id, "go-worker", timedelta(minutes=5))
    assert extended.job.locked_until == clock.now + timedelta(minutes=5)
    clock.advance(timedelta(minutes=2))  # past the first lock, within the extension
    assert await fetch(external, "another") == []
    await external.complete(locked.job.id, "go-worker", {"payment_id": "PAY-1"})


async def test_a_job_never_fetched_or_unknown_is_refused(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [job] = await rows(migrated_db, Job, instance_id)
    with pytest.raises(Conflict) as unlocked:
        await external.complete(job.id, "go-worker")
    assert unlocked.value.code == "not_locked"
    with pytest.raises(NotFound):
        await external.complete(9999, "go-worker")
    with pytest.raises(NotFound):
        await external.extend_lock(9999, "go-worker", LOCK)


async def test_a_suspended_instance_refuses_the_report_and_the_lock_stays(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    await workflow.suspend(instance_id)
    with pytest.raises(Conflict) as suspended:
        await external.complete(locked.job.id, "go-worker", {"payment_id": "PAY-1"})
    assert suspended.value.code == "instance_suspended"
    await workflow.resume(instance_id)
    await external.complete(locked.job.id, "go-worker", {"payment_id": "PAY-1"})
    assert (await instance_row(migrated_db, instance_id)).status == "completed"


async def test_a_cancelled_instance_closes_its_external_task(
    workflow: Workflow, external: ExternalTasks
) -> None:
    instance_id = await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    await workflow.cancel(instance_id, reason="customer left")
    with pytest.raises(Conflict) as closed:
        await external.complete(locked.job.id, "go-worker")
    assert closed.value.code == "task_closed"


async def test_bad_fetch_arguments_are_each_reported(external: ExternalTasks) -> None:
    with pytest.raises(InvalidInput) as refused:
        await external.fetch_and_lock(
            "",
            [TopicRequest(TOPIC, timedelta(0)), TopicRequest(TOPIC, LOCK)],
            0,
        )
    assert sorted((p.path, p.code) for p in refused.value.problems) == [
        ("maxTasks", "out_of_range"),
        ("topics[0].lockDuration", "out_of_range"),
        ("topics[1].topicName", "duplicate"),
        ("workerId", "invalid_length"),
    ]


# --- failures -----------------------------------------------------------------------------------


async def test_a_failure_is_retried_after_the_backoff_and_the_last_raises_an_incident(
    workflow: Workflow, external: ExternalTasks, clock: Clock, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    backoffs = [timedelta(seconds=30), timedelta(seconds=60)]  # 30s, doubled (the example)
    for attempt, backoff in enumerate(backoffs, start=1):
        [locked] = await fetch(external)
        assert locked.job.attempt == attempt
        assert locked.job.id is not None
        await external.fail(locked.job.id, "go-worker", "gateway timeout")
        clock.advance(backoff - timedelta(seconds=1))
        assert await fetch(external) == []  # not before its backoff
        clock.advance(timedelta(seconds=1))
    [last] = await fetch(external)
    assert (last.job.attempt, last.idempotency_key.endswith(last.job.key)) == (3, True)
    assert last.job.id is not None
    await external.fail(last.job.id, "go-worker", "gateway timeout")
    [incident] = await rows(migrated_db, Incident, instance_id)
    assert (incident.step_id, incident.error, incident.status) == (
        "charge_payment",
        "job_failed",
        "open",
    )
    assert "gateway timeout after 3 attempt(s)" in incident.message
    assert await fetch(external) == []
    # an operator retries the incident: a new external job is there to fetch
    assert incident.id is not None
    await workflow.retry_incident(incident.id)
    [again] = await fetch(external)
    assert again.job.attempt == 1  # a fresh round of attempts
    assert again.idempotency_key != last.idempotency_key


async def test_a_failure_that_is_not_retryable_raises_an_incident_at_once(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    await external.fail(locked.job.id, "go-worker", "bad request", retryable=False)
    [incident] = await rows(migrated_db, Incident, instance_id)
    assert "(not retryable)" in incident.message


async def test_a_bpmn_error_is_caught_by_the_error_boundary_event(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    await external.bpmn_error(locked.job.id, "go-worker", "CARD_DECLINED", "insufficient funds")
    [task] = await rows(migrated_db, UserTask, instance_id)
    assert (task.step_id, task.status) == ("contact_customer", "open")
    assert await rows(migrated_db, Incident, instance_id) == []
    assert await fetch(external) == []  # never retried


async def test_a_bpmn_error_nobody_catches_raises_an_incident(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    instance_id = await start(workflow)
    [locked] = await fetch(external)
    assert locked.job.id is not None
    await external.bpmn_error(locked.job.id, "go-worker", "FRAUD_SUSPECTED", "flagged")
    [incident] = await rows(migrated_db, Incident, instance_id)
    assert incident.error == "unhandled_error"


# --- concurrency (PostgreSQL: row locks; SQLite serialises its writers) -----------------------


async def test_concurrent_fetchers_never_share_a_job(
    workflow: Workflow, external: ExternalTasks, migrated_db: Database
) -> None:
    jobs = 40
    for n in range(jobs):
        await start(workflow, f"ORDER-{n}")
    fetchers = [ExternalTasks(workflow) for _ in range(8)]

    async def drain(fetcher: ExternalTasks, worker: str) -> list[int]:
        got: list[int] = []
        while batch := await fetch(fetcher, worker, n=3):
            got += [j.job.id for j in batch if j.job.id is not None]
        return got

    results = await asyncio.gather(*(drain(f, f"worker-{i}") for i, f in enumerate(fetchers)))
    fetched = [job_id for got in results for job_id in got]
    assert len(fetched) == jobs
    assert len(set(fetched)) == jobs, "a job was given to two workers"
    async with migrated_db.reading() as session:
        owners = {j.id: j.worker_id for j in await session.exec(select(Job))}
    for i, got in enumerate(results):
        assert all(owners[job_id] == f"worker-{i}" for job_id in got)


# --- GraphQL, with the contract's operations ----------------------------------------------------


OPERATIONS = ROOT / "frontend-contract" / "operations"
FETCH = operation_text("FetchAndLockExternalTasks")
REPORT = operation_text("ReportExternalTask")


async def gql(
    workflow: Workflow,
    db: Database,
    document: str,
    variables: dict[str, Any],
    operation: str | None = None,
) -> dict[str, Any]:
    context = make_context(workflow, db, principal("worker", "operator"))  # a worker's user
    result = await schema.execute(
        document, variable_values=variables, context_value=context, operation_name=operation
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_a_worker_drives_the_process_through_graphql(
    workflow: Workflow, migrated_db: Database, clock: Clock
) -> None:
    instance_id = await start(workflow)
    topics = [{"topicName": TOPIC, "lockDurationMs": 60_000}]
    fetched = await gql(workflow, migrated_db, FETCH, {"workerId": "node-1", "topics": topics})
    [task] = fetched["fetchAndLockExternalTasks"]["tasks"]
    assert task["variables"] == {"order_id": "ORDER-1", "amount": 99.5}
    assert (task["topicName"], task["stepId"], task["businessKey"]) == (
        TOPIC,
        "charge_payment",
        "ORDER-1",
    )
    assert (task["attempt"], task["maxAttempts"], task["workerId"]) == (1, 3, "node-1")
    assert task["idempotencyKey"].startswith(f"{instance_id}:")

    failed = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": task["id"], "workerId": "node-1", "message": "gateway timeout"},
        "FailExternalTask",
    )
    assert failed["failExternalTask"]["task"]["status"] == "done"
    clock.advance(timedelta(seconds=30))
    fetched = await gql(workflow, migrated_db, FETCH, {"workerId": "node-1", "topics": topics})
    [retry] = fetched["fetchAndLockExternalTasks"]["tasks"]
    assert retry["attempt"] == 2

    extended = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": retry["id"], "workerId": "node-1", "lockDurationMs": 120_000},
        "ExtendExternalTaskLock",
    )
    assert extended["extendExternalTaskLock"]["__typename"] == "ExternalTaskSuccess"
    completed = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": retry["id"], "workerId": "node-1", "variables": {"payment_id": "PAY-9"}},
        "CompleteExternalTask",
    )
    assert completed["completeExternalTask"]["task"]["status"] == "done"
    looked_up = await gql(
        workflow,
        migrated_db,
        "query($id: Int!) { externalTask(id: $id) { status instance { status } } }",
        {"id": retry["id"]},
    )
    assert looked_up["externalTask"] == {"status": "done", "instance": {"status": "COMPLETED"}}


async def test_graphql_answers_expected_failures_as_typed_results(
    workflow: Workflow, migrated_db: Database, clock: Clock
) -> None:
    await start(workflow)
    refused = await gql(
        workflow,
        migrated_db,
        FETCH,
        {"workerId": "w", "topics": [{"topicName": TOPIC, "lockDurationMs": 0}], "maxTasks": 500},
    )
    assert refused["fetchAndLockExternalTasks"]["__typename"] == "ValidationFailed"
    paths = {p["path"] for p in refused["fetchAndLockExternalTasks"]["problems"]}
    assert paths == {"maxTasks", "topics[0].lockDuration"}

    topics = [{"topicName": TOPIC, "lockDurationMs": 1_000}]
    fetched = await gql(workflow, migrated_db, FETCH, {"workerId": "w", "topics": topics})
    [task] = fetched["fetchAndLockExternalTasks"]["tasks"]
    clock.advance(timedelta(seconds=2))
    lost = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": task["id"], "workerId": "w", "errorCode": "CARD_DECLINED"},
        "ReportExternalTaskError",
    )
    assert lost["reportExternalTaskError"]["__typename"] == "ConflictError"
    assert lost["reportExternalTaskError"]["code"] == "lock_lost"
    not_a_dict = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": task["id"], "workerId": "w", "variables": [1, 2]},
        "CompleteExternalTask",
    )
    assert not_a_dict["completeExternalTask"]["__typename"] == "ValidationFailed"
    missing = await gql(
        workflow,
        migrated_db,
        REPORT,
        {"id": 9999, "workerId": "w"},
        "CompleteExternalTask",
    )
    assert missing["completeExternalTask"] == {
        "__typename": "NotFoundError",
        "message": "no external task with id 9999",
        "kind": "external task",
    }
    nothing = await gql(workflow, migrated_db, "query { externalTask(id: 9999) { id } }", {})
    assert nothing == {"externalTask": None}
