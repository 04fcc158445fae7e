"""What happened: attendance, attempts, passes, applications, access, violations, notices."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.db.enums import (
    PassApplicationStatus,
    PassStatus,
    ViolationStatus,
)
from coordinator.db.models.base import Base, UtcDateTime, str_enum, utc_now, wire_enum
from protocols import (
    AccessDecision,
    AttendanceAction,
    Credential,
    Direction,
    Outcome,
    ReasonCode,
    Severity,
    Station,
    ViolationType,
)

# --- what happened --------------------------------------------------------------------------------


class AttendanceRecord(Base):
    """A check-in or check-out of a supervisor or student at an exam session."""

    __tablename__ = "attendance"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (student_id IS NULL)", name="one_person"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="RESTRICT"))
    action: Mapped[AttendanceAction] = mapped_column(str_enum(AttendanceAction))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"))


class AttemptRecord(Base):
    """Every decision a device made, accepted or refused, with its reason."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="RESTRICT"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    station: Mapped[Station] = mapped_column(str_enum(Station))
    credential: Mapped[Credential] = mapped_column(str_enum(Credential))
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome))
    reason: Mapped[ReasonCode] = mapped_column(wire_enum(ReasonCode))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="RESTRICT"))
    face_distance: Mapped[float | None] = mapped_column(Float)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"))


class StudentPass(Base):
    """A signed pass issued to a student; `pass_ref` is the id inside the QR payload.

    Filed under the building whose managers handle it (`building_id`; None for passes issued
    before applications existed, which only admins see). `status` follows the life cycle in
    services/passes.py; a reissued pass names the pass it replaced in `replaces_id`.
    """

    __tablename__ = "passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_ref: Mapped[str] = mapped_column(String(64), unique=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="RESTRICT"), index=True
    )
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="RESTRICT"), index=True
    )
    zones: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    status: Mapped[PassStatus] = mapped_column(str_enum(PassStatus), default=PassStatus.ACTIVE)
    # Why and when the pass was last suspended, resumed or expired early.
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("passes.id", ondelete="RESTRICT"))


class PassApplication(Base):
    """A student's application for a pass, entered by staff on the student's behalf.

    draft → submitted → approved (the pass is issued: `pass_id`) or rejected (`decision_reason`).
    """

    __tablename__ = "pass_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="RESTRICT"), index=True
    )
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="RESTRICT"), index=True
    )
    zones: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[PassApplicationStatus] = mapped_column(
        str_enum(PassApplicationStatus), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("passes.id", ondelete="RESTRICT"))


class PassLink(Base):
    """A one-time link through which a student opens their pass on a phone (services/pass_links).

    Only a hash of the token is kept. Claiming the link binds the phone's public key into the
    pass and spends the link; `holder_key` is that key, kept to show which phone holds the pass.
    """

    __tablename__ = "pass_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    holder_key: Mapped[str | None] = mapped_column(String(64))


class AccessLog(Base):
    """A gate's decision on someone passing."""

    __tablename__ = "access_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id", ondelete="RESTRICT"), index=True)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    decision: Mapped[AccessDecision] = mapped_column(str_enum(AccessDecision))
    reason: Mapped[ReasonCode] = mapped_column(wire_enum(ReasonCode))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="RESTRICT"))
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("passes.id", ondelete="RESTRICT"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"))


class ViolationRecord(Base):
    """A violation raised by a device, a rule or a supervisor, and its review."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[ViolationType] = mapped_column(str_enum(ViolationType))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    status: Mapped[ViolationStatus] = mapped_column(str_enum(ViolationStatus), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="RESTRICT"), index=True
    )
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    confidence: Mapped[float] = mapped_column(Float)
    evidence_ref: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(String(500))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notes: Mapped[str | None] = mapped_column(Text)


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
