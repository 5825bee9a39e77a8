"""The reads behind the subscriptions, on PostgreSQL and SQLite: replays after a cursor,
dashboard counters (and their one shared, throttled snapshot), task visibility."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.queues import RecordingQueue

from server.bus import Hub
from server.db import Database
from server.services import batches, feeds
from server.services.errors import NotFound
from server.services.workflow import Workflow

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _definition(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "version": "1",
        "steps": [
            {"id": "start", "type": "start_event", "next": ["check"]},
            {
                "id": "check",
                "name": "Check",
                "type": "user_task",
                "config": {"candidate_groups": ["managers"]},
                "next": ["done"],
            },
            {"id": "done", "type": "end_event"},
        ],
    }


@pytest.fixture
async def workflow(migrated_db: Database) -> Workflow:
    flow = Workflow(migrated_db, RecordingQueue())
    for key in ("a", "b"):
        await flow.deploy(_definition(key))
    return flow


async def _finish(workflow: Workflow, db: Database, instance_id: int) -> None:
    [[task]] = await batches.tasks(db, [instance_id])
    assert task.id is not None
    await workflow.complete_task(task.id, actor="alice")


async def test_the_history_of_an_instance_after_a_seq(
    workflow: Workflow, migrated_db: Database
) -> None:
    started = await workflow.start(key="a")
    assert started.id is not None
    everything = await feeds.instance_history(migrated_db, started.id, 0)
    seqs = [e["seq"] for e in everything.events]
    assert seqs == list(range(1, len(seqs) + 1)) and everything.instance["seq"] == seqs[-1]
    later = await feeds.instance_history(migrated_db, started.id, 2, limit=1)
    assert [e["seq"] for e in later.events] == [3]
    with pytest.raises(NotFound):
        await feeds.instance_history(migrated_db, 999_999, 0)


async def test_changes_after_a_cursor_give_each_matching_instance_once_in_its_current_state(
    workflow: Workflow, migrated_db: Database
) -> None:
    before = await feeds.last_history_id(migrated_db)
    first = await workflow.start(key="a")
    other = await workflow.start(key="b")
    second = await workflow.start(key="a")
    assert first.id and other.id and second.id
    await _finish(workflow, migrated_db, first.id)  # first is now the latest changed

    changes = await feeds.changes_after(migrated_db, before, feeds.ChangeFilter("a"))
    assert [(c.instance["id"], c.instance["status"]) for c in changes] == [
        (second.id, "running"),
        (first.id, "completed"),
    ]
    assert changes[-1].cursor == await feeds.last_history_id(migrated_db)

    page = await feeds.changes_after(migrated_db, before, feeds.ChangeFilter("a"), limit=1)
    rest = await feeds.changes_after(migrated_db, page[0].cursor, feeds.ChangeFilter("a"))
    assert [c.instance["id"] for c in [*page, *rest]] == [second.id, first.id]

    running = await feeds.changes_after(migrated_db, before, feeds.ChangeFilter(status="running"))
    assert {c.instance["id"] for c in running} == {other.id, second.id}
    assert await feeds.changes_after(migrated_db, changes[-1].cursor, feeds.ChangeFilter()) == []


async def test_counters_in_one_statement(workflow: Workflow, migrated_db: Database) -> None:
    empty = await feeds.counters(migrated_db)
    assert (empty.by_definition, empty.open_tasks, empty.open_incidents) == ({}, 0, 0)
    done = await workflow.start(key="a")
    await workflow.start(key="a")
    await workflow.start(key="b")
    assert done.id is not None
    await _finish(workflow, migrated_db, done.id)
    counted = await feeds.counters(migrated_db)
    assert counted.by_definition == {"a": {"running": 1, "completed": 1}, "b": {"running": 1}}
    assert (counted.open_tasks, counted.open_incidents) == (2, 0)


async def test_one_counter_feed_serves_every_watcher_with_one_query_per_refresh(
    workflow: Workflow, migrated_db: Database
) -> None:
    hub = Hub()
    feed = feeds.CounterFeed(migrated_db, hub, interval=0.05)
    watchers = [feed.watch() for _ in range(20)]
    try:
        firsts = await asyncio.wait_for(asyncio.gather(*(anext(w) for w in watchers)), 10)
        assert {f.open_tasks for f in firsts} == {0}
        assert feed.queries == 1  # one query for twenty watchers

        await workflow.start(key="a")
        hub.deliver([{"instance_id": 1}])  # what the relay does after the commit
        fresh = await asyncio.wait_for(asyncio.gather(*(anext(w) for w in watchers)), 10)
        assert {f.open_tasks for f in fresh} == {1}
        assert feed.queries == 2
    finally:
        for watcher in watchers:
            await watcher.aclose()
    assert hub.subscribers == 0  # the last watcher gone, the feed stopped listening


@pytest.mark.parametrize(
    ("task", "user", "groups", "visible"),
    [
        ({"assignee": "alice"}, "alice", (), True),
        ({"assignee": "bob", "candidate_groups": ["managers"]}, "alice", ("managers",), True),
        ({"candidate_users": ["alice"]}, "alice", (), True),
        ({"candidate_groups": ["managers"]}, "alice", ("clerks",), False),
        ({"assignee": "bob"}, "alice", ("managers",), False),
        ({"candidate_groups": ["managers"]}, None, ("managers",), False),
    ],
)
def test_who_may_see_a_task(
    task: dict[str, Any], user: str | None, groups: tuple[str, ...], visible: bool
) -> None:
    assert feeds.may_see_task(task, user, groups) is visible
