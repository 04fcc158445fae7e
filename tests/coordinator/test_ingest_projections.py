"""Device events become attendance, attempts, access logs and violations through the services.

Through the worker's own path (store and project in one transaction) on SQLite and PostgreSQL.
Everything is delivered twice: a duplicate must change nothing.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db import models as m
from coordinator.db.enums import AssignmentStatus, DeviceStatus
from coordinator.db.models import Base
from protocols import (
    Access,
    AccessDecision,
    Attempt,
    Attendance,
    AttendanceAction,
    Credential,
    Direction,
    Envelope,
    EventPayload,
    Outcome,
    ReasonCode,
    Sender,
    Severity,
    Station,
    Violation,
    ViolationType,
)
from protocols.bundle import PersonKind, person_ref
from tests.coordinator.campus import Campus, build_campus
from tests.coordinator.ingest_helpers import push, running_worker

IN, OUT = AttendanceAction.CHECK_IN, AttendanceAction.CHECK_OUT


@pytest.fixture
def campus(sessions: sessionmaker[Session]) -> Iterator[Campus]:
    with sessions() as session:
        campus = build_campus(session)
        session.get_one(m.Assignment, campus.own.assignment.id).status = AssignmentStatus.ACCEPTED
        session.add(
            m.SessionEnrolment(session_id=campus.own.session.id, student_id=campus.student.id)
        )
        session.add(
            m.Device(
                id="gate-a",
                site_id=campus.site.id,
                gate_id=campus.own.gate.id,
                profile="gate-station",
                status=DeviceStatus.ACTIVE,
            )
        )
        session.add(
            m.Device(
                id="door-old", site_id=campus.site.id, profile="door", status=DeviceStatus.RETIRED
            )
        )
        session.commit()
    yield campus


def _deliver_twice(sessions: sessionmaker[Session], envelopes: list[Envelope]) -> None:
    with running_worker(sessions) as (worker, fake):
        for envelope in [*envelopes, *envelopes]:
            push(fake, envelope, site="main")
        assert fake.wait_acked(2 * len(envelopes))
        assert worker.state == "connected"


def _count(session: Session, model: type[Base], **where: Any) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    return session.scalar(query) or 0


def test_a_supervisors_check_in_and_out_set_the_assignment_and_add_attendance(
    sessions: sessionmaker[Session], campus: Campus
) -> None:
    door = Sender(campus.own.device.id)
    supervisor = person_ref(PersonKind.USER, campus.own.supervisor.id)
    assignment_ref = str(campus.own.assignment.id)
    check_in, check_out = (
        door.sequenced(Attendance(action=a, person_ref=supervisor, assignment_ref=assignment_ref))
        for a in (IN, OUT)
    )
    _deliver_twice(sessions, [check_in, check_out])
    with sessions() as session:
        assignment = session.get_one(m.Assignment, campus.own.assignment.id)
        assert assignment.status is AssignmentStatus.CHECKED_OUT
        assert assignment.checked_in_at == check_in.device_time
        assert assignment.checked_out_at == check_out.device_time
        rows = session.scalars(
            select(m.AttendanceRecord).where(m.AttendanceRecord.event_id.is_not(None))
        ).all()
        assert [(r.action, r.device_id) for r in rows] == [(IN, "door-a"), (OUT, "door-a")]


def test_a_students_attendance_is_recorded_for_their_exam_session(
    sessions: sessionmaker[Session], campus: Campus
) -> None:
    student = person_ref(PersonKind.STUDENT, campus.student.id)
    key = f"{student}@{campus.own.session.id}"
    arrive = Sender("door-a").sequenced(
        Attendance(action=IN, person_ref=student, assignment_ref=key)
    )
    _deliver_twice(sessions, [arrive])
    with sessions() as session:
        assert _count(session, m.AttendanceRecord, student_id=campus.student.id) == 1


def test_attempts_access_and_violations_become_their_records(
    sessions: sessionmaker[Session], campus: Campus
) -> None:
    door, gate = Sender("door-a"), Sender("gate-a")
    student = person_ref(PersonKind.STUDENT, campus.student.id)
    payloads: list[tuple[Sender, EventPayload]] = [
        (
            door,
            Attempt(
                station=Station.DOOR,
                credential=Credential.CARD,
                outcome=Outcome.REFUSED,
                reason=ReasonCode.FACE_MISMATCH,
                subject_ref=person_ref(PersonKind.USER, campus.own.supervisor.id),
                face_distance=0.9,
            ),
        ),
        (
            gate,
            Access(
                decision=AccessDecision.GRANTED,
                reason=ReasonCode.OK,
                direction=Direction.IN,
                credential=Credential.QR_PASS,
                subject_ref=student,
                pass_ref=campus.student_pass.pass_ref,
            ),
        ),
        (
            door,
            Violation(
                violation_type=ViolationType.TAMPER,
                severity=Severity.CRITICAL,
                confidence=0.75,
                evidence_ref="local:crop-1.ppm",
                detail="case opened",
            ),
        ),
    ]
    _deliver_twice(sessions, [sender.sequenced(payload) for sender, payload in payloads])
    with sessions() as session:
        attempt = session.scalars(
            select(m.AttemptRecord).where(m.AttemptRecord.event_id.is_not(None))
        ).one()
        assert (attempt.reason, attempt.user_id) == (
            ReasonCode.FACE_MISMATCH,
            campus.own.supervisor.id,
        )
        access = session.scalars(select(m.AccessLog).where(m.AccessLog.event_id.is_not(None))).one()
        assert (access.gate_id, access.pass_id, access.student_id) == (
            campus.own.gate.id,
            campus.student_pass.id,
            campus.student.id,
        )
        violation = session.scalars(
            select(m.ViolationRecord).where(m.ViolationRecord.device_id == "door-a")
        ).one()
        assert (
            violation.type,
            violation.severity,
            violation.confidence,
            violation.evidence_ref,
        ) == (ViolationType.TAMPER, Severity.CRITICAL, 0.75, "local:crop-1.ppm")


def test_unknown_references_are_stored_flagged_and_never_block_the_batch(
    sessions: sessionmaker[Session], campus: Campus
) -> None:
    tamper = Violation(violation_type=ViolationType.TAMPER, severity=Severity.LOW, confidence=1)
    stranger = person_ref(PersonKind.USER, 99999)
    envelopes = [
        Sender("door-zz").sequenced(tamper),
        Sender("door-old").sequenced(tamper),
        Sender("door-a").sequenced(Attendance(action=IN, person_ref=stranger, assignment_ref="1")),
        Sender("door-a").sequenced(
            Attendance(
                action=IN,
                person_ref=person_ref(PersonKind.USER, campus.own.supervisor.id),
                assignment_ref="777777",
            )
        ),
        Sender("door-b").sequenced(tamper),  # known and registered: projected
    ]
    _deliver_twice(sessions, envelopes)
    with sessions() as session:
        refusals = dict(session.execute(select(m.Event.message_id, m.Event.refusal)).all())
        assert _count(session, m.ViolationRecord, device_id="door-b") == 1
    said = [refusals[e.message_id] for e in envelopes]
    assert said[0] == "device 'door-zz' is not registered"
    assert said[1] == "device 'door-old' is retired"
    assert said[2] is not None and "user-99999 holds no assignment" in said[2]
    assert said[3] is not None and "holds no assignment '777777'" in said[3]
    assert said[4] is None
