"""arq worker settings, built from ``server.settings.Settings``: the worker's composition root.

``worker_settings(settings)`` gives the keyword arguments of ``arq.Worker``;
``workflow-engine worker`` runs one. For arq's own command, ``arq workers.settings.WorkerSettings``
works too: the attribute is built from the environment when arq reads it, not at import.

On start-up a worker composes what the API process composes, with other adapters: the
database, the handler registry (the built-in ``http`` service and HANDLER_MODULES), a
``Workflow`` whose job queue is the eager executor in front of arq, the outbox relay on the
event bus (transitions made here are published like the API's), and the sweeper task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, cast

from arq.connections import RedisSettings
from arq.worker import Function, Worker, func

from server.arq_queue import FIRE_TIMER, FIRE_TIMERS, RUN_JOB, ArqQueue, queue_name
from server.db import Database
from server.health import ARQ_HEALTH_KEY, HealthChecks
from server.http_service import HttpService, handler_registry
from server.keys import vault_from_settings
from server.metrics_sampler import Sampler
from server.outbox import OutboxRelay
from server.redis_bus import make_bus
from server.services import operations_stats
from server.services.workflow import Workflow
from server.settings import Settings
from server.shutdown import Draining
from workers.jobs import (
    RUNTIME,
    Executor,
    Runtime,
    fire_timer,
    fire_timers,
    run_job,
    sweep_forever,
)
from workers.ops_http import OpsServer
from workers.retention import start_retention

log = logging.getLogger(__name__)

SETTINGS: Final = "workflow_settings"  # the key of the Settings in arq's ctx
HANDLERS: Final = "workflow_handlers"  # handler objects added to the modules' ones
_OPEN: Final = "workflow_open"  # what on_shutdown closes
DRAINING: Final = "workflow_draining"  # set on SIGTERM: readiness 503, no more eager runs


def worker_settings(settings: Settings, *, handlers: Iterable[object] = ()) -> dict[str, Any]:
    """The keyword arguments of ``arq.Worker`` for ``settings`` (REDIS_URL required).

    ``handlers``: handler objects to register besides the modules' (``HandlerRegistry.add``):
    instances built with their collaborators, or the handlers of a test."""
    if not settings.redis_url:
        raise ValueError("a worker needs REDIS_URL: its jobs come from arq on Redis")
    timeout = settings.worker_job_timeout
    functions: list[Function] = [
        # keep_result=0: a finished job leaves no key, so the sweeper can enqueue its row again
        # (a job whose report failed); max_tries: arq re-runs a job its worker died in
        func(run_job, name=RUN_JOB, timeout=timeout, keep_result=0, max_tries=3),
        func(fire_timer, name=FIRE_TIMER, timeout=timeout, keep_result=0, max_tries=3),
        func(fire_timers, name=FIRE_TIMERS, timeout=timeout, keep_result=0, max_tries=3),
    ]
    queue = queue_name(settings.redis_prefix)
    return {
        "functions": functions,
        "queue_name": queue,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {SETTINGS: settings, HANDLERS: list(handlers), DRAINING: Draining()},
        "max_jobs": settings.worker_concurrency,
        "job_timeout": timeout,
        "poll_delay": settings.worker_poll_delay,
        "keep_result": 0,
        "max_tries": 3,
        # SIGTERM: no new job is taken, running ones get this long, then are cancelled and
        # re-queued by arq (their rows stay pending): see ``drain_on_signal``
        "job_completion_wait": settings.shutdown_grace_seconds,
        # a key per worker (arq's is one per queue), refreshed every 10 s: the API's
        # /health/details lists the workers seen alive
        "health_check_key": f"{queue}{ARQ_HEALTH_KEY}:{socket.gethostname()}:{os.getpid()}",
        "health_check_interval": 10,
    }


def __getattr__(name: str) -> Any:
    """``WorkerSettings`` for ``arq workers.settings.WorkerSettings``: built on access."""
    if name == "WorkerSettings":
        return worker_settings(Settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- start-up and shut-down -----------------------------------------------------------------


@dataclass
class _Opened:
    """What a worker opened, in the order to close it (last first)."""

    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    sweeper: asyncio.Task[None] | None = None
    stop_sweeping: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        if self.sweeper is not None:
            self.stop_sweeping.set()
            await asyncio.gather(self.sweeper, return_exceptions=True)
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.exception("closing the worker: %s failed", close)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx[SETTINGS]
    opened = _Opened()
    ctx[_OPEN] = opened
    db = Database(settings.sqlalchemy_url, pool_size=settings.database_pool_size)
    opened.closers.append(db.close)
    http = HttpService()
    opened.closers.append(http.aclose)
    registry = handler_registry(settings.handler_modules, http=http)
    for handler in ctx.get(HANDLERS, ()):
        registry.add(handler)
    arq = ArqQueue(cast(str, settings.redis_url), settings.redis_prefix, pool=ctx.get("redis"))
    await arq.start()
    opened.closers.append(arq.stop)
    bus = make_bus(settings)
    await bus.start()
    opened.closers.append(bus.stop)
    relay = OutboxRelay(db, bus)
    executor = Executor(
        registry,
        arq,
        budget_seconds=settings.worker_job_timeout,
        eager=settings.worker_eager,
        concurrency=settings.worker_concurrency,
    )
    workflow = Workflow(db, executor, publisher=relay, vault=vault_from_settings(settings))
    executor.bind(workflow)
    await relay.start()
    opened.closers.append(relay.stop)
    runtime = Runtime(workflow, executor, arq, settings.worker_sweep_interval)
    ctx[RUNTIME] = runtime
    opened.sweeper = asyncio.create_task(
        sweep_forever(runtime, opened.stop_sweeping), name="worker-sweeper"
    )
    # the gauges sampled from the database and the pool (server.metrics), as in the API
    interval = settings.metrics_sample_interval
    sampler = Sampler(partial(operations_stats.read, db), db.engine, interval=interval)
    await sampler.start()
    opened.closers.append(sampler.stop)
    retention = await start_retention(db, settings)  # HISTORY_RETENTION_DAYS; one worker at a time
    opened.closers.append(retention.stop)
    if settings.worker_metrics_port:  # probes and Prometheus: /health/live, /health/ready, /metrics
        draining: Draining = ctx.setdefault(DRAINING, Draining())
        checks = HealthChecks(
            lambda: db,
            lambda: arq.pool,
            draining,
            check_migrations=False,  # the API's readiness says whether the schema is at head
            queue_name=arq.queue_name,
        )
        ops = OpsServer(checks, settings.worker_metrics_port, log_level=settings.log_level)
        await ops.start()
        opened.closers.append(ops.stop)  # closed first
    log.info(
        "worker ready: queue %s, handlers %s, eager %s",
        arq.queue_name,
        ", ".join(s if m is None else f"{s}.{m}" for s, m in registry.registered()),
        settings.worker_eager,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    opened: _Opened | None = ctx.pop(_OPEN, None)
    runtime: Runtime | None = ctx.get(RUNTIME)
    if runtime is not None:
        # results of cancelled jobs may still be committing: let them, before the database
        # closes (a job cancelled before its result committed stays pending: run again)
        await runtime.executor.batcher.idle()
    if opened is not None:
        await opened.close()


def drain_on_signal(worker: Worker) -> None:
    """SIGTERM or SIGINT: drain, then stop. Replaces arq's handlers (call it from the loop
    the worker runs in, after building it).

    The first signal makes readiness answer 503, stops eager runs (what a finishing job hands
    over goes to arq, for another worker), and lets arq stop taking jobs and wait up to
    SHUTDOWN_GRACE_SECONDS for the running ones; then arq cancels the rest and re-queues them
    (a cancelled handler committed nothing: its job row stays pending, and runs again on
    another worker, or is swept). A second signal cancels at once."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, worker, sig)


