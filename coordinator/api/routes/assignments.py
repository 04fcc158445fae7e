"""Supervisor assignments: planners propose and manage, supervisors accept or decline their own."""

from typing import Any

from fastapi import APIRouter, Depends

from coordinator.api.crud import Filters, Resource, crud_router, removing
from coordinator.api.deps import PLANNERS, ActorDep, CurrentUser, ScopeDep, SessionDep, allow
from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import Assignment
from coordinator.schemas import exams as s
from coordinator.schemas.common import Id
from coordinator.services import assignments, exams
from coordinator.services.placements import ASSIGNMENTS

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR
SUPERVISOR_ONLY = Depends(allow(Role.SUPERVISOR))


class AssignmentFilters(Filters):
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
    remove=removing(assignments.remove),
    placement=ASSIGNMENTS,
)

actions = APIRouter(prefix="/assignments", tags=["assignments"])


@actions.post("", response_model=s.AssignmentPublic, status_code=201, dependencies=[PLANNERS])
def propose_assignment(
    body: s.AssignmentCreate, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> s.AssignmentPublic:
    """Propose a supervisor for an exam session; refused if it overlaps another of theirs."""
    exams.find_session(session, body.session_id, scope=scope)
    assignment = assignments.propose(
        session,
        session_id=body.session_id,
        supervisor_id=body.supervisor_id,
        actor=actor,
        scope=scope,
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
    assignment = assignments.find(session, assignment_id, scope=scope)
    assignments.set_status(session, assignment, status=body.status, actor=actor)
    session.commit()
    return s.AssignmentPublic.model_validate(assignment)


@actions.post(
    "/{assignment_id}/attendance", response_model=s.AssignmentPublic, dependencies=[PLANNERS]
)
def override_attendance(
    assignment_id: Id,
    body: s.AttendanceOverride,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
) -> s.AssignmentPublic:
    """Record a check-in or check-out the door station could not, with the reason; audited."""
    assignment = assignments.find(session, assignment_id, scope=scope)
    assignments.override(
        session, assignment, action=body.action, at=body.at, reason=body.reason, actor=actor
    )
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
    assignment = assignments.find(session, assignment_id, scope=scope)
    assignments.answer(session, assignment, supervisor_id=user.id, accept=accept, actor=actor)
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
