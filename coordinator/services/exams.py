"""Exams, their sessions in rooms, and which students are expected; the caller owns the transaction.

The rules: a session ends after it starts, and moving or stretching it must not make one of its
supervisors overlap another of their assignments; a manager changes or deletes an exam only when
every session of it is in their buildings (an exam not yet held anywhere is everyone's).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.models import AttendanceRecord, Exam, ExamSession, Room, SessionEnrolment
from coordinator.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from coordinator.schemas import exams as s
from coordinator.services import assignments, records
from coordinator.services.audit import Actor
from coordinator.services.placements import EXAM_SESSIONS
from coordinator.services.scope import Scope
from protocols import AttendanceAction

ENDS_MESSAGE = "ends_at must be after starts_at"
ELSEWHERE_MESSAGE = "this exam is also held in buildings you do not manage"


def find_by_code(session: Session, code: str) -> Exam | None:
    return session.scalar(select(Exam).where(Exam.code == code))


def create_exam(session: Session, *, data: s.ExamCreate, actor: Actor, scope: Scope) -> Exam:
    exam = Exam(**data.model_dump())
    return records.create(session, exam, actor=actor, scope=scope, placement=None, what="exam")


def update_exam(
    session: Session, exam: Exam, *, changes: s.ExamUpdate, actor: Actor, scope: Scope
) -> Exam:
    values = records.given(changes, Exam)
    if any(getattr(exam, name) != value for name, value in values.items()):
        _require_whole_exam(session, exam, scope)
    return records.update(
        session, exam, values, actor=actor, scope=scope, placement=None, what="exam"
    )


def remove_exam(session: Session, exam: Exam, *, actor: Actor, scope: Scope) -> None:
    _require_whole_exam(session, exam, scope)
    records.delete(session, exam, actor=actor, what="exam")


def _require_whole_exam(session: Session, exam: Exam, scope: Scope) -> None:
    buildings = session.scalars(
        select(Room.building_id)
        .join(ExamSession, ExamSession.room_id == Room.id)
        .where(ExamSession.exam_id == exam.id)
    )
    if not all(scope.sees_building(building) for building in buildings):
        raise ForbiddenError(ELSEWHERE_MESSAGE, field="code")


def find_session(session: Session, session_id: int, *, scope: Scope) -> ExamSession:
    """An exam session the caller may see (supervisors: one they have not declined)."""
    return records.find(
        session, ExamSession, session_id, scope=scope, placement=EXAM_SESSIONS, what="exam session"
    )


def find_session_at(
    session: Session, *, exam_id: int, room_id: int, starts_at: datetime
) -> ExamSession | None:
    return session.scalar(
        select(ExamSession).where(
            ExamSession.exam_id == exam_id,
            ExamSession.room_id == room_id,
            ExamSession.starts_at == starts_at,
        )
    )


def create_session(
    session: Session, *, data: s.ExamSessionCreate, actor: Actor, scope: Scope
) -> ExamSession:
    if data.ends_at <= data.starts_at:
        raise InvalidInputError(ENDS_MESSAGE, field="ends_at")
    exam_session = ExamSession(**data.model_dump())
    return records.create(
        session,
        exam_session,
        actor=actor,
        scope=scope,
        placement=EXAM_SESSIONS,
        what="exam session",
    )


def update_session(
    session: Session,
    exam_session: ExamSession,
    *,
    changes: s.ExamSessionUpdate,
    actor: Actor,
    scope: Scope,
) -> ExamSession:
    values: dict[str, Any] = records.given(changes, ExamSession)
    starts = values.get("starts_at", exam_session.starts_at)
    ends = values.get("ends_at", exam_session.ends_at)
    if ends <= starts:
        raise InvalidInputError(ENDS_MESSAGE, field="ends_at")
    if (starts, ends) != (exam_session.starts_at, exam_session.ends_at):
        assignments.require_supervisors_free(session, exam_session, starts, ends)
    return records.update(
        session,
        exam_session,
        values,
        actor=actor,
        scope=scope,
        placement=EXAM_SESSIONS,
        what="exam session",
    )


def remove_session(session: Session, exam_session: ExamSession, *, actor: Actor) -> None:
    records.delete(session, exam_session, actor=actor, what="exam session")


def enrol_student(
    session: Session, exam_session: ExamSession, *, student_id: int, actor: Actor, scope: Scope
) -> SessionEnrolment:
    """Expect a student at a session the caller has found (and so may see)."""
    if session.get(SessionEnrolment, (exam_session.id, student_id)) is not None:
        raise ConflictError("this student is already enrolled in this exam session")
    enrolment = SessionEnrolment(session_id=exam_session.id, student_id=student_id)
    return records.create(
        session, enrolment, actor=actor, scope=scope, placement=None, what="enrolment"
    )


def unenrol_student(
    session: Session, exam_session: ExamSession, *, student_id: int, actor: Actor
) -> None:
    enrolment = session.get(SessionEnrolment, (exam_session.id, student_id))
    if enrolment is None:
        raise NotFoundError("this student is not enrolled in this exam session")
    records.delete(session, enrolment, actor=actor, what="enrolment")


def record_student_attendance(
    session: Session,
    *,
    session_id: int,
    student_id: int,
    action: AttendanceAction,
    at: datetime,
    device_id: str | None = None,
    event_id: int | None = None,
) -> AttendanceRecord:
    """A station saw an enrolled student arrive or leave; a repeat keeps the first record."""
    if session.get(SessionEnrolment, (session_id, student_id)) is None:
        raise NotFoundError(f"student {student_id} is not enrolled in exam session {session_id}")
    earlier = session.scalars(
        select(AttendanceRecord).where(
            AttendanceRecord.session_id == session_id,
            AttendanceRecord.student_id == student_id,
            AttendanceRecord.action == action,
        )
    ).first()
    if earlier is not None:
        return earlier
    record = AttendanceRecord(
        session_id=session_id,
        student_id=student_id,
        action=action,
        at=at,
        device_id=device_id,
        event_id=event_id,
    )
    session.add(record)
    session.flush()
    return record
