"""The tables. PostgreSQL is the source of truth; these are its shape (alembic creates them).

One row per deployed definition version (immutable), per instance (its engine state as JSON,
pinned to the version it started on), per open or closed piece of work (user tasks, jobs,
timers, message subscriptions, incidents), and an append-only history of every transition.
Ids are integers, as in the seed's REST calls (``process_definition_id: 123``, ``tasks/789``);
the engine's own ids (``task-4``, ``job-2``) are kept as ``key``, unique per instance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Named constraints on both backends: a later migration can drop or alter one by name (SQLite
# leaves unnamed ones nameless). Migrations pick the names up from this metadata, so it never
# changes once released: a new convention would rename nothing that already exists.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY
ID = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite keeps no zone: it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the service works in aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _fk(
    target: str,
    *,
    index: bool = True,
    nullable: bool = False,
    ondelete: Literal["CASCADE", "RESTRICT"] = "CASCADE",
) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_type=ID,
        foreign_key=target,
        index=index,
        nullable=nullable,
        ondelete=ondelete,
    )


def _id() -> Any:
    return Field(default=None, sa_type=ID, primary_key=True)


def _when(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable)


class User(SQLModel, table=True):
    """A person who works on tasks (groups are the tasks' candidate groups).

    ``password_hash`` is an argon2id hash (None: the user cannot log in with a password, e.g.
    one known only through an external OIDC issuer). ``token_version`` is copied into every
    access token and compared on each request: bumping it (disabling, logout everywhere)
    revokes all of the user's access tokens at once, without a list of revoked token ids."""

    __tablename__ = "users"

    id: int | None = _id()
    username: str = Field(max_length=150, unique=True)
    display_name: str = Field(default="", max_length=200)
    groups: list[str] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = _when()
    password_hash: str | None = Field(default=None, max_length=255)
    roles: list[str] = Field(default_factory=list, sa_type=JSONType)
    disabled: bool = False
    token_version: int = 0
    updated_at: datetime | None = _when(nullable=True)


class RefreshToken(SQLModel, table=True):
    """One refresh token, stored only as its SHA-256 (a database leak gives no usable token).

    Tokens of one login share a ``family_id`` (the session): refreshing revokes the token used
    and issues its successor (``replaced_by``); presenting a revoked token that had a
    successor is a reuse (a stolen copy, or the thief's) and revokes the whole family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id", "revoked_at"),)

    id: int | None = _id()
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = _fk("users.id")
    family_id: str = Field(max_length=32)
    expires_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)
    replaced_by: int | None = Field(default=None, sa_type=ID, nullable=True)
    created_at: datetime = _when()


class Definition(SQLModel, table=True):
    """One deployed version of a process: immutable. ``revision`` counts versions per key;
    redeploying identical content (same ``content_hash``) is a no-op."""

    __tablename__ = "definitions"
    __table_args__ = (
        UniqueConstraint("key", "revision"),
        UniqueConstraint("key", "content_hash"),
    )

    id: int | None = _id()
    key: str = Field(max_length=128, index=True)
    name: str = Field(max_length=200)
    version: str = Field(max_length=64)
    revision: int
    content_hash: str = Field(max_length=64)
    source: dict[str, Any] = Field(sa_type=JSONType)
    deployed_at: datetime = _when()
    deployed_by: str | None = Field(default=None, max_length=150)


class Instance(SQLModel, table=True):
    """A running (or ended) process instance with the engine's state."""

    __tablename__ = "instances"
    __table_args__ = (
        Index(
            "uq_instances_business_key",
            "definition_key",
            "business_key",
            unique=True,
            postgresql_where=text("business_key IS NOT NULL"),
            sqlite_where=text("business_key IS NOT NULL"),
        ),
        Index("ix_instances_key_status_started", "definition_key", "status", "started_at", "id"),
        Index("ix_instances_status_started", "status", "started_at", "id"),
        Index("ix_instances_started", "started_at", "id"),
        Index("ix_instances_status_updated", "status", "updated_at", "id"),  # recently changed
        Index("ix_instances_updated", "updated_at", "id"),
    )

    id: int | None = _id()
    definition_id: int = _fk("definitions.id", ondelete="RESTRICT")  # versions are never deleted
    definition_key: str = Field(max_length=128)
    business_key: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16)
    variables: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    seq: int = 0  # the last history sequence number
    lock_version: int = 0  # bumped by every transition: a second check against lost updates
    parent_id: int | None = _fk("instances.id", nullable=True)
    parent_child_key: str | None = Field(default=None, max_length=64)
    started_at: datetime = _when()
    updated_at: datetime = _when()
    ended_at: datetime | None = _when(nullable=True)
    started_by: str | None = Field(default=None, max_length=150)


