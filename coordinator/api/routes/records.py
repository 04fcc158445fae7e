"""What happened: attendance, device attempts, passes, gate access logs and the audit log."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement

from coordinator.api.crud import Filters, Resource, creating, crud_router, equal_columns
from coordinator.api.deps import ActorDep, ScopeDep, SessionDep, allow
from coordinator.db.enums import Role
from coordinator.db.models import (
    AccessLog,
    AttemptRecord,
    AttendanceRecord,
    AuditEntry,
    StudentPass,
)
from coordinator.schemas import records as s
from coordinator.schemas.common import Id, Instant, WireId
from coordinator.services import passes as passes_service
from coordinator.services.placements import ACCESS_LOGS, ATTEMPTS, ATTENDANCE
from protocols import AccessDecision, AttendanceAction, Outcome, ReasonCode

A, M, S, T = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.TECHNICIAN


class AttendanceFilters(Filters):
    session_id: Id | None = None
    user_id: Id | None = None
    student_id: Id | None = None
    action: AttendanceAction | None = None


class AttemptFilters(Filters):
    device_id: WireId | None = None
    outcome: Outcome | None = None
    reason: ReasonCode | None = None


class PassFilters(Filters):
    student_id: Id | None = None
    pass_ref: str | None = Field(default=None, max_length=64)


class AccessLogFilters(Filters):
    gate_id: Id | None = None
    student_id: Id | None = None
    decision: AccessDecision | None = None


class AuditFilters(Filters):
    entity: str | None = Field(default=None, max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    actor_id: Id | None = None
    since: Instant | None = None


def audit_conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
    assert isinstance(filters, AuditFilters)
    conditions = equal_columns(AuditEntry)(filters.model_copy(update={"since": None}))
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    return conditions


PASSES = Resource[StudentPass](
    what="pass",
    path="/passes",
    model=StudentPass,
    public=s.PassPublic,
    filters=PassFilters,
    readers=(A, M),
    writers=(A,),
    create_body=s.PassCreate,
    create=creating(passes_service.issue_pass),
)

RESOURCES: list[Resource[Any]] = [
    Resource(
        what="attendance record",
        path="/attendance",
        model=AttendanceRecord,
        public=s.AttendancePublic,
        filters=AttendanceFilters,
        readers=(A, M, S),
        placement=ATTENDANCE,
        order_by=lambda model: [model.at, model.id],
    ),
    Resource(
        what="attempt",
        path="/attempts",
        model=AttemptRecord,
        public=s.AttemptPublic,
        filters=AttemptFilters,
        readers=(A, M, T),
        placement=ATTEMPTS,
        order_by=lambda model: [model.at, model.id],
    ),
    PASSES,
    Resource(
        what="access log",
        path="/access-logs",
        model=AccessLog,
        public=s.AccessLogPublic,
        filters=AccessLogFilters,
        readers=(A, M),
        placement=ACCESS_LOGS,
        order_by=lambda model: [model.at, model.id],
    ),
    Resource(
        what="audit entry",
        path="/audit",
        model=AuditEntry,
        public=s.AuditEntryPublic,
        filters=AuditFilters,
        readers=(A,),
        conditions=audit_conditions,
    ),
]

passes = APIRouter(prefix="/passes", tags=["passes"])


@passes.post("/{pass_id}/revoke", response_model=s.PassPublic, dependencies=[Depends(allow(A))])
def revoke_pass(
    pass_id: Id, body: s.PassRevoke, session: SessionDep, scope: ScopeDep, actor: ActorDep
) -> s.PassPublic:
    """Revoke a pass; gates refuse it once they have the next bundle."""
    student_pass = PASSES.find(session, pass_id, scope)
    passes_service.revoke_pass(session, student_pass, reason=body.reason, actor=actor)
    session.commit()
    return s.PassPublic.model_validate(student_pass)


routers = [passes] + [crud_router(resource) for resource in RESOURCES]
