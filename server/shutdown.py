"""Graceful shutdown of ``workflow-engine serve``: drain, then stop.

uvicorn on SIGTERM closes its listening sockets, asks every connection to finish (an in-flight
request completes; an open websocket is failed with 1012 "service restart" at once), waits
``timeout_graceful_shutdown`` for the requests, then runs the lifespan's shutdown. Two things
are added before that, in ``GracefulServer.shutdown``:

1. ``Draining.begin``: readiness answers 503 from now on, and for SHUTDOWN_DELAY_SECONDS the
   server still accepts and serves (a load balancer that polls readiness, or Kubernetes
   removing the pod's endpoint, stops sending meanwhile);
2. the websockets are closed with 1001 "going away" (not uvicorn's 1012), the code browsers
   and the SPA's client treat as "reconnect elsewhere and resume from your cursor".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn

log = logging.getLogger(__name__)

GOING_AWAY = 1001  # RFC 6455: the endpoint is going away (a server going down)
GOING_AWAY_REASON = "server shutting down: reconnect"


class Draining:
    """Whether this process is shutting down, and what to close when it starts to."""

    def __init__(self) -> None:
        self.started = False
        self._closers: list[Callable[[], Awaitable[object]]] = []

    def on_begin(self, close: Callable[[], Awaitable[object]]) -> None:
        """Run ``close`` when draining begins (after the delay), e.g. close the websockets."""
        self._closers.append(close)

    async def begin(self, delay: float = 0.0) -> None:
        """Turn unready now; after ``delay`` seconds run the closers (once)."""
        if self.started:
            return
        self.started = True
        if delay > 0:
            log.info("shutting down: unready, still serving for %gs", delay)
            await asyncio.sleep(delay)
        for close in self._closers:
            try:
                await close()
            except Exception:
                log.exception("shutting down: %s failed", close)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, draining ``draining`` before its own shutdown (see the module)."""

    def __init__(self, config: uvicorn.Config, draining: Draining, delay: float = 0.0) -> None:
        super().__init__(config)
        self.draining = draining
        self.delay = delay

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.force_exit:  # a second Ctrl-C: no more waiting
            await self.draining.begin(self.delay)
        await super().shutdown(sockets)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server run as a task of an event loop that already handles the signals (the
    arq worker's): it installs no signal handler of its own. ``stop`` ends it."""

    _task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def start(self) -> None:
        """Listen and serve in a task; ``OSError`` if the port cannot be bound. (The socket is
        bound here: uvicorn would log an error and call sys.exit.)"""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.config.host, self.config.port))
            sock.listen(self.config.backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._task = asyncio.create_task(self.serve(sockets=[sock]), name="ops-http")
        while not self.started:
            if self._task.done():
                self._task.result()  # its error
                raise RuntimeError(f"the HTTP server on port {self.config.port} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self.should_exit = True
            await task
