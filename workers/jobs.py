"""The arq job functions: run a service-task job, fire a timer, and the periodic sweep.

A job function gets only a row id. It reads the row, runs the handler outside any transaction
(it may be slow, and may run twice: delivery is at least once, the handler gets an
idempotency key), then reports to ``Workflow.job_finished``, which applies the result once:
a result for a job already finished, or no longer current, is ignored.

Eager execution. An arq round trip per step caps throughput (a poll, a WATCH/MULTI, a
deserialisation per job), so a worker that has just committed a transition runs the service
tasks it handed over itself, inline in the same arq job, when it can: its handler is
registered here, it is due now, and it fits in what is left of the arq job's time. Parallel
branches run concurrently (bounded). Each transition still commits before the next handler
starts. The rest goes to arq. A worker that dies mid-chain leaves pending rows, which the
sweeper enqueues again.

Group commit. Results that finish while a transaction of this worker is in flight wait for it
and are then applied together, in one transaction (``Workflow.apply_batch``): one commit and
one write of each table for the lot, instead of one of each per step. Under load the batches
grow by themselves; alone, a result waits for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from server import metrics
from server.arq_queue import slot_window
from server.crypto import Vault
from server.handlers import Completed, HandlerRegistry, TaskContext, UnknownHandler, invoke
from server.models import Job, Timer, utcnow
from server.services.workflow import JobQueue, JobResult, TimerDue, Workflow
from server.telemetry import (
    continued,
    handler_span,
    job_attributes,
    job_span,
    linked,
    mark_failed,
)

log = logging.getLogger(__name__)

RUNTIME: Final = "workflow_runtime"  # the key of the Runtime in arq's ctx
#: Timers one slot job reads at a time (and hands to the batcher together).
TIMERS_PER_ROUND: Final = 500
#: Rows of each kind one sweep hands over at most (the next sweep takes the rest).
SWEEP_LIMIT: Final = 10_000
#: Time kept, out of an arq job's timeout, for reporting the last result: this much, at most a
#: fifth of the timeout.
REPORT_MARGIN_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Work:
    """What running a job needs, copied out of its row (rows belong to their session)."""

    id: int
    timeout_seconds: float
    context: TaskContext
    run_at: datetime | None = None  # when it was due: its queue latency is measured from it

    @classmethod
    def of(cls, job: Job, vault: Vault) -> Work:
        assert job.id is not None
        context = TaskContext.from_job(job, vault)
        return cls(
            id=job.id, timeout_seconds=job.timeout_seconds, context=context, run_at=job.run_at
        )


class Chain:
    """The jobs one arq job runs inline: those its own transitions handed over."""

    def __init__(self, executor: Executor, group: asyncio.TaskGroup, deadline: float) -> None:
        self.executor = executor
        self.group = group
        self.deadline = deadline
        self.ran = 0

    def take(self, job: Job, now: datetime) -> bool:
        """Run ``job`` here if it can run now; False: it goes to arq."""
        loop_now = asyncio.get_running_loop().time()
        if (
            job.id is None
            or not self.executor.eager  # the worker is draining: the rest goes to arq
            or job.external
            or job.run_at > now
            or self.deadline - loop_now < job.timeout_seconds + self.executor.margin
            or not self.executor.can_run(job.service_name, job.method)
        ):
            return False
        work = Work.of(job, self.executor.workflow.vault)
        self.group.create_task(self.executor.run_inline(work, self), name=f"job-{job.id}")
        return True


_chain: contextvars.ContextVar[Chain | None] = contextvars.ContextVar("chain", default=None)


class Executor:
    """Runs jobs, and is the worker's ``JobQueue``: what a transition of this worker hands
    over is run inline (in the chain of the running arq job) or enqueued on ``queue``."""

    def __init__(
        self,
        registry: HandlerRegistry,
        queue: JobQueue,
        *,
        budget_seconds: float,
        eager: bool = True,
        concurrency: int = 32,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.registry = registry
        self.queue = queue
        self.budget_seconds = budget_seconds
        self.margin = min(REPORT_MARGIN_SECONDS, budget_seconds / 5)
        self._cut_warned: set[tuple[str, str]] = set()  # (service, step): warned once
        self.eager = eager
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)  # inline jobs running at once
        self._workflow: Workflow | None = None
        self._batcher: ResultBatcher | None = None
        self.inline = 0  # jobs run inline so far (for measurements and tests)

    def bind(self, workflow: Workflow) -> None:
        self._workflow = workflow
        self._batcher = ResultBatcher(workflow)

    @property
    def batcher(self) -> ResultBatcher:
        if self._batcher is None:
            raise RuntimeError("Executor.bind(workflow) was not called")
        return self._batcher

    @property
    def workflow(self) -> Workflow:
        if self._workflow is None:
            raise RuntimeError("Executor.bind(workflow) was not called")
        return self._workflow

    def can_run(self, service_name: str, method: str | None) -> bool:
        try:
            self.registry.resolve(service_name, method)
        except UnknownHandler:
            return False
        return True

    # --- the JobQueue port --------------------------------------------------------------

    async def submit(self, jobs: Sequence[Job]) -> None:
        chain = _chain.get()
        if chain is not None:
            now = self.clock()
            jobs = [job for job in jobs if not chain.take(job, now)]
        if jobs:
            await self.queue.submit(jobs)

    async def schedule(self, timers: Sequence[Timer]) -> None:
        await self.queue.schedule(timers)

    # --- running ------------------------------------------------------------------------

    async def chained(self, first: Callable[[Chain], Awaitable[None]]) -> int:
        """Run ``first`` (one arq job's work) and, if eager, the jobs its transitions hand
        over, and theirs, until none is left; returns how many ran inline."""
        loop = asyncio.get_running_loop()
        async with asyncio.TaskGroup() as group:
            chain = Chain(self, group, loop.time() + self.budget_seconds)
            token = _chain.set(chain if self.eager else None)
            try:
                await first(chain)
            finally:
                _chain.reset(token)  # the tasks of the chain carry their own copy
        return chain.ran

    async def run_inline(self, work: Work, chain: Chain) -> None:
        """Run a job of ``chain`` when a slot is free. Never raises: on an error (the database
        unreachable, say) the row stays pending, and the sweeper enqueues it again."""
        try:
            async with self._slots:
                await self.run(work, chain.deadline)
            chain.ran += 1
            self.inline += 1
        except Exception:
            log.exception("job %s failed inline; it stays pending for the sweeper", work.id)

    async def run(self, work: Work, deadline: float | None) -> None:
        """Invoke the handler (its timeout cut to what is left before ``deadline``, the arq
        job's end) and report the outcome."""
        timeout = work.timeout_seconds
        if deadline is not None:
            left = max(round(deadline - asyncio.get_running_loop().time() - self.margin, 1), 0.1)
            if left < timeout:
                self._warn_cut(work, left)
                timeout = left
        if work.run_at is not None:
            metrics.job_started(work.run_at, self.clock())
        task = work.context
        # a child of the enqueuing request's span (run_job continues it), or of the job that
        # handed this one over inline
        with job_span(f"job {task.service_name}", attributes=job_attributes(work.id, task)):
            with handler_span(task.service_name, task.method) as span:
                with metrics.handler_timer(task.service_name):
                    outcome = await invoke(self.registry, task, timeout)
                if isinstance(outcome, Completed):
                    result = JobResult(work.id, variables=outcome.variables)
                else:
                    mark_failed(span, outcome.message)
                    result = JobResult(
                        work.id, failure=(outcome.message, outcome.error_code, outcome.retryable)
                    )
            log.info(
                "job %s: %s of instance %s, step %s, attempt %s: %s",
                work.id,
                task.service_name if task.method is None else f"{task.service_name}.{task.method}",
                task.instance_id,
                task.step_id,
                task.attempt,
                "completed" if isinstance(outcome, Completed) else f"failed: {outcome.message}",
            )
            await self.report(result, task.instance_id)

    async def report(self, item: JobResult | TimerDue, instance_id: int | None) -> None:
        """Apply ``item`` with the batch it falls in, then hand over the new jobs it gets
        here, in this arq job's chain: run inline or enqueued."""
        new_jobs = await self.batcher.finish(item, instance_id)
        if new_jobs:
            await self.submit(new_jobs)

    def _warn_cut(self, work: Work, left: float) -> None:
        """A step timeout longer than the arq job's is cut (else arq would cancel the job
        without a result, and the sweeper enqueue it again, forever). Said once per step."""
        key = (work.context.service_name, work.context.step_id)
        if key not in self._cut_warned:
            self._cut_warned.add(key)
            log.warning(
                "step %s: its timeout %gs is cut to %gs, what is left of the arq job's "
                "(WORKER_JOB_TIMEOUT): raise it above the longest step timeout",
                work.context.step_id,
                work.timeout_seconds,
                left,
            )


class ResultBatcher:
    """Applies the job results of this worker in batches (see "Group commit" above).

    At most ``in_flight`` transactions at once; what arrives meanwhile waits and goes in the
    next one. A batch that fails is applied again one result at a time, so a bad result (or a
    conflict) costs only its own job, which then stays pending for the sweeper."""

    def __init__(self, workflow: Workflow, *, max_batch: int = 64, in_flight: int = 2) -> None:
        self.workflow = workflow
        self.max_batch = max_batch
        self._waiting: list[tuple[JobResult | TimerDue, int | None, asyncio.Future[list[Job]]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._in_flight = in_flight
        self.batches = 0  # transactions made (for measurements and tests)
        self.results = 0

    async def finish(self, item: JobResult | TimerDue, instance_id: int | None) -> list[Job]:
        """Apply ``item`` (of ``instance_id``, when known); returns new jobs its batch created
        for the caller to run or enqueue: those of its instance, and for the first item of a
        batch also those of no item's instance (a timer's: its instance is not known here)."""
        future: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, instance_id, future))
        if len(self._flushers) < self._in_flight:
            task = asyncio.create_task(self._flush(), name="result-batcher")
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def idle(self) -> None:
        """Wait for the transactions in flight (before a worker closes its database)."""
        while self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: len(batch)]
            try:
                jobs = await self.workflow.apply_batch([item for item, _, _ in batch])
            except Exception:
                log.warning("a batch of %d results failed; applying them one by one", len(batch))
                for item, _, future in batch:
                    try:
                        mine = await self.workflow.apply_batch([item])
                    except Exception as error:
                        if not future.done():  # its waiter may have been cancelled
                            future.set_exception(error)
                    else:
                        if not future.done():
                            future.set_result(mine)
                continue
            self.batches += 1
            self.results += len(batch)
            by_instance: dict[int | None, list[Job]] = {}
            known = {instance_id for _, instance_id, _ in batch}
            for job in jobs:
                owner = job.instance_id if job.instance_id in known else None
                by_instance.setdefault(owner, []).append(job)
            first = True
            for _, instance_id, future in batch:
                # any chain of this worker may run a job: the first item of an instance takes
                # its instance's, the batch's first item also those nobody else claims
                mine = by_instance.pop(instance_id, []) if instance_id is not None else []
                if first:
                    mine += by_instance.pop(None, [])
                    first = False
                if not future.done():  # a cancelled waiter's jobs stay pending: swept later
                    future.set_result(mine)


@dataclass
class Runtime:
    """What the job functions use, built by ``workers.settings`` when a worker starts."""

    workflow: Workflow
    executor: Executor
    queue: JobQueue  # arq itself: what the sweeper enqueues to
    sweep_interval: float


# --- the arq job functions ------------------------------------------------------------------


async def run_job(ctx: dict[str, Any], job_id: int, carrier: object = None) -> str:
    """Run the service-task job ``job_id`` (and, eagerly, what follows it), in the trace and
    request of ``carrier`` (``server.telemetry.job_carrier`` of whoever enqueued it; absent
    from jobs enqueued by the sweeper or an older version)."""
    runtime: Runtime = ctx[RUNTIME]
    with continued(carrier):
        work = await _pending_work(runtime.workflow, job_id)
        if work is None:
            return "skipped"
        executor = runtime.executor

        async def first(chain: Chain) -> None:
            await executor.run(work, chain.deadline)

        ran = await executor.chained(first)
    return f"done, {ran} more inline"


async def fire_timer(ctx: dict[str, Any], timer_id: int, carrier: object = None) -> str:
    """Fire the timer ``timer_id`` (once: ``Workflow.fire_timer`` checks under the lock), in
    the trace and request that scheduled it (``carrier``, as ``run_job``'s)."""
    runtime: Runtime = ctx[RUNTIME]

    async def first(chain: Chain) -> None:
        await runtime.executor.report(TimerDue(timer_id), None)

    with continued(carrier), job_span("timer", attributes={"workflow.timer.id": timer_id}):
        ran = await runtime.executor.chained(first)
    return f"fired, {ran} jobs inline"


async def fire_timers(ctx: dict[str, Any], slot_ms: int, carrier: object = None) -> str:
    """Fire the timers of the slot ending at ``slot_ms`` (epoch ms): those due within its
    100 ms, which ``ArqQueue.schedule`` grouped into it. They go through the batcher together:
    a few transactions for the whole slot.

    Only its own window: when the worker falls behind, several slot jobs run at once, and each
    firing every earlier pending timer too made them all fight over the same oldest timers
    (each fired once, read and locked many times over), so a backlog grew on itself. An earlier
    timer still pending (its slot's job failed or was lost) is the sweeper's.

    A slot serves the timers of many requests: its span is a trace of its own, linked to the
    request that scheduled the slot first (``carrier``), and its lines carry no request id."""
    runtime: Runtime = ctx[RUNTIME]
    after, until = slot_window(slot_ms)
    fired = 0

    async def first(chain: Chain) -> None:
        nonlocal fired
        while due := await runtime.workflow.timers_due(after, until, TIMERS_PER_ROUND):
            reports = [runtime.executor.report(TimerDue(t), i) for t, i in due]
            outcomes = await asyncio.gather(*reports, return_exceptions=True)
            fired += len(due)
            if failed := [o for o in outcomes if isinstance(o, Exception)]:
                # they stay pending: the sweeper hands them over again
                log.warning("%d timers of slot %s failed: %s", len(failed), slot_ms, failed[0])
                return
            if len(due) < TIMERS_PER_ROUND:
                return

    with job_span("timers", attributes={"workflow.timer.slot": slot_ms}, links=linked(carrier)):
        ran = await runtime.executor.chained(first)
    return f"{fired} timers, {ran} jobs inline"


async def _pending_work(workflow: Workflow, job_id: int) -> Work | None:
    job = await workflow.runnable_job(job_id)
    return None if job is None else Work.of(job, workflow.vault)


# --- the sweeper ----------------------------------------------------------------------------


async def sweep(runtime: Runtime) -> tuple[int, int]:
    """Enqueue again what the database says is pending (Redis may have lost it) and close jobs
    of ended instances; returns (jobs, timers) handed to arq.

    Jobs and timers due before the next sweep are enqueued (a deferred arq job for the later
    ones). A job that became due within the last interval is left alone: it was handed over a
    moment ago and is probably running inline, where arq's job id cannot deduplicate it. So is
    a timer: its slot's job is queued or running (a worker behind on a burst of timers was
    handed each one again as a job of its own, thousands of arq jobs on top of the burst).
    Every other duplicate is harmless: arq refuses a job id it holds, and a job that has run
    finds its row done."""
    now = runtime.workflow.clock()
    interval = timedelta(seconds=runtime.sweep_interval)
    horizon, recent = now + interval, now - interval

    def hand_over(due: datetime) -> bool:
        return due <= recent or now < due  # due_work reads only what is due by the horizon

    jobs, timers = await runtime.workflow.due_work(until=horizon, limit=SWEEP_LIMIT)
    jobs = [j for j in jobs if hand_over(j.run_at)]
    timers = [t for t in timers if hand_over(t.due_at)]
    await runtime.queue.submit(jobs)
    await runtime.queue.schedule(timers)
    closed = await runtime.workflow.close_stale()
    if closed:
        log.info("sweep: %d jobs of ended instances closed", closed)
    return len(jobs), len(timers)


async def sweep_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    """Sweep now, then every interval, until ``stop`` is set; a sweep under way finishes
    (cancelled mid-way, it could leave a Redis pipeline or a transaction behind)."""
    while not stop.is_set():
        try:
            jobs, timers = await sweep(runtime)
            if jobs or timers:
                log.info("sweep: %d jobs and %d timers handed to arq again", jobs, timers)
        except Exception:
            log.exception("sweep failed; again in %ss", runtime.sweep_interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), runtime.sweep_interval)
