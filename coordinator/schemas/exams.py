"""Exams, exam sessions, enrolments and supervisor assignments."""

from datetime import datetime

from pydantic import Field

from coordinator.db.enums import AssignmentStatus
from coordinator.schemas.common import Code, Id, Instant, Name, Public, Strict, Text
from protocols import AttendanceAction


class ExamCreate(Strict):
    code: Code
    title: Name


class ExamUpdate(Strict):
    title: Name | None = None


class ExamPublic(Public):
    id: int
    code: str
    title: str


class ExamSessionCreate(Strict):
    exam_id: Id
    room_id: Id
    starts_at: Instant = Field(description="With an offset; stored in UTC.")
    ends_at: Instant


class ExamSessionUpdate(Strict):
    room_id: Id | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class ExamSessionPublic(Public):
    id: int
    exam_id: Id
    room_id: Id
    starts_at: datetime
    ends_at: datetime


class EnrolmentCreate(Strict):
    student_id: Id


class EnrolmentPublic(Public):
    session_id: Id
    student_id: Id


class AssignmentCreate(Strict):
    session_id: Id
    supervisor_id: Id


class AssignmentUpdate(Strict):
    """Planners move the life cycle; check-in and check-out come from the door station."""

    status: AssignmentStatus


class AttendanceOverride(Strict):
    """A planner records a check-in or check-out the door station could not; audited."""

    action: AttendanceAction
    at: Instant
    reason: Text = Field(description="Why the door station's record is overridden.")


class AssignmentPublic(Public):
    id: int
    session_id: Id
    supervisor_id: Id
    status: AssignmentStatus
    checked_in_at: datetime | None
    checked_out_at: datetime | None
