"""A small campus for API tests: building A (the manager's own) and building B (another)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from coordinator.auth.tokens import issue_access_token
from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import (
    AssignmentStatus,
    DeviceStatus,
    GateDirection,
    PassApplicationStatus,
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

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Side:
    """Everything in one building."""

    building: m.Building
    room: m.Room
    gate: m.Gate
    device: m.Device
    session: m.ExamSession
    supervisor: m.User
    assignment: m.Assignment
    attendance: m.AttendanceRecord
    attempt: m.AttemptRecord
    access_log: m.AccessLog
    violation: m.ViolationRecord
    student_pass: m.StudentPass
    pass_application: m.PassApplication
    time_rule: m.GateTimeRule


@dataclass
class Campus:
    site: m.Site
    exam: m.Exam
    student: m.Student
    card: m.CardCredential
    student_pass: m.StudentPass
    admin: m.User
    manager: m.User
    technician: m.User
    own: Side
    other: Side

    def user(self, role: Role) -> m.User:
        return {
            Role.ADMIN: self.admin,
            Role.MANAGER: self.manager,
            Role.TECHNICIAN: self.technician,
            Role.SUPERVISOR: self.own.supervisor,
        }[role]


def _user(session: Session, email: str, role: Role) -> m.User:
    user = m.User(
        email=email,
        full_name=email.split("@", maxsplit=1)[0].title(),
        role=role,
        is_active=True,
        totp_confirmed=False,
    )
    session.add(user)
    return user


def _side(
    session: Session, site: m.Site, exam: m.Exam, student: m.Student, *, name: str, offset_days: int
) -> Side:
    building = m.Building(site_id=site.id, code=f"b-{name}", name=f"Building {name}")
    session.add(building)
    session.flush()
    room = m.Room(
        building_id=building.id,
        code=f"r-{name}",
        name=f"Room {name}",
        capacity=30,
        latitude=52.0,
        longitude=13.0,
        geofence_radius_m=25,
    )
    gate = m.Gate(
        site_id=site.id,
        building_id=building.id,
        code=f"g-{name}",
        name=f"Gate {name}",
        zone="main",
        direction=GateDirection.BOTH,
    )
    session.add_all([room, gate])
    session.flush()
    device = m.Device(
        id=f"door-{name}",
        site_id=site.id,
        room_id=room.id,
        profile="door-station",
        status=DeviceStatus.ACTIVE,
    )
    starts = START + timedelta(days=offset_days)
    exam_session = m.ExamSession(
        exam_id=exam.id, room_id=room.id, starts_at=starts, ends_at=starts + timedelta(hours=2)
    )
    supervisor = _user(session, f"supervisor-{name}@campus.test", Role.SUPERVISOR)
    session.add_all([device, exam_session])
    session.flush()
    assignment = m.Assignment(
        session_id=exam_session.id, supervisor_id=supervisor.id, status=AssignmentStatus.PROPOSED
    )
    attendance = m.AttendanceRecord(
        session_id=exam_session.id,
        user_id=supervisor.id,
        action=AttendanceAction.CHECK_IN,
        at=starts,
        device_id=device.id,
    )
    attempt = m.AttemptRecord(
        device_id=device.id,
        at=starts,
        station=Station.DOOR,
        credential=Credential.CARD,
        outcome=Outcome.ACCEPTED,
        reason=ReasonCode.OK,
        user_id=supervisor.id,
    )
    access_log = m.AccessLog(
        gate_id=gate.id,
        at=starts,
        decision=AccessDecision.GRANTED,
        reason=ReasonCode.OK,
        direction=Direction.IN,
        student_id=student.id,
    )
    violation = m.ViolationRecord(
        type=ViolationType.TAMPER,
        severity=Severity.HIGH,
        status=ViolationStatus.OPEN,
        session_id=exam_session.id,
        reported_by_id=supervisor.id,
        confidence=1.0,
        detail="seal broken",
    )
    student_pass = m.StudentPass(
        pass_ref=f"{name}" * 32,
        student_id=student.id,
        building_id=building.id,
        zones=["main"],
        valid_from=START,
        valid_until=START + timedelta(days=30),
    )
    pass_application = m.PassApplication(
        student_id=student.id,
        building_id=building.id,
        zones=["main"],
        valid_from=START,
        valid_until=START + timedelta(days=30),
        status=PassApplicationStatus.DRAFT,
    )
    time_rule = m.GateTimeRule(
        gate_id=gate.id, weekdays=[1, 2, 3, 4, 5], opens="06:00", closes="23:00"
    )
    session.add_all([assignment, attendance, attempt, access_log, violation])
    session.add_all([student_pass, pass_application, time_rule])
    session.flush()
    return Side(
        building,
        room,
        gate,
        device,
        exam_session,
        supervisor,
        assignment,
        attendance,
        attempt,
        access_log,
        violation,
        student_pass,
        pass_application,
        time_rule,
    )


def build_campus(session: Session) -> Campus:
    site = m.Site(code="main", name="Main campus", time_zone="Europe/Berlin")
    exam = m.Exam(code="math-101", title="Mathematics I")
    student = m.Student(
        student_number="S-0001", full_name="Ada Student", status=StudentStatus.ACTIVE
    )
    session.add_all([site, exam, student])
    session.flush()
    admin = _user(session, "admin@campus.test", Role.ADMIN)
    manager = _user(session, "manager@campus.test", Role.MANAGER)
    technician = _user(session, "technician@campus.test", Role.TECHNICIAN)
    own = _side(session, site, exam, student, name="a", offset_days=0)
    other = _side(session, site, exam, student, name="b", offset_days=1)
    session.add(m.ManagerBuilding(user_id=manager.id, building_id=own.building.id))
    card = m.CardCredential(uid_hash="0" * 64, student_id=student.id, is_active=True)
    student_pass = m.StudentPass(
        pass_ref="p" * 32,
        student_id=student.id,
        zones=["main"],
        valid_from=START,
        valid_until=START + timedelta(days=30),
    )
    session.add_all([card, student_pass])
    session.commit()
    return Campus(site, exam, student, card, student_pass, admin, manager, technician, own, other)


def bearer(settings: Settings, user: m.User) -> dict[str, str]:
    token = issue_access_token(
        settings.secret_key,
        user_id=user.id,
        role=user.role.value,
        second_factor=True,
        lifetime=timedelta(minutes=5),
    )
    return {"Authorization": f"Bearer {token}"}
