"""A worker's ops HTTP server: ``/health/live``, ``/health/ready`` and ``/metrics``.

A worker serves no API, but Kubernetes probes it and Prometheus scrapes it: a small Starlette
app, served by uvicorn in the worker's own event loop (no thread, no process) on
WORKER_METRICS_PORT (9091; 0: none). Liveness answers as long as the loop does; readiness
checks the database (``SELECT 1``) and Redis (``PING``), and answers 503 from the moment the
worker starts to shut down. ``/metrics`` is ``server.metrics``' exposition.
"""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from server import health
from server.metrics import metrics_endpoint
from server.shutdown import EmbeddedServer

log = logging.getLogger(__name__)


def ops_app(checks: health.HealthChecks) -> Starlette:
    app = Starlette(
        routes=[
            Route("/health/live", health.live, methods=["GET"]),
            Route("/health/ready", health.ready, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
    app.state.health = checks  # what health.ready reads
    return app


class OpsServer:
    """The ops app on ``port``, started and stopped with the worker."""

    def __init__(
        self, checks: health.HealthChecks, port: int, host: str = "0.0.0.0", log_level: str = "info"
    ) -> None:
        config = uvicorn.Config(
            ops_app(checks),
            host=host,
            port=port,
            lifespan="off",  # nothing to open: the worker's start-up did
            log_config=None,  # the worker configured logging already
            log_level=log_level,
            access_log=False,  # a probe every few seconds is not news
        )
        self.port = port
        self._server = EmbeddedServer(config)

    async def start(self) -> None:
        """Listen; a port already taken (several workers on one host) is said, not fatal:
        the jobs matter more than the probes, and in Kubernetes each pod has its own ports."""
        try:
            await self._server.start()
        except OSError as error:
            log.warning("no ops HTTP server on WORKER_METRICS_PORT %d: %s", self.port, error)
            return
        log.info("ops HTTP on port %d: /health/live, /health/ready, /metrics", self.port)

    async def stop(self) -> None:
        await self._server.stop()
