"""A job queue for service tests: it records what the services hand over after commit, and
the test decides when (and whether) that work runs."""

from __future__ import annotations

from collections.abc import Sequence

from server.models import Job, Timer


class RecordingQueue:
    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.timers: list[Timer] = []

    async def submit(self, jobs: Sequence[Job]) -> None:
        self.jobs.extend(jobs)

    async def schedule(self, timers: Sequence[Timer]) -> None:
        self.timers.extend(timers)

    def job(self, step_id: str, instance_id: int | None = None) -> int:
        """The id of the latest job handed over for ``step_id`` (of ``instance_id``)."""
        found = [
            j.id for j in self.jobs if j.step_id == step_id and instance_id in (None, j.instance_id)
        ]
        assert found and found[-1] is not None, f"no job handed over for {step_id}"
        return found[-1]
