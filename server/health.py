"""Health with levels, for probes and for operators.

- ``GET /health/live``: the process is up and its event loop answers. Touches nothing else:
  a database outage must not make Kubernetes restart every API process.
- ``GET /health/ready``: the process can serve: the database answers ``SELECT 1``, its
  schema is at this code's migration head, Redis answers ``PING`` (with REDIS_URL), and the
  process is not shutting down. 503 names the check that failed and why.
- ``GET /health``: the seed's call, the same checks as readiness, in the seed's shape
  (``{"status": "ok", "database": "ok"}``, ``"redis"`` with REDIS_URL).
- ``GET /health/details``: for operators (a token with ``instances.operate``: operators and
  admins): each check with its latency, the version, the mode, the database pool, the outbox
  backlog, the arq queue's length and the workers seen alive, the uptime.

Probes come every few seconds from every load balancer and kubelet: the checks' outcome is
cached for ``CACHE_SECONDS`` and computed by one caller at a time, the migration revision for
``MIGRATIONS_CACHE_SECONDS``, and every check has a short timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server import migrations
from server.auth.errors import AuthError
from server.auth.roles import Permission
from server.db import Database
from server.metrics_sampler import outbox_lag, pool_connections
from server.rest import auth_error, authenticate
from server.services import operations_stats
from server.shutdown import Draining

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0
CACHE_SECONDS = 1.0
MIGRATIONS_CACHE_SECONDS = 10.0
DETAILS_PERMISSION = Permission.INSTANCES_OPERATE  # held by operators and admins
ARQ_HEALTH_KEY = ":health-check"  # arq's suffix; workers.settings adds the worker's name


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``error`` says why it failed; ``info`` is for the details."""

    name: str
    ok: bool
    latency_ms: float = 0.0
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        return {"status": "ok"} if self.ok else {"status": "failed", "error": self.error}


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g}s"
    text_ = f"{type(error).__name__}: {error}".splitlines()[0]
    return text_[:300]


async def _timed(name: str, probe: Callable[[], Awaitable[dict[str, Any]]]) -> Check:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            info = await probe()
    except Exception as error:
        elapsed = (time.perf_counter() - start) * 1000
        return Check(name, False, round(elapsed, 2), _reason(error))
    return Check(name, True, round((time.perf_counter() - start) * 1000, 2), info=info)


