"""Violations: listed by scope, reported by staff, reviewed by planners."""

from typing import Any

from fastapi import APIRouter, Depends

from coordinator.api.crud import Filters, Resource, crud_router
from coordinator.api.deps import PLANNERS, ActorDep, CurrentUser, ScopeDep, SessionDep, allow
from coordinator.db.enums import Role, ViolationStatus
from coordinator.db.models import ViolationRecord
from coordinator.schemas import records as s
from coordinator.schemas.common import Id, WireId
from coordinator.services import violations
from coordinator.services.placements import VIOLATIONS
from protocols import Severity, ViolationType

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR


class ViolationFilters(Filters):
    status: ViolationStatus | None = None
    type: ViolationType | None = None
    severity: Severity | None = None
    session_id: Id | None = None
    device_id: WireId | None = None


VIOLATIONS_API = Resource[ViolationRecord](
    what="violation",
    path="/violations",
    model=ViolationRecord,
    public=s.ViolationPublic,
    filters=ViolationFilters,
    readers=(A, M, S),
    placement=VIOLATIONS,
    order_by=lambda model: [model.raised_at.desc(), model.id.desc()],
)

actions = APIRouter(prefix="/violations", tags=["violations"])


@actions.post(
    "", response_model=s.ViolationPublic, status_code=201, dependencies=[Depends(allow(A, M, S))]
)
def report_violation(
    body: s.ViolationReport,
    session: SessionDep,
    scope: ScopeDep,
    user: CurrentUser,
    actor: ActorDep,
) -> s.ViolationPublic:
    """Report a violation at an exam session (supervisors: one they supervise)."""
    violation = violations.report(session, data=body, reporter=user, actor=actor, scope=scope)
    session.commit()
    return s.ViolationPublic.model_validate(violation)


@actions.post("/{violation_id}/review", response_model=s.ViolationPublic, dependencies=[PLANNERS])
def review_violation(
    violation_id: Id,
    body: s.ViolationReview,
    session: SessionDep,
    scope: ScopeDep,
    user: CurrentUser,
    actor: ActorDep,
) -> s.ViolationPublic:
    """Acknowledge, resolve or dismiss a violation, with notes."""
    violation = violations.find(session, violation_id, scope=scope)
    violations.review(session, violation, data=body, reviewer_id=user.id, actor=actor)
    session.commit()
    return s.ViolationPublic.model_validate(violation)


routers: list[Any] = [actions, crud_router(VIOLATIONS_API)]
