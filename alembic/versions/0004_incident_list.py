"""the root incident list: incidents by (status, created_at, id) and by (created_at, id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The list pages newest first by (created_at, id): the id ends both keys so that a page's
    # cursor is a range scan of the index (server/services/incident_queries.py). The status
    # index keeps its name; what read it by (status, created_at) reads it as well.
    op.drop_index("ix_incidents_status_created", table_name="incidents")
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at", "id"])
    op.create_index("ix_incidents_created", "incidents", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_created", table_name="incidents")
    op.drop_index("ix_incidents_status_created", table_name="incidents")
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at"])
