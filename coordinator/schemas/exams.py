"""Exams, exam sessions, enrolments and supervisor assignments."""

from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator

from coordinator.db.enums import AssignmentStatus
from coordinator.schemas.common import Code, Id, Name, Public, Strict


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
    starts_at: AwareDatetime = Field(description="With an offset; stored in UTC.")
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> "ExamSessionCreate":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ExamSessionUpdate(Strict):
    room_id: Id | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


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
    """Planners may set any status; supervisors use accept and decline."""

    status: AssignmentStatus


class AssignmentPublic(Public):
    id: int
    session_id: Id
    supervisor_id: Id
    status: AssignmentStatus
    checked_in_at: datetime | None
    checked_out_at: datetime | None
