"""The in-process job queue of the embedded default: service tasks run as asyncio tasks in
this process, timers fire from it.

The same ``JobQueue`` port is implemented with arq for production; the services do not know
which one they talk to. Nothing here is the source of truth: a job or timer is a row first,
and ``sweep`` (at start, then periodically) hands over whatever is pending, so work
interrupted by a crash or a restart is picked up again. Handlers may therefore run twice;
they get an idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry.trace import SpanKind

from server import metrics
from server.handlers import Completed, HandlerRegistry, TaskContext, invoke
from server.models import Job, Timer, utcnow
from server.services.workflow import Workflow
from server.telemetry import handler_span, job_attributes, job_span, mark_failed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _JobSpec:
    """What running a job needs, copied out of the row (rows belong to their session)."""

    id: int
    run_at: datetime
    timeout_seconds: float
    context: TaskContext


def _who(spec: _JobSpec) -> tuple[int, str, int]:
    return spec.id, spec.context.step_id, spec.context.instance_id


class InProcessRunner:
    def __init__(
        self,
        registry: HandlerRegistry,
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 16,
        sweep_interval: float = 30.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.sweep_interval = sweep_interval
        self._workflow: Workflow | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[tuple[str, int]] = set()  # ("job"|"timer", id): no double runs
        self._sweeper: asyncio.Task[None] | None = None

    def bind(self, workflow: Workflow) -> None:
        self._workflow = workflow

    @property
    def workflow(self) -> Workflow:
        if self._workflow is None:
            raise RuntimeError("InProcessRunner.bind(workflow) was not called")
        return self._workflow

    # --- the JobQueue port --------------------------------------------------------------

    async def submit(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            assert job.id is not None
            spec = _JobSpec(
                id=job.id,
                run_at=job.run_at,
                timeout_seconds=job.timeout_seconds,
                context=TaskContext.from_job(job, self.workflow.vault),
            )
            self._spawn(("job", job.id), self._run_job(spec))

    async def schedule(self, timers: Sequence[Timer]) -> None:
        for timer in timers:
            assert timer.id is not None
            self._spawn(("timer", timer.id), self._fire_when_due(timer.id, timer.due_at))

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Hand over what is pending in the database, then keep sweeping."""
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="runner-sweeper")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._sweeper = None

    async def sweep(self) -> None:
        jobs, timers = await self.workflow.due_work()
        await self.submit(jobs)
        await self.schedule(timers)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no job or timer due now is running (for tests and graceful stops)."""
        async with asyncio.timeout(timeout):
            while busy := [t for t in self._tasks if not t.get_name().startswith("waiting")]:
                await asyncio.wait(busy, return_when=asyncio.ALL_COMPLETED)

    # --- running ------------------------------------------------------------------------

    def _spawn(self, key: tuple[str, int], work: Coroutine[Any, Any, None]) -> None:
        if key in self._in_flight:
            work.close()
            return
        self._in_flight.add(key)
        task = asyncio.create_task(self._guard(key, work), name=f"{key[0]}-{key[1]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, key: tuple[str, int], work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # the row stays pending: the next sweep tries again
            log.exception("in-process %s %s failed; it stays pending", *key)
        finally:
            self._in_flight.discard(key)

    async def _wait_until(self, moment: datetime, name: str) -> None:
        delay = (moment - self.clock()).total_seconds()
        if delay > 0:
            task = asyncio.current_task()
            assert task is not None
            task.set_name(f"waiting-{name}")  # not busy: idle() does not wait for it
            await asyncio.sleep(delay)
            task.set_name(name)

    async def _run_job(self, spec: _JobSpec) -> None:
        # the task was created in the context of whoever submitted the job (a request, a job):
        # its request id and span carry over, as a job's carrier does for an arq worker
        await self._wait_until(spec.run_at, f"job-{spec.id}")
        task = spec.context
        attributes = job_attributes(spec.id, task)
        with job_span(f"job {task.service_name}", kind=SpanKind.INTERNAL, attributes=attributes):
            async with self._slots:
                metrics.job_started(spec.run_at, self.clock())
                with (
                    handler_span(task.service_name, task.method) as span,
                    metrics.handler_timer(task.service_name),
                ):
                    outcome = await invoke(self.registry, task, spec.timeout_seconds)
                    if not isinstance(outcome, Completed):
                        mark_failed(span, outcome.message)
            if isinstance(outcome, Completed):
                log.info("job %s (step %s of instance %s): completed", *_who(spec))
                await self.workflow.job_finished(spec.id, variables=outcome.variables)
            else:
                log.info(
                    "job %s (step %s of instance %s): failed: %s", *_who(spec), outcome.message
                )
                failure = (outcome.message, outcome.error_code, outcome.retryable)
                await self.workflow.job_finished(spec.id, failure=failure)

    async def _fire_when_due(self, timer_id: int, due_at: datetime) -> None:
        await self._wait_until(due_at, f"timer-{timer_id}")
        with job_span("timer", kind=SpanKind.INTERNAL, attributes={"workflow.timer.id": timer_id}):
            await self.workflow.fire_timer(timer_id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; trying again in %ss", self.sweep_interval)
