"""Passes, their applications and life-cycle steps, and gates' time rules.

Each route maps a request to one service verb (services/passes.py, pass_applications.py,
gate_rules.py); who may call it is in docs/role-matrix.md.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from coordinator.api.crud import (
    Filters,
    Resource,
    creating,
    crud_router,
    removing,
    updating,
)
from coordinator.api.deps import ActorDep, ClockDep, ScopeDep, SessionDep, allow
from coordinator.db.enums import PassApplicationStatus, PassStatus, Role
from coordinator.db.models import GateTimeRule, PassApplication, StudentPass
from coordinator.schemas import passes as s
from coordinator.schemas.common import Id
from coordinator.schemas.records import PassCreate, PassPublic
from coordinator.services import gate_rules, pass_applications
from coordinator.services import passes as passes_service

A, M, T = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN


class PassFilters(Filters):
    student_id: Id | None = None
    building_id: Id | None = None
    status: PassStatus | None = None
    pass_ref: str | None = Field(default=None, max_length=64)


class ApplicationFilters(Filters):
    student_id: Id | None = None
    building_id: Id | None = None
    status: PassApplicationStatus | None = None


class TimeRuleFilters(Filters):
    gate_id: Id | None = None


PASSES = Resource[StudentPass](
    what="pass",
    path="/passes",
    model=StudentPass,
    public=PassPublic,
    filters=PassFilters,
    readers=(A, M),
    writers=(A,),
    create_body=PassCreate,
    create=creating(passes_service.issue_pass),
    placement=passes_service.PASSES,
)
APPLICATIONS = Resource[PassApplication](
    what="pass application",
    path="/pass-applications",
    model=PassApplication,
    public=s.PassApplicationPublic,
    filters=ApplicationFilters,
    readers=(A, M),
    writers=(A, M),
    create_body=s.PassApplicationCreate,
    create=creating(pass_applications.create_application),
    update_body=s.PassApplicationUpdate,
    update=updating(pass_applications.update_application),
    placement=pass_applications.APPLICATIONS,
)
TIME_RULES = Resource[GateTimeRule](
    what="gate time rule",
    path="/gate-time-rules",
    model=GateTimeRule,
    public=s.GateTimeRulePublic,
    filters=TimeRuleFilters,
    readers=(A, M, T),
    writers=(A, M),
    create_body=s.GateTimeRuleCreate,
    create=creating(gate_rules.create_time_rule),
    update_body=s.GateTimeRuleUpdate,
    update=updating(gate_rules.update_time_rule),
    remove=removing(gate_rules.remove_time_rule),
    placement=gate_rules.TIME_RULES,
)

passes = APIRouter(prefix="/passes", tags=["passes"])
applications = APIRouter(prefix="/pass-applications", tags=["pass-applications"])
DECIDERS = [Depends(allow(A, M))]


def _step_route(name: str, verb: Callable[..., StudentPass], summary: str) -> None:
    def step(
        pass_id: Id,
        body: s.PassStep,
        session: SessionDep,
        scope: ScopeDep,
        actor: ActorDep,
        clock: ClockDep,
    ) -> PassPublic:
        student_pass = passes_service.find_pass(session, pass_id, scope=scope)
        verb(session, student_pass, reason=body.reason, actor=actor, now=clock())
        session.commit()
        return PassPublic.model_validate(student_pass)

    passes.add_api_route(
        f"/{{pass_id}}/{name}",
        step,
        methods=["POST"],
        response_model=PassPublic,
        dependencies=DECIDERS,
        summary=summary,
        name=f"{name}_pass",
    )


_step_route("revoke", passes_service.revoke_pass, "Revoke a pass: gates refuse it for good")
_step_route("suspend", passes_service.suspend_pass, "Suspend a pass: gates refuse it for now")
_step_route("expire", passes_service.expire_pass, "End a pass before its date")


@passes.post("/{pass_id}/resume", response_model=PassPublic, dependencies=DECIDERS)
def resume_pass(
    pass_id: Id,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
    clock: ClockDep,
    body: s.PassResume | None = None,
) -> PassPublic:
    """Lift a suspension; gates accept the pass again with their next bundle."""
    student_pass = passes_service.find_pass(session, pass_id, scope=scope)
    reason = body.reason if body else None
    passes_service.resume_pass(session, student_pass, reason=reason, actor=actor, now=clock())
    session.commit()
    return PassPublic.model_validate(student_pass)


@passes.post(
    "/{pass_id}/reissue", response_model=PassPublic, status_code=201, dependencies=DECIDERS
)
def reissue_pass(
    pass_id: Id,
    body: s.PassStep,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
    clock: ClockDep,
) -> PassPublic:
    """A new pass id replaces this pass, which is revoked; answers the new pass."""
    student_pass = passes_service.find_pass(session, pass_id, scope=scope)
    new = passes_service.reissue_pass(
        session, student_pass, reason=body.reason, actor=actor, scope=scope, now=clock()
    )
    session.commit()
    return PassPublic.model_validate(new)


@applications.post(
    "/{application_id}/submit", response_model=s.PassApplicationPublic, dependencies=DECIDERS
)
def submit_application(
    application_id: Id, session: SessionDep, scope: ScopeDep, actor: ActorDep, clock: ClockDep
) -> s.PassApplicationPublic:
    """Hand a draft in for a decision; it is no longer edited."""
    application = pass_applications.find_application(session, application_id, scope=scope)
    pass_applications.submit(session, application, actor=actor, now=clock())
    session.commit()
    return s.PassApplicationPublic.model_validate(application)


@applications.post(
    "/{application_id}/approve", response_model=PassPublic, status_code=201, dependencies=DECIDERS
)
def approve_application(
    application_id: Id, session: SessionDep, scope: ScopeDep, actor: ActorDep, clock: ClockDep
) -> PassPublic:
    """Approve a submitted application and issue its pass; answers the new pass."""
    application = pass_applications.find_application(session, application_id, scope=scope)
    student_pass = pass_applications.approve(
        session, application, actor=actor, scope=scope, now=clock()
    )
    session.commit()
    return PassPublic.model_validate(student_pass)


@applications.post(
    "/{application_id}/reject", response_model=s.PassApplicationPublic, dependencies=DECIDERS
)
def reject_application(
    application_id: Id,
    body: s.PassApplicationReject,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
    clock: ClockDep,
) -> s.PassApplicationPublic:
    """Refuse a submitted application, with a reason kept on it and in the audit log."""
    application = pass_applications.find_application(session, application_id, scope=scope)
    pass_applications.reject(session, application, reason=body.reason, actor=actor, now=clock())
    session.commit()
    return s.PassApplicationPublic.model_validate(application)


RESOURCES: list[Resource[Any]] = [PASSES, APPLICATIONS, TIME_RULES]
routers = [passes, applications] + [crud_router(resource) for resource in RESOURCES]
