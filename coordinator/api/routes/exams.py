"""Exams, exam sessions and who is enrolled in them."""

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, select

from coordinator.api.crud import (
    Filters,
    Limit,
    Offset,
    Resource,
    creating,
    crud_router,
    equal_columns,
    removing,
    updating,
)
from coordinator.api.deps import PLANNERS, ActorDep, ScopeDep, SessionDep
from coordinator.db.enums import Role
from coordinator.db.models import Exam, ExamSession, SessionEnrolment
from coordinator.schemas import exams as s
from coordinator.schemas.common import Code, Id, Instant, Page
from coordinator.services import exams, records
from coordinator.services.placements import EXAM_SESSIONS

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR


class ExamFilters(Filters):
    code: Code | None = None


class ExamSessionFilters(Filters):
    exam_id: Id | None = None
    room_id: Id | None = None
    starts_after: Instant | None = None
    starts_before: Instant | None = None


def session_conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
    assert isinstance(filters, ExamSessionFilters)
    window = {"starts_after": None, "starts_before": None}
    conditions = equal_columns(ExamSession)(filters.model_copy(update=window))
    if filters.starts_after is not None:
        conditions.append(ExamSession.starts_at >= filters.starts_after)
    if filters.starts_before is not None:
        conditions.append(ExamSession.starts_at < filters.starts_before)
    return conditions


EXAMS = Resource[Exam](
    what="exam",
    path="/exams",
    model=Exam,
    public=s.ExamPublic,
    filters=ExamFilters,
    readers=(A, M),
    writers=(A, M),
    create_body=s.ExamCreate,
    create=creating(exams.create_exam),
    update_body=s.ExamUpdate,
    update=updating(exams.update_exam),
    remove=lambda db, exam, caller: exams.remove_exam(
        db, exam, actor=caller.actor, scope=caller.scope
    ),
)
SESSIONS = Resource[ExamSession](
    what="exam session",
    path="/exam-sessions",
    model=ExamSession,
    public=s.ExamSessionPublic,
    filters=ExamSessionFilters,
    readers=(A, M, S),
    writers=(A, M),
    create_body=s.ExamSessionCreate,
    create=creating(exams.create_session),
    update_body=s.ExamSessionUpdate,
    update=updating(exams.update_session),
    remove=removing(exams.remove_session),
    placement=EXAM_SESSIONS,
    conditions=session_conditions,
    order_by=lambda model: [model.starts_at, model.id],
)

enrolments = APIRouter(prefix="/exam-sessions/{session_id}/students", tags=["exam-sessions"])


@enrolments.get("", response_model=Page[s.EnrolmentPublic], dependencies=[PLANNERS])
def list_enrolments(
    session_id: Id, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[s.EnrolmentPublic]:
    """Students enrolled in an exam session."""
    exams.find_session(session, session_id, scope=scope)
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
    exam_session = exams.find_session(session, session_id, scope=scope)
    enrolment = exams.enrol_student(
        session, exam_session, student_id=body.student_id, actor=actor, scope=scope
    )
    session.commit()
    return s.EnrolmentPublic.model_validate(enrolment)


@enrolments.delete("/{student_id}", status_code=204, dependencies=[PLANNERS])
def unenrol_student(
    session_id: Id, student_id: Id, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> Response:
    """No longer expect a student at an exam session."""
    exam_session = exams.find_session(session, session_id, scope=scope)
    exams.unenrol_student(session, exam_session, student_id=student_id, actor=actor)
    session.commit()
    return Response(status_code=204)


routers = [crud_router(EXAMS), crud_router(SESSIONS), enrolments]
