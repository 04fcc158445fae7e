"""The campus: places, devices, people and their credentials, exams and assignments."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.db.enums import (
    AssignmentStatus,
    DeviceStatus,
    GateDirection,
    Role,
    StudentStatus,
)
from coordinator.db.models.base import Base, UtcDateTime, str_enum, utc_now

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
