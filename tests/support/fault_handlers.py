"""Handlers for the fault drills: slow on purpose, and each call leaves a line in a log file.

The file (``FAULT_LOG``) is shared by every worker process of a test; appends of a short line
are atomic, so the test can count how often each step's handler really ran (a step may run
twice, when its worker was killed: its transition must still be applied once).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from server.handlers import TaskContext, service


@service("FaultDrill", "step")
async def slow_step(ctx: TaskContext) -> dict[str, Any]:
    path = os.environ.get("FAULT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{ctx.instance_id} {ctx.step_id} {ctx.attempt} {ctx.idempotency_key}\n")
    await asyncio.sleep(float(ctx.variables.get("sleep", 0.5)))
    return {f"{ctx.step_id}_done": True}


DRILL = {
    "name": "Fault drill",
    "key": "fault-drill",
    "version": "1",
    "variables": {"sleep": {"type": "number", "default": 0.5}},
    "steps": [
        {"id": "start", "type": "start_event", "next": ["one"]},
        *(
            {
                "id": step,
                "type": "service_task",
                "config": {
                    "service_name": "FaultDrill",
                    "method": "step",
                    "timeout": "5s",
                    "retry": {"max_attempts": 5, "backoff": "100ms"},
                },
                "next": [following],
            }
            for step, following in (("one", "two"), ("two", "three"), ("three", "done"))
        ),
        {"id": "done", "type": "end_event"},
    ],
}
