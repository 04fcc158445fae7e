"""One-time links through which a student opens a phone pass (services/pass_links.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pass_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pass_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["pass_id"],
            ["passes.id"],
            name=op.f("fk_pass_links_pass_id_passes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_pass_links_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pass_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pass_links_token_hash")),
    )
    op.create_index(op.f("ix_pass_links_pass_id"), "pass_links", ["pass_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pass_links_pass_id"), table_name="pass_links")
    op.drop_table("pass_links")
