"""The service layer on real databases (PostgreSQL and SQLite): one transaction per
transition, work handed over only after commit, exactly one winner of every race."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from support.queues import RecordingQueue

from server.crypto import Vault
from server.db import Database
from server.handlers import HandlerRegistry
from server.metrics import REGISTRY
from server.models import HistoryRecord, Incident, Instance, Job, OutboxRecord, Timer, UserTask
from server.runner import InProcessRunner
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.workflow import JobResult, TimerDue, Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
EXAMPLES = Path(__file__).parents[2] / "examples"
CHECKS = ["inventory_check", "credit_check", "fraud_check"]


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


OUTCOMES = ("retried", "failed")


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def workflow(migrated_db: Database, queue: RecordingQueue) -> Workflow:
    return Workflow(migrated_db, queue)


def demo_runner() -> InProcessRunner:
    registry = HandlerRegistry()
    registry.load_module("server.demo_services")
    return InProcessRunner(registry)


@pytest.fixture
async def running(migrated_db: Database) -> AsyncIterator[tuple[Workflow, InProcessRunner]]:
    runner = demo_runner()
    # a key: examples/ have sensitive variables (kyc-check's id_document)
    workflow = Workflow(migrated_db, runner, vault=Vault({"test": bytes(32)}))
    runner.bind(workflow)
    await runner.start()
    yield workflow, runner
    await runner.stop()


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.reading() as session:
        query = select(func.count()).select_from(table).where(*where)
        return int((await session.exec(query)).one())


async def open_tasks(db: Database, instance_id: int | None) -> list[UserTask]:
    async with db.reading() as session:
        query = select(UserTask).where(
            col(UserTask.instance_id) == instance_id, col(UserTask.status) == "open"
        )
        return list(await session.exec(query))


async def the_task(db: Database, instance_id: int | None) -> int:
    [task] = await open_tasks(db, instance_id)
    assert task.id is not None
    return task.id


async def order(workflow: Workflow, amount: float, business_key: str = "ORDER-001") -> Instance:
    await workflow.deploy(example("order-processing.json"))
    return await workflow.start(
        key="order-processing",
        business_key=business_key,
        variables={"order_id": business_key, "customer_id": "CUST-456", "total_amount": amount},
        actor="alice",
    )


async def history(db: Database, instance_id: int | None) -> list[HistoryRecord]:
    async with db.reading() as session:
        query = (
            select(HistoryRecord)
            .where(col(HistoryRecord.instance_id) == instance_id)
            .order_by(col(HistoryRecord.seq))
        )
        return list(await session.exec(query))


async def status(db: Database, instance_id: int | None) -> str:
    async with db.reading() as session:
        found = await session.get(Instance, instance_id)
    assert found is not None
    return found.status


# --- definitions ------------------------------------------------------------------------


async def test_deploying_identical_content_is_a_no_op_and_a_change_is_a_new_revision(
    workflow: Workflow,
) -> None:
    source = example("order-processing.json")
    first = await workflow.deploy(source, actor="designer")
    again = await workflow.deploy(source, actor="designer")
    assert first.created and not again.created
    assert again.definition.id == first.definition.id
    second = await workflow.deploy({**source, "description": "a new description"})
    assert second.created
    assert (second.definition.key, second.definition.revision) == ("order-processing", 2)
    latest = await workflow.start(
        key="order-processing", variables={"order_id": "o", "total_amount": 1}
    )
    assert latest.definition_id == second.definition.id  # pinned to the latest at start


async def test_an_invalid_definition_is_refused_with_every_problem_and_nothing_stored(
    workflow: Workflow,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await workflow.deploy(
            {"name": "x", "steps": [{"id": "a", "type": "user_task", "next": "b"}]}
        )
    assert raised.value.code == "definition_invalid"
    problems = [(p.path, p.code) for p in raised.value.problems]
    assert problems == [("$.steps[0].next[0]", "unknown_step")]
    with pytest.raises(NotFound):
        await workflow.start(key="x")


# --- the order process end to end -------------------------------------------------------


async def test_the_seed_order_runs_to_the_manager_and_completes_with_its_history(
    running: tuple[Workflow, InProcessRunner], migrated_db: Database
) -> None:
    workflow, runner = running
    instance = await order(workflow, 5000)
    await runner.idle()
    [task] = await open_tasks(migrated_db, instance.id)
    assert (task.step_id, task.candidate_groups, task.priority) == (
        "manager_approval",
        ["managers"],
        70,
    )
    assert task.id is not None
    await workflow.complete_task(task.id, {"approved": True, "comments": "审批通过"}, actor="mgr")
    await runner.idle()
    assert await status(migrated_db, instance.id) == "completed"
    records = await history(migrated_db, instance.id)
    assert [h.seq for h in records] == list(range(1, len(records) + 1))
    completed = [h.step_id for h in records if h.type == "step_completed"]
    for step in ("validate_order", "manager_approval", *CHECKS, "ship_order"):
        assert completed.count(step) == 1, step
    assert [h.actor for h in records if h.type == "task_completed"] == ["mgr"]
    assert await count(migrated_db, Job, col(Job.status) == "pending") == 0
    assert await count(migrated_db, Timer, col(Timer.status) == "pending") == 0


async def test_twenty_concurrent_completions_of_one_task_have_exactly_one_winner(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 5000)
    await workflow.job_finished(queue.job("validate_order"), variables={"valid": True})
    task_id = await the_task(migrated_db, instance.id)
    results = await asyncio.gather(
        *[workflow.complete_task(task_id, {"approved": True}, actor=f"m{i}") for i in range(20)],
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, UserTask)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 19
    assert {e.code for e in losers} == {"task_not_open"}
    # the parallel checks started once, not once per completion
    assert await count(migrated_db, Job, col(Job.step_id).in_(CHECKS)) == 3


async def test_a_completion_racing_the_escalation_timer_has_one_winner(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 5000)
    await workflow.job_finished(queue.job("validate_order"), variables={})
    task_id = await the_task(migrated_db, instance.id)
    [timer] = queue.timers
    assert timer.id is not None
    results = await asyncio.gather(
        workflow.complete_task(task_id, {"approved": True}, actor="mgr"),
        workflow.fire_timer(timer.id),
        return_exceptions=True,
    )
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    escalated = await count(migrated_db, UserTask, col(UserTask.step_id) == "escalate_to_manager")
    approved = await count(migrated_db, Job, col(Job.step_id) == "credit_check")
    assert (escalated, approved) in ((1, 0), (0, 1))  # exactly one of the two took effect


# --- bad input leaves nothing written ---------------------------------------------------


async def test_wrong_variable_types_start_nothing(
    workflow: Workflow, migrated_db: Database
) -> None:
    await workflow.deploy(example("order-processing.json"))
    with pytest.raises(InvalidInput) as raised:
        await workflow.start(key="order-processing", variables={"order_id": 7, "total_amount": "x"})
    assert raised.value.code == "invalid_variables"
    paths = {p.path for p in raised.value.problems}
    assert paths == {"variables.order_id", "variables.total_amount"}
    assert await count(migrated_db, Instance) == 0
    assert await count(migrated_db, HistoryRecord) == 0


async def test_a_completion_that_fails_the_form_changes_nothing(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 5000)
    await workflow.job_finished(queue.job("validate_order"), variables={})
    task_id = await the_task(migrated_db, instance.id)
    before = await count(migrated_db, HistoryRecord)
    with pytest.raises(InvalidInput) as raised:
        await workflow.complete_task(task_id, {"approved": "yes", "bonus": 1})
    assert {p.code for p in raised.value.problems} == {"invalid_type", "unknown_field"}
    assert await count(migrated_db, HistoryRecord) == before
    assert await the_task(migrated_db, instance.id) == task_id  # still open


async def test_unknown_ids_and_a_taken_business_key_are_typed_errors(workflow: Workflow) -> None:
    with pytest.raises(NotFound):
        await workflow.start(key="no-such-process")
    with pytest.raises(NotFound):
        await workflow.start(definition_id=424242)
    with pytest.raises(NotFound):
        await workflow.complete_task(999)
    with pytest.raises(NotFound):
        await workflow.retry_incident(999)
    await order(workflow, 10)
    with pytest.raises(Conflict) as raised:
        await order(workflow, 10)
    assert raised.value.code == "business_key_taken"


# --- at-least-once delivery, suspension, incidents --------------------------------------


async def test_a_job_result_delivered_twice_is_applied_once(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 10)
    job_id = queue.job("validate_order")
    await workflow.job_finished(job_id, variables={"valid": True})
    await workflow.job_finished(job_id, variables={"valid": True})
    completed = [
        h
        for h in await history(migrated_db, instance.id)
        if h.type == "step_completed" and h.step_id == "validate_order"
    ]
    assert len(completed) == 1
    assert await count(migrated_db, Job, col(Job.step_id) == "inventory_check") == 1


async def test_a_batch_of_job_results_is_one_transaction_applied_once_each(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    first = await order(workflow, 10, "ORDER-A")
    second = await order(workflow, 20, "ORDER-B")
    for instance in (first, second):
        await workflow.job_finished(queue.job("validate_order", instance.id), variables={})
    checks = [queue.job(step, first.id) for step in CHECKS]
    other = queue.job("inventory_check", second.id)
    handed_over = len(queue.jobs)
    async with migrated_db.reading() as session:
        outbox_before = int((await session.exec(select(func.count(col(OutboxRecord.id))))).one())

    results = [JobResult(job_id, variables={}) for job_id in [*checks, other]]
    results.append(JobResult(checks[0], variables={}))  # delivered twice: applied once
    new_jobs = await workflow.apply_batch(results)

    # the three branches joined: the first order ships; the other order's check is done
    assert [(j.instance_id, j.step_id) for j in new_jobs] == [(first.id, "ship_order")]
    assert len(queue.jobs) == handed_over, "the new jobs are the caller's to hand over"
    assert (
        await count(migrated_db, Job, col(Job.id).in_([*checks, other]), col(Job.status) == "done")
        == 4
    )
    done = [
        h.step_id or "" for h in await history(migrated_db, first.id) if h.type == "job_completed"
    ]
    assert sorted(done) == sorted(["validate_order", *CHECKS])
    async with migrated_db.reading() as session:
        outbox = int((await session.exec(select(func.count(col(OutboxRecord.id))))).one())
    assert outbox - outbox_before == 2, "one outbox row per instance of the batch"


async def test_a_batch_fires_a_timer_once_beside_job_results(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    waiting = await order(workflow, 5000, "ORDER-BIG")
    small = await order(workflow, 10, "ORDER-SMALL")
    await workflow.job_finished(queue.job("validate_order", waiting.id), variables={})
    [timer] = queue.timers
    assert timer.id is not None
    batch: list[JobResult | TimerDue] = [
        TimerDue(timer.id),
        JobResult(queue.job("validate_order", small.id), variables={}),
        TimerDue(timer.id),  # delivered twice: fires once
    ]
    new_jobs = await workflow.apply_batch(batch)
    assert [(j.instance_id, j.step_id) for j in new_jobs] == [(small.id, step) for step in CHECKS]
    fired = [h for h in await history(migrated_db, waiting.id) if h.type == "timer_fired"]
    assert len(fired) == 1
    [escalation] = await open_tasks(migrated_db, waiting.id)
    assert escalation.step_id == "escalate_to_manager"


async def test_a_batch_skips_results_of_ended_instances(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 10)
    job_id = queue.job("validate_order")
    await workflow.cancel(instance.id or 0, reason="test", actor="alice")
    assert await workflow.apply_batch([JobResult(job_id, variables={})]) == []
    assert await status(migrated_db, instance.id) == "cancelled"


async def test_a_suspended_instance_holds_its_work_until_resumed(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    instance = await order(workflow, 10)
    assert instance.id is not None
    await workflow.suspend(instance.id)
    job_id = queue.job("validate_order")
    await workflow.job_finished(job_id, variables={})
    assert await count(migrated_db, Job, col(Job.status) == "pending") == 1  # held
    with pytest.raises(Conflict):
        await workflow.set_variables(instance.id, {"customer_id": "C-2"})
    handed_over = len(queue.jobs)
    await workflow.resume(instance.id)
    assert len(queue.jobs) == handed_over + 1  # handed over again
    await workflow.job_finished(job_id, variables={})
    assert await count(migrated_db, Job, col(Job.step_id) == "credit_check") == 1


async def test_a_handler_out_of_retries_raises_an_incident_an_operator_retries(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    await order(workflow, 10)
    jobs = REGISTRY.get_sample_value
    labels = {"service": "OrderValidationService"}
    before = {o: jobs("workflow_jobs_total", {**labels, "outcome": o}) or 0 for o in OUTCOMES}
    for _ in range(3):  # validate_order: 3 attempts by default
        failure = ("connection refused", None, True)
        await workflow.job_finished(queue.job("validate_order"), failure=failure)
    # the engine's decision says which attempt was retried: two, then the third raised
    moved = {
        o: (jobs("workflow_jobs_total", {**labels, "outcome": o}) or 0) - before[o]
        for o in OUTCOMES
    }
    assert moved == {"retried": 2, "failed": 1}
    async with migrated_db.reading() as session:
        [incident] = list(await session.exec(select(Incident)))
    assert (incident.step_id, incident.error, incident.status) == (
        "validate_order",
        "job_failed",
        "open",
    )
    assert incident.id is not None
    await workflow.retry_incident(incident.id, actor="operator")
    await workflow.job_finished(queue.job("validate_order"), variables={})
    async with migrated_db.reading() as session:
        resolved = await session.get(Incident, incident.id)
    assert resolved is not None and resolved.status == "resolved"
    assert await count(migrated_db, Job, col(Job.step_id) == "credit_check") == 1


async def test_a_restarted_runner_picks_up_pending_work_from_the_database(
    workflow: Workflow, migrated_db: Database
) -> None:
    """The jobs went to a queue that is gone (a crash): the new runner's sweep finds them."""
    instance = await order(workflow, 10)
    runner = demo_runner()
    runner.bind(Workflow(migrated_db, runner))
    await runner.start()
    try:
        for _ in range(20):
            await runner.idle()
            if await status(migrated_db, instance.id) == "completed":
                break
        assert await status(migrated_db, instance.id) == "completed"
    finally:
        await runner.stop()


