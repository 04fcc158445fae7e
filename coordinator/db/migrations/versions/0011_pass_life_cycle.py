"""The pass life cycle: applications, a pass status and its building, and gates' time rules.

Passes stored before this revision become `active`, or `revoked` when they were; they belong to
no building (only admins see them) until they are reissued.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PASS_STATUSES = ("active", "suspended", "revoked", "expired")
APPLICATION_STATUSES = ("draft", "submitted", "approved", "rejected")


def upgrade() -> None:
    _passes_up()
    _applications_up()
    _time_rules_up()


def _passes_up() -> None:
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("building_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    *PASS_STATUSES, name="passstatus", native_enum=False, create_constraint=True
                ),
                nullable=False,
                server_default="active",
            )
        )
        batch_op.add_column(sa.Column("status_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("replaces_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_passes_building_id"), ["building_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_passes_building_id_buildings"),
            "buildings",
            ["building_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_passes_replaces_id_passes"),
            "passes",
            ["replaces_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.execute("UPDATE passes SET status = 'revoked' WHERE revoked_at IS NOT NULL")
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)


def _applications_up() -> None:
    op.create_table(
        "pass_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *APPLICATION_STATUSES,
                name="passapplicationstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("pass_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_pass_applications_student_id_students"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_pass_applications_building_id_buildings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_pass_applications_created_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_pass_applications_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["pass_id"],
            ["passes.id"],
            name=op.f("fk_pass_applications_pass_id_passes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pass_applications")),
    )
    with op.batch_alter_table("pass_applications", schema=None) as batch_op:
        for column in ("student_id", "building_id", "status"):
            batch_op.create_index(
                batch_op.f(f"ix_pass_applications_{column}"), [column], unique=False
            )


def _time_rules_up() -> None:
    op.create_table(
        "gate_time_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gate_id", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("opens", sa.String(length=5), nullable=False),
        sa.Column("closes", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["gates.id"],
            name=op.f("fk_gate_time_rules_gate_id_gates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_time_rules")),
    )
    with op.batch_alter_table("gate_time_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gate_time_rules_gate_id"), ["gate_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gate_time_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gate_time_rules_gate_id"))
    op.drop_table("gate_time_rules")
    with op.batch_alter_table("pass_applications", schema=None) as batch_op:
        for column in ("status", "building_id", "student_id"):
            batch_op.drop_index(batch_op.f(f"ix_pass_applications_{column}"))
    op.drop_table("pass_applications")
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_passes_replaces_id_passes"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_passes_building_id_buildings"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_passes_building_id"))
        batch_op.drop_column("replaces_id")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
        batch_op.drop_constraint(op.f("ck_passes_passstatus"), type_="check")
        batch_op.drop_column("status")
        batch_op.drop_column("building_id")
