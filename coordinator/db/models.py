"""Database tables (SQLAlchemy 2, typed). Only Alembic migrations change the schema."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from coordinator.db.enums import (
    AssignmentStatus,
    CommandState,
    DeviceStatus,
    GateDirection,
    PassApplicationStatus,
    PassStatus,
    RemoteCommand,
    Role,
    StudentStatus,
    ViolationStatus,
)
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


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def wire_enum(enum: type[StrEnum]) -> Enum:
    """A vocabulary of the wire (`protocols`), which grows with the devices: VARCHAR(64), no CHECK.

    The protocol refuses unknown values before anything is stored, so a CHECK constraint would
    only make every new reason code a migration, and a newer device's valid event unstorable.
    """
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=64,
        values_callable=lambda members: [member.value for member in members],
        name=enum.__name__.lower(),
        validate_strings=True,
    )


def str_enum(enum: type[StrEnum]) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, storing the values."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum),
        values_callable=lambda members: [member.value for member in members],
        name=enum.__name__.lower(),
        validate_strings=True,
    )


class Base(DeclarativeBase):
    # Deterministic constraint names, so migrations can drop what they created on both backends.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(Base):
    """One message a device sent (events, state and acks), stored exactly once.

    The unique (device_id, message_id) pair is what makes redelivery harmless.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("device_id", "message_id", name="uq_events_device_message"),
        Index("ix_events_device_boot_seq", "device_id", "boot_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[uuid.UUID]
    device_id: Mapped[str] = mapped_column(String(63), index=True)
    site: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    boot_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    device_time: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    replayed: Mapped[bool]
    late: Mapped[bool] = mapped_column(default=False)  # replayed, or filled a sequence gap
    # Why the event could not become a domain record (unknown person, unregistered device, ...).
    refusal: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class DeadLetter(Base):
    """A message that could not be read, kept with the reason so nothing is silently dropped.

    `body` is at most a bounded prefix of what arrived; `size` is how long the whole body was.
    """

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)


class DeviceSequence(Base):
    """The highest sequence number seen per (device, boot): where the next gap would start."""

    __tablename__ = "device_sequences"

    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    boot_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    high_seq: Mapped[int] = mapped_column(Integer)


class SequenceGap(Base):
    """Sequence numbers of one boot not (yet) received: first_seq..last_seq, both included.

    Narrowed or split as late messages fill it; closed (closed_at set) when nothing is missing.
    """

    __tablename__ = "sequence_gaps"
    __table_args__ = (
        Index("ix_sequence_gaps_device_boot", "device_id", "boot_id"),
        CheckConstraint("first_seq <= last_seq", name="ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63))
    boot_id: Mapped[uuid.UUID]
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class DevicePresence(Base):
    """Whether a device is online, from its retained birth and death and its heartbeats.

    Keyed by the wire's device id, registered or not, so a technician sees a new device arrive.
    """

    __tablename__ = "device_presence"

    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    is_online: Mapped[bool]
    boot_id: Mapped[uuid.UUID | None]
    born_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    agent_version: Mapped[str | None] = mapped_column(String(40))
    bundle_version: Mapped[int | None] = mapped_column(Integer)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- places ---------------------------------------------------------------------------------------


class Site(Base):
    """A campus; `code` is its MQTT topic level, `time_zone` rules schedules and display."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_buildings_site_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))


class Room(Base):
    """An exam room; the door station checks it is within `geofence_radius_m` of the centre."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("building_id", "code", name="uq_rooms_building_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int]
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geofence_radius_m: Mapped[float | None] = mapped_column(Float)


class Gate(Base):
    """A campus gate into a zone."""

    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_gates_site_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(63))
    direction: Mapped[GateDirection] = mapped_column(str_enum(GateDirection))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geofence_radius_m: Mapped[float | None] = mapped_column(Float)


class GateTimeRule(Base):
    """When a gate lets people through: on these ISO weekdays (1 = Monday), from `opens` until
    `closes`, in the site's local time. A rule whose `closes` is not after `opens` runs past
    midnight into the next day. No rule for a gate means it is always open."""

    __tablename__ = "gate_time_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id", ondelete="CASCADE"), index=True)
    weekdays: Mapped[list[int]] = mapped_column(JSON)
    opens: Mapped[str] = mapped_column(String(5))  # HH:MM, local to the site
    closes: Mapped[str] = mapped_column(String(5))


class Device(Base):
    """An edge device; `id` is the device id used on the wire."""

    __tablename__ = "devices"
    __table_args__ = (CheckConstraint("room_id IS NULL OR gate_id IS NULL", name="one_place"),)

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="RESTRICT"))
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id", ondelete="RESTRICT"))
    profile: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeviceStatus] = mapped_column(str_enum(DeviceStatus))
    agent_version: Mapped[str | None] = mapped_column(String(40))
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    public_key: Mapped[str | None] = mapped_column(String(100))