# --- call activities and messages -------------------------------------------------------


async def test_a_call_activity_starts_its_child_in_the_same_transaction(
    running: tuple[Workflow, InProcessRunner], migrated_db: Database
) -> None:
    workflow, runner = running
    await workflow.deploy(example("kyc-check.json"))
    await workflow.deploy(example("customer-onboarding.json"))
    variables = {
        "customer_id": "CUST-1",
        "full_name": "陈小明",
        "id_document": "310101199001011234",
        "country": "CN",
        "email": "chen@example.com",
    }
    parent = await workflow.start(key="customer-onboarding", variables=variables)
    await runner.idle()
    async with migrated_db.reading() as session:
        query = select(Instance).where(col(Instance.parent_id) == parent.id)
        children = list(await session.exec(query))
    assert [c.definition_key for c in children] == ["kyc-check"]
    assert children[0].parent_child_key is not None


async def test_a_message_reaches_the_instance_waiting_with_its_key(
    workflow: Workflow, queue: RecordingQueue, migrated_db: Database
) -> None:
    await workflow.deploy(example("payment-or-timeout.json"))
    first = await workflow.start(
        key="payment-or-timeout", variables={"order_id": "ORD-1", "amount": 10}
    )
    second = await workflow.start(
        key="payment-or-timeout", variables={"order_id": "ORD-2", "amount": 20}
    )
    for job in list(queue.jobs):
        assert job.id is not None
        await workflow.job_finished(job.id, variables={"url": "https://pay.example/x"})
    with pytest.raises(NotFound):
        await workflow.send_message("payment.succeeded", correlation_key="ORD-404")
    delivered = await workflow.send_message(
        "payment.succeeded", correlation_key="ORD-2", variables={"payment_id": "PAY-9"}
    )
    assert delivered.id == second.id
    confirmed = [j.instance_id for j in queue.jobs if j.step_id == "confirm_order"]
    assert confirmed == [second.id]
    assert await status(migrated_db, first.id) == "running"
    # the race is settled: the payment window's timer of ORD-2 was withdrawn
    async with migrated_db.reading() as session:
        query = select(Timer).where(col(Timer.instance_id) == second.id)
        [timer] = list(await session.exec(query))
    assert timer.status == "cancelled"
