"""outbox for the event bus; external jobs (fetch-and-lock by topic)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 08:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types of server/models.py, written out so that this revision never changes with them.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(
            sa.Column("external", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        jobs.add_column(sa.Column("worker_id", sa.String(length=200), nullable=True))
        jobs.add_column(sa.Column("locked_until", WHEN, nullable=True))
    op.create_index(
        "ix_jobs_external_topic", "jobs", ["external", "service_name", "status", "run_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_external_topic", table_name="jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("locked_until")
        jobs.drop_column("worker_id")
        jobs.drop_column("external")
    op.drop_table("outbox")
