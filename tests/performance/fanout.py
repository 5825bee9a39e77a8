"""Fan-out measurement for bench_distributed.py: K websocket subscribers, one event, how long.

The subscribers run in client processes of up to ``PER_PROCESS`` connections each (one Python
process cannot both hold 10,000 sockets and read them promptly on a loaded 2-core machine),
speaking graphql-transport-ws with the ``websockets`` library directly: a full GraphQL client
per socket would measure the client. Each process prints ``ready`` once all its sockets are
subscribed, then, at the end, the arrival time of every event on every socket.

    python tests/performance/fanout.py client --url ws://127.0.0.1:8080/graphql \
        --count 2500 --instance 1 --events 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

PER_PROCESS = 2500
TOKEN_VARIABLE = "FANOUT_TOKEN"  # the bearer token of the client processes
READY_TIMEOUT_SECONDS = 300
HANDSHAKE_ATTEMPTS = 4
EVENTS = 10
PAUSE_SECONDS = 1.5  # between events: each is measured on its own, not queued behind another
SUBSCRIPTION = """subscription Events($id: Int!) {
  instanceEvents(instanceId: $id) { seq type data }
}"""
START = """mutation {
  startInstance(key: "bench-fanout") { ... on InstanceSuccess { instance { id } } }
}"""
SET_VARIABLES = """mutation Tick($id: Int!, $v: JSON!) {
  setVariables(id: $id, variables: $v) { __typename }
}"""
WAITING = {
    "name": "Bench fan-out",
    "key": "bench-fanout",
    "version": "1",
    "steps": [
        {"id": "start", "type": "start_event", "next": ["wait"]},
        {"id": "wait", "type": "receive_task", "config": {"message": "never"}, "next": ["done"]},
        {"id": "done", "type": "end_event"},
    ],
}


# --- the client process --------------------------------------------------------------------------


async def subscriber(
    url: str, instance: int, arrivals: list[tuple[int, float]], ready: asyncio.Event
) -> None:
    """One subscriber; a handshake the busy server dropped is tried again, as a real client
    reconnects (the measured events come after every subscriber is in)."""
    for attempt in range(HANDSHAKE_ATTEMPTS):
        try:
            await _subscribe(url, instance, arrivals, ready)
            return
        except (OSError, websockets.exceptions.InvalidHandshake, TimeoutError):
            if ready.is_set() or attempt == HANDSHAKE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.5 * 2**attempt)


async def _subscribe(
    url: str, instance: int, arrivals: list[tuple[int, float]], ready: asyncio.Event
) -> None:
    async with websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        compression=None,
        open_timeout=120,
        ping_interval=None,
        max_queue=64,
    ) as ws:
        token = os.environ.get(TOKEN_VARIABLE, "")  # the measuring side's bearer token
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        payload = {"query": SUBSCRIPTION, "variables": {"id": instance}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "next":
                event = message["payload"]["data"]["instanceEvents"]
                if event["type"] == "variables_set":  # the ticks; the history replayed first is not
                    arrivals.append((int(event["data"]["variables"]["tick"]), time.time()))
            elif message.get("type") in ("error", "complete"):
                raise RuntimeError(f"subscription ended: {message}")


async def client(url: str, count: int, instance: int, events: int) -> None:
    arrivals: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(subscriber(url, instance, arrivals[i], readies[i])))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # do not flood the server's accept backlog
    waiting = [asyncio.create_task(r.wait()) for r in readies]
    async with asyncio.timeout(READY_TIMEOUT_SECONDS):
        while not all(w.done() for w in waiting):
            if failed := [t for t in tasks if t.done() and t.exception()]:
                raise RuntimeError(f"{len(failed)} subscribers failed: {failed[0].exception()}")
            await asyncio.sleep(0.1)
    print("ready", flush=True)
    deadline = time.time() + events * (PAUSE_SECONDS + 5) + 60
    while time.time() < deadline and any(len(a) < events for a in arrivals):
        await asyncio.sleep(0.2)
        if failed := [t for t in tasks if t.done() and t.exception()]:
            raise RuntimeError(f"{len(failed)} subscribers failed: {failed[0].exception()}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(arrivals), flush=True)


# --- the measuring side ---------------------------------------------------------------------


async def _graphql(
    api: str, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        response = await http.post(f"{api}/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise RuntimeError(str(body["errors"]))
        data: dict[str, Any] = body["data"]
        return data


async def measure_fanout(
    api: str, subscribers: int, events: int = EVENTS, *, headers: dict[str, str]
) -> dict[str, Any]:
    """``headers``: an admin's bearer token; the client processes get it in their
    environment, for their connection_init."""
    await _graphql(
        api,
        "mutation($d: JSON!) { deployDefinition(definition: $d) { __typename } }",
        {"d": WAITING},
        headers,
    )
    started = await _graphql(api, START, {}, headers)
    instance = started["startInstance"]["instance"]["id"]
    ws_url = api.replace("http://", "ws://") + "/graphql"
    processes = math.ceil(subscribers / PER_PROCESS)
    shares = [
        subscribers // processes + (1 if i < subscribers % processes else 0)
        for i in range(processes)
    ]
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "client",
            "--url",
            ws_url,
            "--count",
            str(share),
            "--instance",
            str(instance),
            "--events",
            str(events),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, TOKEN_VARIABLE: headers["Authorization"].removeprefix("Bearer ")},
        )
        for share in shares
    ]
    for process in clients:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=300)
        if line.strip() != b"ready":
            raise RuntimeError(f"a client process failed to subscribe: {line!r}")
    await asyncio.sleep(1.0)  # the last subscriptions reach the hub
    sent: list[float] = []
    for i in range(events):
        sent.append(time.time())
        await _graphql(
            api,
            SET_VARIABLES,
            {"id": instance, "v": {"tick": i}},
            headers,
        )
        await asyncio.sleep(PAUSE_SECONDS)
    latencies: list[float] = []
    missing = 0
    for process in clients:
        out, _ = await process.communicate()
        per_socket: list[list[list[float]]] = json.loads(out.decode().strip().splitlines()[-1])
        for arrivals in per_socket:
            when = {int(tick): at for tick, at in arrivals}
            missing += events - len(when)
            latencies += [at - sent[tick] for tick, at in when.items()]
    ordered = sorted(latencies)
    return {
        "subscribers": subscribers,
        "client_processes": processes,
        "events": events,
        "deliveries": len(ordered),
        "missing": missing,
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1)
        if ordered
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["client"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--instance", type=int, required=True)
    parser.add_argument("--events", type=int, default=EVENTS)
    args = parser.parse_args()
    asyncio.run(client(args.url, args.count, args.instance, args.events))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
