"""initial: definitions, users, instances and their work items, history

Revision ID: 0001
Revises:
Create Date: 2026-11-28 05:38:44.950083
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types of server/models.py, written out so that this revision never changes with them.
# BIGINT ids; on SQLite INTEGER, the only type that it auto-increments as a primary key.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)  # aware UTC datetimes (models.UTCDateTime)

# Children before parents: the order in which downgrade drops them.
TABLES = (
    "task_candidates",
    "timers",
    "tasks",
    "message_subscriptions",
    "jobs",
    "incidents",
    "history",
    "instances",
    "users",
    "definitions",
)


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("deployed_at", WHEN, nullable=False),
        sa.Column("deployed_by", sa.String(length=150), nullable=True),
        sa.UniqueConstraint("key", "content_hash"),
        sa.UniqueConstraint("key", "revision"),
    )
    op.create_index("ix_definitions_key", "definitions", ["key"])

    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("groups", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("username"),
    )

    op.create_table(
        "instances",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "definition_id",
            ID,
            sa.ForeignKey("definitions.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("definition_key", sa.String(length=128), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column(
            "parent_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("parent_child_key", sa.String(length=64), nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("started_by", sa.String(length=150), nullable=True),
    )
    op.create_index("ix_instances_definition_id", "instances", ["definition_id"])
    op.create_index("ix_instances_parent_id", "instances", ["parent_id"])
    # Lists, newest first, paged by (started_at, id) cursors.
    op.create_index(
        "ix_instances_key_status_started",
        "instances",
        ["definition_key", "status", "started_at", "id"],
    )
    op.create_index("ix_instances_status_started", "instances", ["status", "started_at", "id"])
    op.create_index("ix_instances_started", "instances", ["started_at", "id"])
    # Lists, most recently changed first, paged by (updated_at, id) cursors.
    op.create_index("ix_instances_status_updated", "instances", ["status", "updated_at", "id"])
    op.create_index("ix_instances_updated", "instances", ["updated_at", "id"])
    # A business key is unique per process, when there is one (partial index on both backends).
    op.create_index(
        "uq_instances_business_key",
        "instances",
        ["definition_key", "business_key"],
        unique=True,
        postgresql_where=sa.text("business_key IS NOT NULL"),
        sqlite_where=sa.text("business_key IS NOT NULL"),
    )

    op.create_table(
        "history",
        sa.Column("id", ID, primary_key=True),
        # No index of its own: the unique (instance_id, seq) serves lookups by instance.
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=True),
        sa.Column("token_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=150), nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.UniqueConstraint("instance_id", "seq"),
    )

    # The work items of an instance; each has the engine's key, unique per instance.
    op.create_table(
        "incidents",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.UniqueConstraint("instance_id", "key"),
    )
    op.create_index("ix_incidents_instance_id", "incidents", ["instance_id"])
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at"])

    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("service_name", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=True),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.UniqueConstraint("instance_id", "key"),
    )
    op.create_index("ix_jobs_instance_id", "jobs", ["instance_id"])
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"])

    op.create_table(
        "message_subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("correlation_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("instance_id", "key"),
    )
    op.create_index(
        "ix_message_subscriptions_instance_id", "message_subscriptions", ["instance_id"]
    )
    op.create_index(
        "ix_message_subscriptions_lookup", "message_subscriptions", ["message", "correlation_key"]
    )

    op.create_table(
        "tasks",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=150), nullable=True),
        sa.Column("candidate_users", JSON, nullable=False),
        sa.Column("candidate_groups", JSON, nullable=False),
        sa.Column("due_at", WHEN, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("form", JSON, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("completed_by", sa.String(length=150), nullable=True),
        sa.Column("outcome", JSON, nullable=True),
        sa.UniqueConstraint("instance_id", "key"),
    )
    op.create_index("ix_tasks_instance_id", "tasks", ["instance_id"])
    # Lists, newest first, paged by (created_at, id) cursors.
    op.create_index("ix_tasks_status_created", "tasks", ["status", "created_at", "id"])
    op.create_index(
        "ix_tasks_status_assignee_created", "tasks", ["status", "assignee", "created_at", "id"]
    )
    # Soonest due first (NULLs last: PostgreSQL's ascending default), by (due_at, id) cursors.
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_at", "id"])
    # Highest priority first, then newest, by (priority, created_at, id) cursors.
    op.create_index("ix_tasks_status_priority", "tasks", ["status", "priority", "created_at", "id"])

    op.create_table(
        "timers",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "instance_id", ID, sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("instance_id", "key"),
    )
    op.create_index("ix_timers_instance_id", "timers", ["instance_id"])
    op.create_index("ix_timers_status_due", "timers", ["status", "due_at"])

    # Who may claim a task, one row each (user or group), for "tasks of my groups" lookups.
    op.create_table(
        "task_candidates",
        sa.Column("task_id", ID, sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(length=8), primary_key=True),
        sa.Column("value", sa.String(length=150), primary_key=True),
    )
    op.create_index("ix_task_candidates_kind_value", "task_candidates", ["kind", "value"])


def downgrade() -> None:
    # A table's indexes and constraints are dropped with it.
    for table in TABLES:
        op.drop_table(table)
