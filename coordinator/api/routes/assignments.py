"""Supervisor assignments: planners propose and manage, supervisors accept or decline their own."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from coordinator.api.crud import Resource, crud_router
from coordinator.api.deps import PLANNERS, ActorDep, CurrentUser, ScopeDep, SessionDep, allow
from coordinator.api.routes.exams import SESSIONS
from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import Assignment
from coordinator.schemas import exams as s
from coordinator.schemas.common import Id
from coordinator.services import assignments as service
from coordinator.services import records
from coordinator.services.placements import ASSIGNMENTS

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR
SUPERVISOR_ONLY = Depends(allow(Role.SUPERVISOR))


class AssignmentFilters(BaseModel):
    session_id: Id | None = None
    supervisor_id: Id | None = None
    status: AssignmentStatus | None = None


ASSIGNMENTS_API = Resource[Assignment](
    what="assignment",
    path="/assignments",
    model=Assignment,
    public=s.AssignmentPublic,
    filters=AssignmentFilters,
    readers=(A, M, S),
    writers=(A, M),
    deletable=True,
    placement=ASSIGNMENTS,
)

actions = APIRouter(prefix="/assignments", tags=["assignments"])


@actions.post("", response_model=s.AssignmentPublic, status_code=201, dependencies=[PLANNERS])
def propose_assignment(
    body: s.AssignmentCreate, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> s.AssignmentPublic:
    """Propose a supervisor for an exam session; refused if it overlaps another of theirs."""
    SESSIONS.find(session, body.session_id, scope)
    service.require_supervisor(session, body.supervisor_id)
    assignment = Assignment(
        session_id=body.session_id,
        supervisor_id=body.supervisor_id,
        status=AssignmentStatus.PROPOSED,
    )
    service.require_free(session, assignment)
    records.create(
        session, assignment, actor=actor, scope=scope, placement=ASSIGNMENTS, what="assignment"
    )
    session.commit()
    return s.AssignmentPublic.model_validate(assignment)


@actions.patch("/{assignment_id}", response_model=s.AssignmentPublic, dependencies=[PLANNERS])
def set_assignment_status(
    assignment_id: Id,
    body: s.AssignmentUpdate,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
) -> s.AssignmentPublic:
    """Move an assignment along its life cycle (e.g. mark a supervisor absent)."""
    assignment = ASSIGNMENTS_API.find(session, assignment_id, scope)
    service.move(session, assignment, body.status, actor)
    session.commit()
    return s.AssignmentPublic.model_validate(assignment)


def _answer(
    assignment_id: Id,
    accept: bool,
    session: SessionDep,
    scope: ScopeDep,
    user: CurrentUser,
    actor: ActorDep,
) -> s.AssignmentPublic:
    assignment = ASSIGNMENTS_API.find(session, assignment_id, scope)
    service.answer(session, assignment, user, accept, actor)
    session.commit()
    return s.AssignmentPublic.model_validate(assignment)


@actions.post(
    "/{assignment_id}/accept", response_model=s.AssignmentPublic, dependencies=[SUPERVISOR_ONLY]
)
def accept_assignment(
    assignment_id: Id, session: SessionDep, scope: ScopeDep, user: CurrentUser, actor: ActorDep
) -> s.AssignmentPublic:
    """The supervisor accepts their proposed assignment."""
    return _answer(assignment_id, True, session, scope, user, actor)


@actions.post(
    "/{assignment_id}/decline", response_model=s.AssignmentPublic, dependencies=[SUPERVISOR_ONLY]
)
def decline_assignment(
    assignment_id: Id, session: SessionDep, scope: ScopeDep, user: CurrentUser, actor: ActorDep
) -> s.AssignmentPublic:
    """The supervisor declines their proposed assignment."""
    return _answer(assignment_id, False, session, scope, user, actor)


routers: list[Any] = [actions, crud_router(ASSIGNMENTS_API)]