class HealthChecks:
    """The readiness checks of one process, on the resources its getters return when asked
    (the app's lifespan opens them after this object is built)."""

    def __init__(
        self,
        database: Callable[[], Database],
        redis: Callable[[], Redis | None],
        draining: Draining,
        *,
        check_migrations: bool = True,
        queue_name: str | None = None,
        mode: str = "production",
    ) -> None:
        self.database = database
        self.redis = redis
        self.draining = draining
        self.check_migrations = check_migrations
        self.queue_name = queue_name
        self.mode = mode
        self.started = time.monotonic()
        self._lock = asyncio.Lock()
        self._cached: tuple[float, int, list[Check]] | None = None  # (when, id(db), checks)
        self._revision: tuple[float, int, str | None] | None = None
        self._was_ready: bool | None = None
        self._head: str | None = None
        self._known: frozenset[str] = frozenset()

    # --- readiness -------------------------------------------------------------------------

    async def ready(self) -> list[Check]:
        """The checks, at most ``CACHE_SECONDS`` old (the database swapped: fresh)."""
        db = self.database()
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None:
                when, of, checks = self._cached
                if of == id(db) and now - when < CACHE_SECONDS:
                    return checks
            checks = await self._run(db)
            self._cached = (time.monotonic(), id(db), checks)
        self._log_change(checks)
        return checks

    async def _run(self, db: Database) -> list[Check]:
        redis = self.redis()
        probes = [_timed("database", lambda: self._select_one(db))]
        if redis is not None:
            probes.append(_timed("redis", lambda: self._ping(redis)))
        checks = list(await asyncio.gather(*probes))
        if self.check_migrations:
            if checks[0].ok:
                checks.insert(1, await _timed("migrations", lambda: self._at_head(db)))
            else:
                checks.insert(1, Check("migrations", False, error="the database is unavailable"))
        return checks

    async def _select_one(self, db: Database) -> dict[str, Any]:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {}

    async def _ping(self, redis: Redis) -> dict[str, Any]:
        await redis.ping()
        return {}

    async def _at_head(self, db: Database) -> dict[str, Any]:
        """At head, or at a revision this code does not know (a newer release migrated the
        database during a rolling deploy: this process keeps serving, as expand-and-contract
        migrations allow). Behind head, or never migrated: not ready."""
        if self._head is None:
            self._known = migrations.known_revisions()
            self._head = migrations.head()
        now = time.monotonic()
        cached = self._revision
        if (
            cached is not None
            and cached[1] == id(db)
            and now - cached[0] < MIGRATIONS_CACHE_SECONDS
        ):
            revision = cached[2]
        else:
            async with db.engine.connect() as connection:
                revision = await connection.run_sync(migrations.revision_of)
            self._revision = (now, id(db), revision)
        info: dict[str, Any] = {"revision": revision, "head": self._head}
        if revision == self._head:
            return info
        if revision is not None and revision not in self._known:
            return {**info, "note": "the database is at a newer revision than this code"}
        self._revision = None  # look again next time: the migration may be running now
        raise RuntimeError(
            f"the database is at revision {revision or '(empty)'}, this code needs "
            f"{self._head}: run `workflow-engine migrate`"
        )

    def _log_change(self, checks: list[Check]) -> None:
        ready = all(c.ok for c in checks)
        if ready != self._was_ready:
            if ready:
                log.info("ready: %s", ", ".join(c.name for c in checks))
            else:
                failed = "; ".join(f"{c.name}: {c.error}" for c in checks if not c.ok)
                log.warning("not ready: %s", failed)
        self._was_ready = ready

    # --- details ---------------------------------------------------------------------------

    async def details(self) -> dict[str, Any]:
        checks = await self.ready()
        db = self.database()
        outbox = await _timed("outbox", lambda: self._outbox(db))
        queue = await _timed("queue", self._queue)
        return {
            "status": "ok"
            if all(c.ok for c in checks) and not self.draining.started
            else "unavailable",
            "shutting_down": self.draining.started,
            "version": _version(),
            "mode": self.mode,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "checks": {c.name: {**c.brief(), "latency_ms": c.latency_ms, **c.info} for c in checks},
            "database_pool": pool_connections(db.engine),
            "outbox": outbox.info if outbox.ok else {"error": outbox.error},
            "queue": queue.info if queue.ok else {"error": queue.error},
        }

    async def _outbox(self, db: Database) -> dict[str, Any]:
        async with db.reading() as session:
            pending, oldest = await operations_stats.outbox_backlog(session)
        lag = outbox_lag(oldest, datetime.now(UTC))
        return {"pending": pending, "lag_seconds": round(lag, 3)}

    async def _queue(self) -> dict[str, Any]:
        redis = self.redis()
        if redis is None or self.queue_name is None:
            return {"mode": "in-process (no REDIS_URL)"}
        length = await redis.zcard(self.queue_name)
        workers = []
        pattern = f"{self.queue_name}{ARQ_HEALTH_KEY}*"
        async for key in redis.scan_iter(match=pattern, count=100):
            value = await redis.get(key)
            name = key.decode() if isinstance(key, bytes) else str(key)
            report = value.decode() if isinstance(value, bytes) else value
            workers.append({"key": name, "report": report})
        return {"name": self.queue_name, "length": length, "workers_alive": workers}


def _version() -> str:
    try:
        return metadata.version("workflow-engine")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- the endpoints ------------------------------------------------------------------------------


def _checks(request: Request) -> HealthChecks:
    checks: HealthChecks = request.app.state.health
    return checks


async def live(request: Request) -> JSONResponse:
    """Answered by the event loop: nothing else is touched."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    health = _checks(request)
    if health.draining.started:
        body = {"status": "unavailable", "checks": {"shutdown": _SHUTTING_DOWN}}
        return JSONResponse(body, status_code=503)
    checks = await health.ready()
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "unavailable", "checks": {c.name: c.brief() for c in checks}}
    return JSONResponse(body, status_code=200 if ok else 503)


_SHUTTING_DOWN = {"status": "failed", "error": "the process is shutting down"}


async def seed_health(request: Request) -> JSONResponse:
    """The seed's ``GET /health``: readiness, as ``{"status": "ok", "database": "ok"}``."""
    health = _checks(request)
    checks = await health.ready()
    by_name = {c.name: c for c in checks}
    database_ok = by_name["database"].ok and by_name.get("migrations", by_name["database"]).ok
    body: dict[str, Any] = {"status": "ok", "database": "ok" if database_ok else "unavailable"}
    if "redis" in by_name:
        body["redis"] = "ok" if by_name["redis"].ok else "unavailable"
    failed = [f"{c.name}: {c.error}" for c in checks if not c.ok]
    if health.draining.started:
        failed.append(f"shutdown: {_SHUTTING_DOWN['error']}")
    if not failed:
        return JSONResponse(body)
    return JSONResponse({**body, "status": "unavailable", "detail": "; ".join(failed)}, 503)


async def details(request: Request) -> JSONResponse:
    try:
        await authenticate(request, DETAILS_PERMISSION)
    except AuthError as error:
        return auth_error(error)
    return JSONResponse(await _checks(request).details())


def routes() -> list[Route]:
    """The API's health routes; they read ``app.state.health`` (a ``HealthChecks``)."""
    return [
        Route("/health", seed_health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/health/details", details, methods=["GET"]),
    ]
