"""The service API: every change to definitions, instances and tasks goes through here.

Each method is one transaction (``Database.transaction``) and, after it commits, hands new
jobs and timers to the job queue (the in-process runner in the embedded default, arq in
production) and the outbox rows it wrote to the relay (which publishes them on the event
bus): work is never started nor an event published for a change that rolled back, and a crash
between the commit and the hand-over loses nothing, because the sweepers find pending jobs,
timers and outbox rows in the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import union, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine import Decision
from engine import commands as cmd
from engine import events as ev
from engine.definition import Starters
from server.crypto import Vault
from server.db import Database
from server.metrics import job_outcome
from server.models import (
    Incident,
    Instance,
    Job,
    MessageSubscription,
    OutboxRecord,
    Timer,
    UserTask,
    utcnow,
)
from server.services import definitions
from server.services.changes import Changes
from server.services.errors import Conflict, Forbidden, NotFound
from server.services.transitions import (
    ENDED,
    RUNNING,
    SUSPENDED,
    AfterCommit,
    Transitions,
    lock_instance,
    sealed,
)


class JobQueue(Protocol):
    """Where committed work goes: service-task jobs to run, timers to fire when due."""

    async def submit(self, jobs: Sequence[Job]) -> None: ...

    async def schedule(self, timers: Sequence[Timer]) -> None: ...


class Publisher(Protocol):
    """Where committed outbox rows go: the relay that publishes them on the event bus."""

    def committed(self, records: Sequence[OutboxRecord]) -> None: ...


class _Unpublished:
    """No relay (tests of the services alone): rows stay in the outbox."""

    def committed(self, records: Sequence[OutboxRecord]) -> None:
        pass


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a worker reports for one job: the handler's variables, or a failure as
    (message, error_code, retryable). ``guard`` (an external task's lock check) runs under the
    instance lock before anything is applied, and may raise a service error to refuse it."""

    job_id: int
    variables: dict[str, Any] | None = None
    failure: tuple[str, str | None, bool] | None = None
    guard: Callable[[Job, Instance, datetime], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Starter:
    """Who starts an instance, for a definition that names its ``starters``.
    ``unrestricted``: may start any definition (operators, admins)."""

    username: str
    groups: frozenset[str] = frozenset()
    unrestricted: bool = False

    def check(self, starters: Starters | None, key: str) -> None:
        if starters is None or self.unrestricted:
            return
        if self.username in starters.users or not self.groups.isdisjoint(starters.groups):
            return
        raise Forbidden(f"{self.username} may not start {key!r}: see its starters")


@dataclass(frozen=True, slots=True)
class TimerDue:
    """A timer a worker found due (its deferred arq job ran)."""

    timer_id: int


@dataclass
class Unit:
    """One transaction of the service: its session, what it changed (the outbox), and the
    work to hand over once it has committed."""

    session: AsyncSession
    changes: Changes = field(default_factory=Changes)
    after: AfterCommit = field(default_factory=AfterCommit)


class Workflow:
    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        *,
        publisher: Publisher | None = None,
        cache: definitions.DefinitionCache | None = None,
        clock: Callable[[], datetime] = utcnow,
        vault: Vault | None = None,
    ) -> None:
        """``vault``: the keys of sensitive variables (``server.keys`` builds it from the
        settings); without one, definitions with sensitive variables are not deployed."""
        self.db = db
        self.queue = queue
        self.publisher = publisher or _Unpublished()
        self.cache = cache or definitions.DefinitionCache()
        self.clock = clock
        self.vault = Vault() if vault is None else vault

    @asynccontextmanager
    async def unit(self, *, keep_jobs: bool = False) -> AsyncIterator[Unit]:
        """A transaction that writes its outbox rows last and, once committed, hands over its
        jobs, timers and events. Nothing is handed over if the block raises.

        ``keep_jobs``: the new jobs stay in ``unit.after.jobs`` for the caller to hand over."""
        async with self.db.transaction() as session:
            unit = Unit(session)
            yield unit
            unit.after.outbox = await unit.changes.write(session, self.clock())
        await self._hand_over(unit.after, jobs=not keep_jobs)

    async def _hand_over(self, after: AfterCommit, *, jobs: bool = True) -> None:
        after.observed.record()  # committed: now it counts
        if after.outbox:
            self.publisher.committed(after.outbox)
        if after.jobs and jobs:
            await self.queue.submit(after.jobs)
        if after.timers:
            await self.queue.schedule(after.timers)

    def _transitions(
        self, unit: Unit, *, actor: str | None, now: datetime | None = None
    ) -> Transitions:
        return Transitions(
            unit.session,
            self.cache,
            now=now or self.clock(),
            actor=actor,
            changes=unit.changes,
            after=unit.after,
            vault=self.vault,
        )

    # --- definitions --------------------------------------------------------------------

    async def deploy(self, source: Any, *, actor: str | None = None) -> definitions.Deployed:
        async with self.db.transaction() as session:
            return await definitions.deploy(
                session, source, actor=actor, now=self.clock(), can_encrypt=self.vault.enabled
            )

    # --- instances ----------------------------------------------------------------------

    async def start(
        self,
        *,
        definition_id: int | None = None,
        key: str | None = None,
        version: str | None = None,
        business_key: str | None = None,
        variables: dict[str, Any] | None = None,
        actor: str | None = None,
        starter: Starter | None = None,
    ) -> Instance:
        """Start an instance of a definition by id, or by key (latest, or ``version``).

        ``starter``: who asks, checked against the definition's ``starters`` (None: a caller
        the API has already allowed everything, such as the engine starting a child)."""
        async with self.unit() as unit:
            row = await definitions.find(
                unit.session, definition_id=definition_id, key=key, version=version
            )
            if starter is not None:
                starter.check(self.cache.get(row).source.starters, row.key)
            run = self._transitions(unit, actor=actor)
            instance = await run.start(row, variables or {}, business_key=business_key)
        return instance

    async def _apply(
        self,
        unit: Unit,
        instance: Instance,
        event: ev.Event,
        *,
        actor: str | None,
        now: datetime | None = None,
        stale_ok: bool = False,
    ) -> Decision | None:
        """One transition of a locked instance, within ``unit``: the engine's decision.

        ``stale_ok``: the event answers work that may no longer be current (a job result, a
        timer: delivery is at least once); if the step moved on, it is ignored (None). A stale
        event decides nothing, so there is nothing to undo."""
        self._refuse_suspended(instance)
        run = self._transitions(unit, actor=actor, now=now)
        try:
            return await run.apply(instance, event)
        except Conflict as error:
            if not (stale_ok and error.code == "stale"):
                raise
            return None

    async def _transition(self, instance_id: int, event: ev.Event, actor: str | None) -> Instance:
        async with self.unit() as unit:
            instance = await lock_instance(unit.session, instance_id)
            await self._apply(unit, instance, event, actor=actor)
        return instance

    @staticmethod
    def _refuse_suspended(instance: Instance) -> None:
        if instance.status == SUSPENDED:
            raise Conflict(f"instance {instance.id} is suspended", code="instance_suspended")

    async def cancel(
        self, instance_id: int, *, reason: str = "", actor: str | None = None
    ) -> Instance:
        return await self._transition(instance_id, ev.CancelRequested(reason, actor), actor)

    async def set_variables(
        self, instance_id: int, variables: dict[str, Any], *, actor: str | None = None
    ) -> Instance:
        return await self._transition(instance_id, ev.VariablesUpdated(variables, actor), actor)

    async def suspend(self, instance_id: int, *, actor: str | None = None) -> Instance:
        """Hold an instance: its jobs and timers wait, tasks cannot be completed."""
        async with self.unit() as unit:
            instance = await lock_instance(unit.session, instance_id)
            if instance.status != RUNNING:
                raise Conflict(f"instance {instance_id} is {instance.status}", code="not_running")
            instance.status = SUSPENDED
            instance.updated_at = self.clock()
            unit.changes.instance(instance)
        return instance

    async def resume(self, instance_id: int, *, actor: str | None = None) -> Instance:
        async with self.unit() as unit:
            session = unit.session
            instance = await lock_instance(session, instance_id)
            if instance.status != SUSPENDED:
                raise Conflict(f"instance {instance_id} is not suspended", code="not_suspended")
            instance.status = RUNNING
            instance.updated_at = self.clock()
            unit.changes.instance(instance)
            unit.after.jobs += await session.exec(
                select(Job).where(
                    col(Job.instance_id) == instance_id,
                    col(Job.status) == "pending",
                    col(Job.external).is_(False),
                )
            )
            unit.after.timers += await session.exec(
                select(Timer).where(
                    col(Timer.instance_id) == instance_id, col(Timer.status) == "pending"
                )
            )
        return instance

    async def send_message(
        self,
        name: str,
        *,
        correlation_key: str | None = None,
        variables: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Instance:
        """Deliver a message to the one instance waiting for it (by name and key)."""
        async with self.unit() as unit:
            session = unit.session
            query = select(MessageSubscription).where(col(MessageSubscription.message) == name)
            if correlation_key is not None:
                query = query.where(col(MessageSubscription.correlation_key) == correlation_key)
            waiting = (await session.exec(query.order_by(col(MessageSubscription.id)))).first()
            if waiting is None:
                key = f" with key {correlation_key!r}" if correlation_key else ""
                raise NotFound("instance waiting for message", f"{name}{key}")
            instance = await lock_instance(session, waiting.instance_id)
            event = ev.MessageReceived(name, variables or {}, correlation_key, actor)
            await self._apply(unit, instance, event, actor=actor)
        return instance

    async def retry_incident(self, incident_id: int, *, actor: str | None = None) -> Instance:
        async with self.unit() as unit:
            incident = await unit.session.get(Incident, incident_id)
            if incident is None:
                raise NotFound("incident", incident_id)
            instance = await lock_instance(unit.session, incident.instance_id)
            event = ev.IncidentRetried(incident.key, actor)
            await self._apply(unit, instance, event, actor=actor)
        return instance

    # --- tasks --------------------------------------------------------------------------

    async def complete_task(
        self, task_id: int, variables: dict[str, Any] | None = None, *, actor: str | None = None
    ) -> UserTask:
        """Complete a user task; of two concurrent completions exactly one wins, the other
        gets a ``Conflict`` (code ``task_not_open``)."""
        async with self.unit() as unit:
            session = unit.session
            task = await self._task(session, task_id)
            instance = await lock_instance(session, task.instance_id)
            await session.refresh(task)  # read again under the lock: it may be done now
            if task.status != "open":
                raise Conflict(f"task {task_id} is {task.status}", code="task_not_open")
            now = self.clock()
            event = ev.UserTaskCompleted(task.key, variables or {}, actor)
            await self._apply(unit, instance, event, actor=actor, now=now)
            task.status = "completed"
            task.completed_at = now
            task.completed_by = actor
            compiled = await self.cache.by_id(session, instance.definition_id)
            task.outcome = sealed(self.vault, task.instance_id, variables or {}, compiled.sensitive)
            unit.changes.task(task)
            unit.after.observed.task_completed(
                instance.definition_key, "user", task.created_at, now
            )
        return task

    async def claim(self, task_id: int, user: str) -> UserTask:
        async with self.unit() as unit:
            task = await self._open_task(unit.session, task_id)
            if task.assignee not in (None, user):
                raise Conflict(
                    f"task {task_id} is already claimed by {task.assignee}", code="task_claimed"
                )
            task.assignee = user
            unit.changes.task(task)
        return task

    async def unclaim(self, task_id: int) -> UserTask:
        return await self.assign(task_id, None)

    async def assign(self, task_id: int, user: str | None) -> UserTask:
        async with self.unit() as unit:
            task = await self._open_task(unit.session, task_id)
            task.assignee = user
            unit.changes.task(task)
        return task

    async def _task(self, session: AsyncSession, task_id: int) -> UserTask:
        task = await session.get(UserTask, task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    async def _open_task(self, session: AsyncSession, task_id: int) -> UserTask:
        task = (
            await session.exec(
                select(UserTask).where(col(UserTask.id) == task_id).with_for_update()
            )
        ).first()
        if task is None:
            raise NotFound("task", task_id)
        if task.status != "open":
            raise Conflict(f"task {task_id} is {task.status}", code="task_not_open")
        return task

    # --- work reported by the runner ----------------------------------------------------

    async def job_finished(
        self,
        job_id: int,
        *,
        variables: dict[str, Any] | None = None,
        failure: tuple[str, str | None, bool] | None = None,
        guard: Callable[[Job, Instance, datetime], None] | None = None,
    ) -> None:
        """A job ran: its result, or ``failure`` as (message, error_code, retryable).

        Delivery is at least once: a job already finished, cancelled, or belonging to an
        instance that moved on is recognised and ignored. ``guard`` (an external task's lock
        check) runs under the instance lock, before anything is applied, and may raise a
        service error to refuse the result: a client then learns why, where a worker of ours
        has nobody to tell."""
        await self._report(JobResult(job_id, variables, failure, guard))

    async def fire_timer(self, timer_id: int) -> None:
        """A timer is due. Fires once: a timer already fired or cancelled is ignored."""
        await self._report(TimerDue(timer_id))

    async def _report(self, item: JobResult | TimerDue) -> None:
        """One result or timer: a batch of one, whose new jobs are handed over at once."""
        jobs = await self.apply_batch([item])
        if jobs:
            await self.queue.submit(jobs)

    async def apply_batch(self, items: Sequence[JobResult | TimerDue]) -> list[Job]:
        """Several job results and due timers in ONE transaction, each applied as
        ``job_finished`` / ``fire_timer`` apply one (once; what is no longer current is
        ignored). A batch pays for one commit and writes the rows of all its transitions
        together, which is what lets a worker keep up with many short steps and many timers;
        every transition is still durable before its next step runs.

        The new jobs are returned, not handed over: the worker runs those it can at once and
        enqueues the rest. Timers and events are handed over as usual. If the batch fails,
        nothing of it is applied (the caller may apply its items one by one)."""
        job_ids = sorted({i.job_id for i in items if isinstance(i, JobResult)})
        timer_ids = sorted({i.timer_id for i in items if isinstance(i, TimerDue)})
        job_owners = select(Job.instance_id).where(col(Job.id).in_(job_ids))
        timer_owners = select(Timer.instance_id).where(col(Timer.id).in_(timer_ids))
        owners = (
            union(job_owners, timer_owners)
            if job_ids and timer_ids
            else (job_owners if job_ids else timer_owners)
        )
        async with self.unit(keep_jobs=True) as unit:
            session = unit.session
            locked = await session.exec(
                select(Instance)
                .where(col(Instance.id).in_(owners))
                .order_by(col(Instance.id))  # always in id order: two batches never deadlock
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            instances = {instance.id: instance for instance in locked}
            # read after the lock: only then are they current
            fresh = {"populate_existing": True}
            jobs: dict[int | None, Job] = {}
            timers: dict[int | None, Timer] = {}
            if job_ids:  # a batch of one kind reads one table: a single result costs 2 reads
                query = select(Job).where(col(Job.id).in_(job_ids)).execution_options(**fresh)
                jobs = {job.id: job for job in await session.exec(query)}
            if timer_ids:
                query_t = (
                    select(Timer).where(col(Timer.id).in_(timer_ids)).execution_options(**fresh)
                )
                timers = {timer.id: timer for timer in await session.exec(query_t)}
            for item in items:
                row = (
                    jobs.get(item.job_id)
                    if isinstance(item, JobResult)
                    else timers.get(item.timer_id)
                )
                instance = None if row is None else instances.get(row.instance_id)
                if row is None or instance is None:
                    continue
                if isinstance(item, JobResult) and item.guard is not None:
                    assert isinstance(row, Job)
                    item.guard(row, instance, self.clock())
                if row.status != "pending":
                    continue
                if instance.status != RUNNING:  # ended: ignored; suspended: stays pending
                    continue
                if isinstance(row, Job):
                    assert isinstance(item, JobResult)
                    await self._finish_job(unit, instance, row, item)
                else:
                    row.status = "fired"
                    unit.after.observed.timer_fired(row.due_at, self.clock())
                    event = ev.TimerFired(row.key)
                    await self._apply(unit, instance, event, actor=None, stale_ok=True)
        return unit.after.jobs

    async def _finish_job(
        self, unit: Unit, instance: Instance, job: Job, result: JobResult
    ) -> None:
        now = self.clock()
        job.status = "done"
        job.finished_at = now
        event: ev.Event
        if result.failure is None:
            event = ev.ServiceTaskCompleted(job.key, result.variables or {}, "worker")
        else:
            message, code, retryable = result.failure
            event = ev.ServiceTaskFailed(job.key, message, code, retryable, "worker")
        decision = await self._apply(unit, instance, event, actor="worker", now=now, stale_ok=True)
        if decision is None:
            return  # stale: the step moved on, the result decided nothing (and counts nothing)
        retried = any(isinstance(c, cmd.RunServiceTask) for c in decision.commands)
        outcome = job_outcome(result.failure, retried=retried)
        unit.after.observed.job_finished(job.service_name, outcome)
        if outcome == "completed":
            key = instance.definition_key
            unit.after.observed.task_completed(key, "service", job.created_at, now)

    async def runnable_job(self, job_id: int) -> Job | None:
        """The job a worker is to run, in one read; None when it is not pending, is external,
        or its instance is not running (finished already, cancelled, suspended, ended)."""
        async with self.db.reading() as session:
            row = (
                await session.exec(
                    select(Job, Instance.status)
                    .join(Instance, col(Instance.id) == col(Job.instance_id))
                    .where(col(Job.id) == job_id)
                )
            ).first()
        if row is None:
            return None
        job, status = row
        if job.status != "pending" or job.external or status != RUNNING:
            return None
        return job

    async def due_work(
        self, *, until: datetime | None = None, limit: int | None = None
    ) -> tuple[list[Job], list[Timer]]:
        """Pending jobs and timers of running instances, soonest first: what a restarted
        runner (or the sweeper) hands over again. ``until``: only those due by then (a sweeper
        looks one interval ahead, not at every timer of the next month); ``limit`` of each."""
        jobs_query = (
            select(Job)
            .join(Instance, col(Instance.id) == col(Job.instance_id))
            .where(
                col(Job.status) == "pending",
                col(Job.external).is_(False),
                col(Instance.status) == RUNNING,
            )
            .order_by(col(Job.run_at))
            .limit(limit)
        )
        timers_query = (
            select(Timer)
            .join(Instance, col(Instance.id) == col(Timer.instance_id))
            .where(col(Timer.status) == "pending", col(Instance.status) == RUNNING)
            .order_by(col(Timer.due_at))
            .limit(limit)
        )
        if until is not None:
            jobs_query = jobs_query.where(col(Job.run_at) <= until)
            timers_query = timers_query.where(col(Timer.due_at) <= until)
        async with self.db.reading() as session:
            jobs = list(await session.exec(jobs_query))
            timers = list(await session.exec(timers_query))
        return jobs, timers

    async def timers_due(
        self, after: datetime, until: datetime, limit: int
    ) -> list[tuple[int, int]]:
        """(timer id, instance id) of pending timers of running instances due after ``after``
        and by ``until``, soonest first."""
        async with self.db.reading() as session:
            rows = await session.exec(
                select(Timer.id, Timer.instance_id)
                .join(Instance, col(Instance.id) == col(Timer.instance_id))
                .where(
                    col(Timer.status) == "pending",
                    col(Instance.status) == RUNNING,
                    col(Timer.due_at) > after,
                    col(Timer.due_at) <= until,
                )
                .order_by(col(Timer.due_at))
                .limit(limit)
            )
            return [(int(timer_id or 0), instance_id) for timer_id, instance_id in rows]

    async def close_stale(self) -> int:
        """Mark pending jobs of ended instances cancelled (left by a crash); returns how many."""
        async with self.db.transaction() as session:
            ended = select(Instance.id).where(col(Instance.status).in_(sorted(ENDED)))
            result = await session.exec(
                update(Job)
                .where(col(Job.status) == "pending", col(Job.instance_id).in_(ended))
                .values(status="cancelled")
            )
            return int(result.rowcount or 0)
