"""Reason codes, a vocabulary of the wire, stored without a CHECK constraint.

The protocol refuses unknown reason codes before anything is stored; the CHECK constraint that
0002 created listed the codes of that day, so every code added since (gate passes, "already
checked in") made a device's valid attempt or access event fail to store.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("attempts", "access_logs")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_reasoncode"), type_="check")
            batch_op.alter_column(
                "reason",
                existing_type=sa.String(length=18),
                type_=sa.String(length=64),
                existing_nullable=False,
            )


def downgrade() -> None:
    # Fails, as it should, while rows hold codes that 0002 did not know.
    known = ", ".join(f"'{code}'" for code in CODES_OF_0002)
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "reason",
                existing_type=sa.String(length=64),
                type_=sa.String(length=18),
                existing_nullable=False,
            )
            batch_op.create_check_constraint(
                op.f(f"ck_{table}_reasoncode"), sa.text(f"reason IN ({known})")
            )


CODES_OF_0002 = [
    "ok",
    "unknown_card",
    "card_suspended",
    "no_face",
    "several_faces",
    "face_quality_low",
    "face_mismatch",
    "face_uncertain",
    "not_live",
    "no_template",
    "outside_geofence",
    "no_assignment",
    "outside_window",
    "pass_malformed",
    "pass_forged",
    "pass_expired",
    "pass_not_yet_valid",
    "pass_revoked",
    "wrong_zone",
    "outside_hours",
    "anti_passback",
    "no_bundle",
    "hardware_fault",
]
