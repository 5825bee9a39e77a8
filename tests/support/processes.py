"""Real API and worker processes for the distributed tests and benchmarks.

A ``Cluster`` starts N API processes (``workflow-engine serve``) and M worker processes
(``workflow-engine worker``) on one PostgreSQL database and one Redis key prefix, as production
runs them, waits until each is ready, and stops (or kills) them. Their output goes to log files
that a failing test prints.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.auth import ENV as AUTH_ENV

BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None
    args: tuple[str, ...] = ()  # of workflow-engine, to start it again (Cluster.restart)

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self, tail: int = 60) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])


@dataclass
class Cluster:
    """API and worker processes sharing one database and one Redis prefix."""

    env: Mapping[str, str]
    logs: Path
    processes: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], port: int | None = None) -> Process:
        log = self.logs / f"{name}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
            "PYTHONUNBUFFERED": "1",
            **AUTH_ENV,  # the servers sign with the tests' secret (support.auth)
            **self.env,
        }
        with log.open("ab") as out:  # a restarted process goes on in its log
            popen = subprocess.Popen(
                [str(BIN / "workflow-engine"), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the test run reaches us, not them
            )
        process = Process(name, popen, log, port, tuple(args))
        self.processes.append(process)
        return process

    def api(self, name: str | None = None, *args: str) -> Process:
        """An API process (``args``: more options of ``serve``, e.g. ``--demo``)."""
        port = free_port()
        name = name or f"api-{len(self.apis) + 1}"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port), *args]
        process = self._spawn(name, serve, port)
        self._wait_http(process)
        return process

    def worker(self, name: str | None = None, *args: str) -> Process:
        name = name or f"worker-{len(self.workers) + 1}"
        process = self._spawn(name, ["worker", *args])
        time.sleep(0.2)
        if not process.alive():
            raise RuntimeError(f"{name} exited at once:\n{process.output()}")
        return process

    def restart(self, process: Process) -> Process:
        """Kill ``process`` (a crash) and start it again: same arguments, same port."""
        process.kill()
        self.processes.remove(process)
        again = self._spawn(process.name, list(process.args), process.port)
        if again.port is not None:
            self._wait_http(again)
        return again

    @property
    def apis(self) -> list[Process]:
        return [p for p in self.processes if p.port is not None]

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.port is None]

    def _wait_http(self, process: Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{process.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{process.url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(
            f"{process.name} not ready in {READY_TIMEOUT_SECONDS}s:\n{process.output()}"
        )

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def report(self) -> str:
        return "\n\n".join(f"--- {p.name} ---\n{p.output()}" for p in self.processes)


@contextlib.contextmanager
def cluster(env: Mapping[str, str], logs: Path) -> Iterator[Cluster]:
    logs.mkdir(parents=True, exist_ok=True)
    running = Cluster(env, logs)
    try:
        yield running
    finally:
        running.stop()
        # the processes' output: pytest shows it when the test failed
        print(running.report(), file=sys.stderr)
