"""Ingest delivery: bounded dead letters, late and refused events, sequence gaps, presence.

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("refusal", sa.String(500), nullable=True))
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("size", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_dead_letters_received_at", ["received_at"])
    op.create_table(
        "device_sequences",
        sa.Column("device_id", sa.String(63), primary_key=True),
        sa.Column("boot_id", sa.Uuid(), primary_key=True),
        sa.Column("high_seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "sequence_gaps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.String(63), nullable=False),
        sa.Column("boot_id", sa.Uuid(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("first_seq <= last_seq", name="ck_sequence_gaps_ordered"),
    )
    op.create_index("ix_sequence_gaps_device_boot", "sequence_gaps", ["device_id", "boot_id"])
    op.create_index("ix_sequence_gaps_closed_at", "sequence_gaps", ["closed_at"])
    op.create_table(
        "device_presence",
        sa.Column("device_id", sa.String(63), primary_key=True),
        sa.Column("is_online", sa.Boolean(), nullable=False),
        sa.Column("boot_id", sa.Uuid(), nullable=True),
        sa.Column("born_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_version", sa.String(40), nullable=True),
        sa.Column("bundle_version", sa.Integer(), nullable=True),
        sa.Column("health", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_presence")
    op.drop_index("ix_sequence_gaps_closed_at", table_name="sequence_gaps")
    op.drop_index("ix_sequence_gaps_device_boot", table_name="sequence_gaps")
    op.drop_table("sequence_gaps")
    op.drop_table("device_sequences")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_received_at")
        batch_op.drop_column("size")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("refusal")
        batch_op.drop_column("late")
