"""An order, end to end, with the generated Python client (workflow_engine_client): log in,
deploy the order process if it is missing, start an order over 1000 (it needs a manager's
approval), follow its events live, approve the task when it appears, and wait for the
instance to complete. Prints every event, then ``completed instance <id>``.

    python examples/clients/python/order.py [--url http://localhost:8080/graphql]
                                            [--user admin] [--password ...]

Environment: WORKFLOW_URL, WORKFLOW_USER, WORKFLOW_PASSWORD (defaults: the demo's admin).
Installs with ``pip install ./frontend-contract/python`` (in this repository's .venv already).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from workflow_engine_client.client import Client
from workflow_engine_client.feeds import instance_events
from workflow_engine_client.session import Session

KEY = "order-processing"
DEFINITION = Path(__file__).resolve().parents[2] / "order-processing.json"
APPROVAL_STEP = "manager_approval"
TIMEOUT = 60.0


def fail(what: str, result: object) -> RuntimeError:
    return RuntimeError(f"{what}: {result!r}")


async def ensure_deployed(client: Client) -> None:
    if (await client.definitions(key=KEY, latest_only=True)).definitions:
        return
    definition = json.loads(DEFINITION.read_text(encoding="utf-8"))
    result = (await client.deploy_definition(definition=definition)).deploy_definition
    if result.typename__ != "DeployDefinitionSuccess":
        raise fail("deploy", result)
    print(f"deployed {result.definition.key} v{result.definition.version}")


async def approve(client: Client, instance_id: int) -> None:
    """Claim the instance's open approval task and approve it."""
    instance = (await client.instance_detail(id=instance_id)).instance
    tasks = [] if instance is None else instance.tasks
    task = next((t for t in tasks if t.step_id == APPROVAL_STEP and t.status == "open"), None)
    if task is None:
        raise RuntimeError(f"no open {APPROVAL_STEP} task on instance {instance_id}")
    claimed = (await client.claim_task(id=task.id)).claim_task
    if claimed.typename__ != "TaskSuccess":
        raise fail("claim", claimed)
    variables = {"approved": True, "comments": "approved by the Python example"}
    done = (await client.complete_task(id=task.id, variables=variables)).complete_task
    if done.typename__ != "TaskSuccess":
        raise fail("complete", done)
    print(f"completed task {done.task.id} ({APPROVAL_STEP}) as {done.task.completed_by}")


async def run(url: str, user: str, password: str) -> int:
    session = await Session.login(url, user, password)
    print(f"logged in as {user}")
    async with await session.client() as client:
        await ensure_deployed(client)
        business_key = f"ORDER-PY-{int(time.time() * 1000)}"
        started = (
            await client.start_instance(
                key=KEY,
                business_key=business_key,
                variables={
                    "order_id": business_key,
                    "customer_id": "CUST-456",
                    "total_amount": 1999.99,
                },
            )
        ).start_instance
        if started.typename__ != "InstanceSuccess":
            raise fail("start", started)
        instance_id = started.instance.id
        print(f"started instance {instance_id} ({business_key})")

        async with asyncio.timeout(TIMEOUT):
            async for event in instance_events(session, instance_id):
                step = f" {event.step_id}" if event.step_id else ""
                print(f"event {event.seq} {event.type_}{step}")
                if event.type_ == "step_entered" and event.step_id == APPROVAL_STEP:
                    await approve(client, instance_id)

        ended = (await client.instance_detail(id=instance_id)).instance
        status = "missing" if ended is None else ended.status
        if status != "COMPLETED":
            print(f"instance {instance_id} ended {status}", file=sys.stderr)
            return 1
        print(f"completed instance {instance_id} ({business_key})")
    await session.logout()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url", default=os.environ.get("WORKFLOW_URL", "http://localhost:8080/graphql")
    )
    parser.add_argument("--user", default=os.environ.get("WORKFLOW_USER", "admin"))
    parser.add_argument("--password", default=os.environ.get("WORKFLOW_PASSWORD", "password123"))
    args = parser.parse_args()
    return asyncio.run(run(args.url, args.user, args.password))


if __name__ == "__main__":
    sys.exit(main())