class UserTask(SQLModel, table=True):
    """Work for a person; open until completed or withdrawn."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        Index("ix_tasks_status_created", "status", "created_at", "id"),  # the list, newest first
        Index("ix_tasks_status_assignee_created", "status", "assignee", "created_at", "id"),
        Index("ix_tasks_status_due", "status", "due_at", "id"),  # soonest due first
        Index("ix_tasks_status_priority", "status", "priority", "created_at", "id"),
    )

    id: int | None = _id()
    instance_id: int = _fk("instances.id")
    key: str = Field(max_length=64)
    token_id: str = Field(max_length=64)
    step_id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    status: str = Field(default="open", max_length=16)
    assignee: str | None = Field(default=None, max_length=150)
    candidate_users: list[str] = Field(default_factory=list, sa_type=JSONType)
    candidate_groups: list[str] = Field(default_factory=list, sa_type=JSONType)
    due_at: datetime | None = _when(nullable=True)
    priority: int = 50
    form: list[dict[str, Any]] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = _when()
    completed_at: datetime | None = _when(nullable=True)
    completed_by: str | None = Field(default=None, max_length=150)
    outcome: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class TaskCandidate(SQLModel, table=True):
    """Who may claim a task, one row each, so that "tasks of my groups" is an index lookup."""

    __tablename__ = "task_candidates"
    __table_args__ = (Index("ix_task_candidates_kind_value", "kind", "value"),)

    task_id: int = Field(sa_type=ID, foreign_key="tasks.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(max_length=8, primary_key=True)  # user | group
    value: str = Field(max_length=150, primary_key=True)


class Job(SQLModel, table=True):
    """One attempt of a service task. ``idempotency_key`` is what the handler is given.

    An ``external`` job is not run by a worker of ours: a client fetches and locks it by topic
    (its ``service_name``), holds it until ``locked_until``, and reports back through the API."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_external_topic", "external", "service_name", "status", "run_at"),
    )

    id: int | None = _id()
    instance_id: int = _fk("instances.id")
    key: str = Field(max_length=64)
    token_id: str = Field(max_length=64)
    step_id: str = Field(max_length=128)
    service_name: str = Field(max_length=200)
    method: str | None = Field(default=None, max_length=200)
    variables: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    attempt: int = 1
    max_attempts: int = 1
    timeout_seconds: float = 30.0
    status: str = Field(default="pending", max_length=16)  # pending | done | cancelled
    run_at: datetime = _when()
    created_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    external: bool = False
    worker_id: str | None = Field(default=None, max_length=200)  # who holds the lock
    locked_until: datetime | None = _when(nullable=True)


class Timer(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        Index("ix_timers_status_due", "status", "due_at"),
    )

    id: int | None = _id()
    instance_id: int = _fk("instances.id")
    key: str = Field(max_length=64)
    token_id: str = Field(max_length=64)
    step_id: str = Field(max_length=128)
    due_at: datetime = _when()
    status: str = Field(default="pending", max_length=16)  # pending | fired | cancelled


class MessageSubscription(SQLModel, table=True):
    """An instance waiting for a named message (deleted when answered or withdrawn)."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        Index("ix_message_subscriptions_lookup", "message", "correlation_key"),
    )

    id: int | None = _id()
    instance_id: int = _fk("instances.id")
    key: str = Field(max_length=64)
    token_id: str = Field(max_length=64)
    step_id: str = Field(max_length=128)
    message: str = Field(max_length=200)
    correlation_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = _when()


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        # the incident list, newest first by (created_at, id): with a status, and without
        Index("ix_incidents_status_created", "status", "created_at", "id"),
        Index("ix_incidents_created", "created_at", "id"),
    )

    id: int | None = _id()
    instance_id: int = _fk("instances.id")
    key: str = Field(max_length=64)
    token_id: str = Field(max_length=64)
    step_id: str = Field(max_length=128)
    error: str = Field(max_length=64)
    message: str
    status: str = Field(default="open", max_length=16)  # open | resolved
    resolution: str | None = Field(default=None, max_length=16)
    created_at: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True)


class HistoryRecord(SQLModel, table=True):
    """Append-only: one row per transition, numbered per instance."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)

    id: int | None = _id()
    instance_id: int = _fk("instances.id", index=False)
    seq: int
    type: str = Field(max_length=32)
    step_id: str | None = Field(default=None, max_length=128)
    token_id: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=150)
    at: datetime = _when()
    data: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class OutboxRecord(SQLModel, table=True):
    """What subscribers will see of one committed change, written in the change's own
    transaction and deleted once relayed to the event bus: an event is never published for a
    rolled-back change, nor lost after a commit (the relay finds rows a crash left behind)."""

    __tablename__ = "outbox"

    id: int | None = _id()
    payload: dict[str, Any] = Field(sa_type=JSONType)
    created_at: datetime = _when()


def utcnow() -> datetime:
    return datetime.now(UTC)