def _on_signal(worker: Worker, sig: signal.Signals) -> None:
    draining: Draining = worker.ctx.setdefault(DRAINING, Draining())
    if draining.started:
        log.warning("%s again: cancelling the running jobs now (arq re-queues them)", sig.name)
        worker.handle_sig(sig)
        return
    draining.started = True  # readiness: 503 from now on
    runtime: Runtime | None = worker.ctx.get(RUNTIME)
    if runtime is not None:
        runtime.executor.eager = False  # running chains take no more jobs: they go to arq
    settings: Settings = worker.ctx[SETTINGS]
    if settings.shutdown_grace_seconds > 0:  # arq's job_completion_wait; 0: cancel at once
        worker.handle_sig_wait_for_completion(sig)
    else:
        worker.handle_sig(sig)


async def close_worker(worker: Worker) -> None:
    """``Worker.close`` without its deprecated ``Redis.close`` call (redis-py 5 warns):
    wait for running jobs and their last Redis writes, drop the health-check key, shut down,
    close the pool."""
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()
    if finishing := _finishing_writes(worker):
        await asyncio.wait(finishing, timeout=FINISH_WAIT_SECONDS)
    pool = worker.pool
    await pool.delete(worker.health_check_key)
    if worker.on_shutdown is not None:
        await worker.on_shutdown(worker.ctx)
    await pool.aclose()


#: arq shields a job's last Redis writes (``Worker.finish_job``, ``finish_failed_job``) from
#: the job's cancellation: they outlive the cancelled job task. Closing the pool under them
#: would lose the job's result, and a pipeline cut there keeps its connection.
_ARQ_FINISHING: Final = frozenset({"finish_job", "finish_failed_job"})
FINISH_WAIT_SECONDS: Final = 5.0


def _finishing_writes(worker: Worker) -> set[asyncio.Task[Any]]:
    """This worker's shielded writes still running (found by their coroutine: arq keeps no
    reference to them)."""
    found: set[asyncio.Task[Any]] = set()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        if (
            getattr(coro, "__name__", None) in _ARQ_FINISHING
            and frame is not None
            and frame.f_locals.get("self") is worker
        ):
            found.add(task)
    return found
