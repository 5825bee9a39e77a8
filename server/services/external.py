"""External tasks: service tasks whose handler lives outside the engine, in any language.

Modelled on Camunda 7's external task API. A client polls with a worker id and the topics it
serves (a topic is the step's ``service_name``), each with a lock duration; it gets up to
``max_jobs`` pending jobs locked to it until then, does the work, and reports back: complete
(with variables), fail (the step's retry policy decides whether and when the next attempt
comes; Camunda lets the client pass ``retries`` and ``retryTimeout``, we keep that in the
definition so every worker behaves alike), or a business ("BPMN") error, which is routed to the
step's error boundary event and never retried. A lock that runs out makes the job fetchable
again; the worker that lost it is refused (``lock_lost``) when it reports.

Reports go through :meth:`Workflow.job_finished`, the path our own workers' results take, with
a guard that checks the lock under the instance lock: one code path for both kinds of worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, update
from sqlmodel import col, select

from engine import Problem
from server.crypto import masked
from server.models import Instance, Job
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.transitions import ENDED, RUNNING, SUSPENDED
from server.services.workflow import Workflow

MAX_JOBS = 100  # per fetch: a worker asking for more holds locks it cannot work off in time
MAX_TOPICS = 50
MAX_LOCK = timedelta(days=1)  # a longer job extends its lock instead
MAX_NAME = 200  # the jobs table's worker_id and service_name columns


@dataclass(frozen=True, slots=True)
class TopicRequest:
    """One topic a worker serves, and how long a job of it stays locked to the worker."""

    topic: str
    lock_duration: timedelta


@dataclass(frozen=True, slots=True)
class ExternalJob:
    """An external job as a client sees it: everything a worker needs to do the work and
    report back. ``variables`` are the step's input: sensitive ones decrypted for the worker
    that fetched and locked the job, ``***`` in any other answer (``job.variables`` is the row's
    sealed form)."""

    job: Job
    business_key: str | None
    definition_key: str
    variables: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        """The key our own handlers get (``server.handlers.TaskContext.idempotency_key``, which
        services may not import): stable across re-deliveries of one attempt, new per retry."""
        return f"{self.job.instance_id}:{self.job.key}"


class ExternalTasks:
    """Fetch-and-lock, lock extension and the three reports, for clients of the API."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

    async def fetch_and_lock(
        self, worker_id: str, topics: Sequence[TopicRequest], max_jobs: int = 10
    ) -> list[ExternalJob]:
        """Lock up to ``max_jobs`` due jobs of ``topics`` (oldest due first) to ``worker_id``.

        One ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: on
        PostgreSQL concurrent fetchers skip each other's rows instead of waiting or sharing
        them (a row whose lock a concurrent fetch just took is re-checked and left out); on
        SQLite the one statement takes the write lock before it reads."""
        _check_fetch(worker_id, topics, max_jobs)
        now = self.workflow.clock()
        names = [t.topic for t in topics]
        due = (
            select(Job.id)
            .join(Instance, col(Instance.id) == col(Job.instance_id))
            .where(
                col(Job.external).is_(True),
                col(Job.status) == "pending",
                col(Job.service_name).in_(names),
                col(Job.run_at) <= now,
                col(Job.locked_until).is_(None) | (col(Job.locked_until) < now),
                col(Instance.status) == RUNNING,
            )
            .order_by(col(Job.run_at), col(Job.id))
            .limit(max_jobs)
            .with_for_update(skip_locked=True, of=Job)
        )
        until = case(
            *((col(Job.service_name) == t.topic, now + t.lock_duration) for t in topics),
        )
        claim = (
            update(Job)
            .where(col(Job.id).in_(due.scalar_subquery()))
            .values(worker_id=worker_id, locked_until=until)
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        async with self.workflow.db.transaction() as session:
            jobs = list((await session.exec(claim)).scalars())
            ids = sorted({j.instance_id for j in jobs})
            keys = {
                row[0]: (row[1], row[2])
                for row in await session.exec(
                    select(Instance.id, Instance.business_key, Instance.definition_key).where(
                        col(Instance.id).in_(ids)
                    )
                )
            }
        jobs.sort(key=lambda j: (j.run_at, j.id or 0))
        vault = self.workflow.vault  # the worker holding the lock needs the real values
        return [
            ExternalJob(j, *keys[j.instance_id], vault.open(j.instance_id, j.variables))
            for j in jobs
        ]

    async def extend_lock(self, job_id: int, worker_id: str, duration: timedelta) -> ExternalJob:
        """Hold a job longer: locked until ``duration`` from now (not added to the old end)."""
        _check_worker(worker_id)
        _check_duration("lockDuration", duration)
        async with self.workflow.db.transaction() as session:
            job = (
                await session.exec(select(Job).where(col(Job.id) == job_id).with_for_update())
            ).first()
            if job is None or not job.external:
                raise NotFound("external task", job_id)
            now = self.workflow.clock()
            _check_lock(job, worker_id, now)
            job.locked_until = now + duration
        return await self._found(job_id)

    async def complete(
        self, job_id: int, worker_id: str, variables: dict[str, Any] | None = None
    ) -> ExternalJob:
        """The work is done: its variables go to the step (mapped by its ``output``)."""
        return await self._report(job_id, worker_id, variables=variables or {})

    async def fail(
        self, job_id: int, worker_id: str, message: str, *, retryable: bool = True
    ) -> ExternalJob:
        """The work failed: the step's retry policy schedules the next attempt (after its
        backoff) or, after the last one or when not ``retryable``, raises an incident."""
        return await self._report(job_id, worker_id, failure=(message, None, retryable))

    async def bpmn_error(
        self, job_id: int, worker_id: str, error_code: str, message: str
    ) -> ExternalJob:
        """A business outcome (``CREDIT_DENIED``): caught by the step's error boundary event
        with that code (or a catch-all), else an incident; never retried."""
        if not error_code or len(error_code) > MAX_NAME:
            raise InvalidInput(
                [Problem("errorCode", "invalid_length", f"1 to {MAX_NAME} characters")]
            )
        return await self._report(job_id, worker_id, failure=(message, error_code, False))

    async def get(self, job_id: int) -> ExternalJob | None:
        """An external job by id (whatever its status), for a client that looks one up."""
        async with self.workflow.db.reading() as session:
            found = (
                await session.exec(
                    select(Job, Instance.business_key, Instance.definition_key)
                    .join(Instance, col(Instance.id) == col(Job.instance_id))
                    .where(col(Job.id) == job_id, col(Job.external).is_(True))
                )
            ).first()
        if found is None:
            return None
        job, business_key, definition_key = found
        return ExternalJob(job, business_key, definition_key, masked(job.variables))

    async def _report(
        self,
        job_id: int,
        worker_id: str,
        *,
        variables: dict[str, Any] | None = None,
        failure: tuple[str, str | None, bool] | None = None,
    ) -> ExternalJob:
        _check_worker(worker_id)
        async with self.workflow.db.reading() as session:
            job = await session.get(Job, job_id)
        if job is None or not job.external:
            raise NotFound("external task", job_id)

        def guard(locked: Job, instance: Instance, now: datetime) -> None:
            if instance.status == SUSPENDED:
                raise Conflict(
                    f"instance {instance.id} is suspended: report again once it is resumed "
                    "(extend the lock meanwhile)",
                    code="instance_suspended",
                )
            if instance.status in ENDED:
                raise Conflict(f"instance {instance.id} is {instance.status}", code="task_closed")
            _check_lock(locked, worker_id, now)

        await self.workflow.job_finished(job_id, variables=variables, failure=failure, guard=guard)
        return await self._found(job_id)  # read again: its status after the report

    async def _found(self, job_id: int) -> ExternalJob:
        found = await self.get(job_id)
        if found is None:
            raise NotFound("external task", job_id)
        return found


def _check_lock(job: Job, worker_id: str, now: datetime) -> None:
    """The job is pending and locked to ``worker_id`` until later than ``now``."""
    if job.status != "pending":
        raise Conflict(
            f"external task {job.id} is {job.status}: its step has moved on", code="task_closed"
        )
    if job.worker_id is None or job.locked_until is None:
        raise Conflict(f"external task {job.id} is not locked: fetch it first", code="not_locked")
    if job.worker_id != worker_id or job.locked_until < now:  # as fetch_and_lock sees it
        raise Conflict(
            f"external task {job.id} is no longer locked by {worker_id!r}: the lock ran out "
            "or another worker holds it",
            code="lock_lost",
        )


def _check_worker(worker_id: str) -> None:
    if not worker_id or len(worker_id) > MAX_NAME:
        raise InvalidInput([Problem("workerId", "invalid_length", f"1 to {MAX_NAME} characters")])


def _check_duration(path: str, duration: timedelta) -> None:
    if not timedelta(0) < duration <= MAX_LOCK:
        raise InvalidInput(
            [Problem(path, "out_of_range", f"more than 0 and at most {MAX_LOCK} (a day)")]
        )


def _check_fetch(worker_id: str, topics: Sequence[TopicRequest], max_jobs: int) -> None:
    problems: list[Problem] = []
    try:
        _check_worker(worker_id)
    except InvalidInput as error:
        problems += error.problems
    if not 1 <= max_jobs <= MAX_JOBS:
        problems.append(Problem("maxTasks", "out_of_range", f"1 to {MAX_JOBS}"))
    if not 1 <= len(topics) <= MAX_TOPICS:
        problems.append(Problem("topics", "out_of_range", f"1 to {MAX_TOPICS} topics"))
    seen: set[str] = set()
    for i, topic in enumerate(topics):
        path = f"topics[{i}]"
        if not topic.topic or len(topic.topic) > MAX_NAME:
            problems.append(Problem(f"{path}.topicName", "invalid_length", "1 to 200 characters"))
        elif topic.topic in seen:
            problems.append(Problem(f"{path}.topicName", "duplicate", "a topic is named once"))
        seen.add(topic.topic)
        try:
            _check_duration(f"{path}.lockDuration", topic.lock_duration)
        except InvalidInput as error:
            problems += error.problems
    if problems:
        raise InvalidInput(problems)