# --- people ---------------------------------------------------------------------------------------


class User(Base):
    """A staff member who signs in: admin, manager, supervisor or technician."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The newest TOTP time step accepted: a code is good once, not for its whole window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # Access tokens issued before this moment are refused (password or second factor reset).
    sign_ins_valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime())

    buildings: Mapped[list[Building]] = relationship(secondary="manager_buildings")

    @property
    def building_ids(self) -> list[int]:
        return sorted(building.id for building in self.buildings)


class ManagerBuilding(Base):
    """Which buildings a manager may read and change."""

    __tablename__ = "manager_buildings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="CASCADE"), primary_key=True
    )


class Student(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_number: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[StudentStatus] = mapped_column(str_enum(StudentStatus))


class CardCredential(Base):
    """A card linked to a user or a student; the UID is kept only as a keyed hash."""

    __tablename__ = "card_credentials"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (student_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class FaceTemplate(Base):
    """A person's face embeddings, sealed (AES-GCM); photos are never stored or sent."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


# --- exams ----------------------------------------------------------------------------------------


class Exam(Base):
    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200))


class ExamSession(Base):
    """An exam held in one room for a time window (UTC)."""

    __tablename__ = "exam_sessions"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="RESTRICT"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SessionEnrolment(Base):
    """A student expected at an exam session."""

    __tablename__ = "session_enrolments"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )


class Assignment(Base):
    """A supervisor assigned to an exam session, through its life cycle."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("session_id", "supervisor_id", name="uq_assignments_session_supervisor"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="RESTRICT"), index=True
    )
    supervisor_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[AssignmentStatus] = mapped_column(str_enum(AssignmentStatus))
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


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


# --- sign-in --------------------------------------------------------------------------------------


class RefreshToken(Base):
    """One refresh token of a rotation family; reuse of a used token revokes the family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The account's role, buildings and credentials when the family began (a digest): a change
    # to any of them ends the family at its next refresh.
    stamp: Mapped[str] = mapped_column(String(64), default="")
    # Whether the family began with a second factor; roles that need one refuse it otherwise.
    second_factor: Mapped[bool] = mapped_column(Boolean, default=False)


class RecoveryCode(Base):
    """A single-use code that stands in for the TOTP second factor."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SignInAttempt(Base):
    """Sign-in attempts, counted per account and per address to slow down guessing."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AccountLink(Base):
    """A one-time link through which a person sets their password: an invite or a reset.

    Only a hash of the link's token is kept; a newer link for the same person voids older ones.
    """

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OutboxMail(Base):
    """Mail waiting for the SMTP server; written in the transaction of the change it reports."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    # Holds a one-time link until sent; emptied once the SMTP server has taken it.
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))


# --- audit ----------------------------------------------------------------------------------------


class AuditEntry(Base):
    """Who changed what, before and after; each row holds the hash of the one before it.

    Rows are only ever inserted. `coordinator audit verify` recomputes the chain and names the
    first row whose content or predecessor no longer matches.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# --- the downlink: bundle signing keys, per-device sync state, remote commands -------------------


class SigningKey(Base):
    """An Ed25519 key that signs bundles; the private half sealed under the root secret.

    Rotation: a new key is added (devices learn it from bundles signed by the active key), then
    activated (it signs from now on; the old key still verifies), then the old one is retired.
    """

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BundleSync(Base):
    """Where one device's bundle stands: stale since when, built, acknowledged or refused."""

    __tablename__ = "bundle_sync"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    stale_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    built_version: Mapped[int] = mapped_column(Integer, default=0)
    built_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    built_hash: Mapped[str | None] = mapped_column(String(64))
    built_bytes: Mapped[int | None] = mapped_column(Integer)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    signed: Mapped[bytes | None] = mapped_column(LargeBinary)
    build_problem: Mapped[str | None] = mapped_column(String(500))
    acked_version: Mapped[int | None] = mapped_column(Integer)
    acked_hash: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refused_version: Mapped[int | None] = mapped_column(Integer)
    refused_reason: Mapped[str | None] = mapped_column(String(500))
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeviceCommand(Base):
    """A remote command to a device: who asked and why, until when it may act, and the result."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_device_issued", "device_id", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    name: Mapped[RemoteCommand] = mapped_column(str_enum(RemoteCommand))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[CommandState] = mapped_column(str_enum(CommandState), index=True)
    result_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(String(500))
