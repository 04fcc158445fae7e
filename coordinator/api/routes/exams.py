"""Exams, exam sessions and who is enrolled in them."""

from typing import Any

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from coordinator.api.crud import Limit, Offset, Resource, crud_router, equal_columns
from coordinator.api.deps import PLANNERS, ActorDep, ScopeDep, SessionDep
from coordinator.db.enums import Role
from coordinator.db.models import Exam, ExamSession, SessionEnrolment
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas import exams as s
from coordinator.schemas.common import Id, Page
from coordinator.services import records
from coordinator.services.assignments import require_supervisors_free
from coordinator.services.placements import EXAM_SESSIONS

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR


class ExamFilters(BaseModel):
    code: str | None = None


class ExamSessionFilters(BaseModel):
    exam_id: Id | None = None
    room_id: Id | None = None
    starts_after: AwareDatetime | None = None
    starts_before: AwareDatetime | None = None


def session_conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
    assert isinstance(filters, ExamSessionFilters)
    window = {"starts_after": None, "starts_before": None}
    conditions = equal_columns(ExamSession)(filters.model_copy(update=window))
    if filters.starts_after is not None:
        conditions.append(ExamSession.starts_at >= filters.starts_after)
    if filters.starts_before is not None:
        conditions.append(ExamSession.starts_at < filters.starts_before)
    return conditions


def change_session(
    session: Session, record: ExamSession, changes: dict[str, Any]
) -> dict[str, Any]:
    starts = changes.get("starts_at", record.starts_at)
    ends = changes.get("ends_at", record.ends_at)
    if ends <= starts:
        raise ConflictError("ends_at must be after starts_at")
    require_supervisors_free(session, record, starts, ends)
    return changes


EXAMS = Resource[Exam](
    what="exam",
    path="/exams",
    model=Exam,
    public=s.ExamPublic,
    filters=ExamFilters,
    readers=(A, M),
    writers=(A, M),
    create=s.ExamCreate,
    update=s.ExamUpdate,
    deletable=True,
)
SESSIONS = Resource[ExamSession](
    what="exam session",
    path="/exam-sessions",
    model=ExamSession,
    public=s.ExamSessionPublic,
    filters=ExamSessionFilters,
    readers=(A, M, S),
    writers=(A, M),
    create=s.ExamSessionCreate,
    update=s.ExamSessionUpdate,
    deletable=True,
    placement=EXAM_SESSIONS,
    conditions=session_conditions,
    changes=change_session,
    order_by=lambda model: [model.starts_at, model.id],
)

enrolments = APIRouter(prefix="/exam-sessions/{session_id}/students", tags=["exam-sessions"])


@enrolments.get("", response_model=Page[s.EnrolmentPublic], dependencies=[PLANNERS])
def list_enrolments(
    session_id: Id, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[s.EnrolmentPublic]:
    """Students enrolled in an exam session."""
    SESSIONS.find(session, session_id, scope)
    query = select(SessionEnrolment).where(SessionEnrolment.session_id == session_id)
    found, total = records.page(
        session,
        query.order_by(SessionEnrolment.student_id),
        scope=scope,
        placement=None,
        limit=limit,
        offset=offset,
    )
    items = [s.EnrolmentPublic.model_validate(row) for row in found]
    return Page[s.EnrolmentPublic](items=items, total=total, limit=limit, offset=offset)


@enrolments.post("", response_model=s.EnrolmentPublic, status_code=201, dependencies=[PLANNERS])
def enrol_student(
    session_id: Id, body: s.EnrolmentCreate, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> s.EnrolmentPublic:
    """Expect a student at an exam session."""
    SESSIONS.find(session, session_id, scope)
    if session.get(SessionEnrolment, (session_id, body.student_id)) is not None:
        raise ConflictError("this student is already enrolled in this exam session")
    enrolment = SessionEnrolment(session_id=session_id, student_id=body.student_id)
    # The session's building was checked above; create checks the student exists and audits.
    records.create(session, enrolment, actor=actor, scope=scope, placement=None, what="enrolment")
    session.commit()
    return s.EnrolmentPublic.model_validate(enrolment)


@enrolments.delete("/{student_id}", status_code=204, dependencies=[PLANNERS])
def unenrol_student(
    session_id: Id, student_id: Id, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> Response:
    """No longer expect a student at an exam session."""
    SESSIONS.find(session, session_id, scope)
    enrolment = session.get(SessionEnrolment, (session_id, student_id))
    if enrolment is None:
        raise NotFoundError("this student is not enrolled in this exam session")
    records.delete(session, enrolment, actor=actor, what="enrolment")
    session.commit()
    return Response(status_code=204)


routers = [crud_router(EXAMS), crud_router(SESSIONS), enrolments]
