"""authentication: users' password hashes, roles, disabled flag and token version; refresh tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types of server/models.py, written out so that this revision never changes with them.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Users that exist already get no password (they cannot log in until one is set), no role,
    # and are enabled: the server defaults fill the existing rows.
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        users.add_column(sa.Column("roles", JSON, nullable=False, server_default=sa.text("'[]'")))
        users.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        users.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        users.add_column(sa.Column("updated_at", WHEN, nullable=True))

    op.create_table(
        "refresh_tokens",
        sa.Column("id", ID, primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("replaced_by", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family_id", "revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_family", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_user_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    with op.batch_alter_table("users") as users:
        users.drop_column("updated_at")
        users.drop_column("token_version")
        users.drop_column("disabled")
        users.drop_column("roles")
        users.drop_column("password_hash")
