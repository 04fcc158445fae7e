"""What happened: attendance, device attempts, passes, gate access logs and the audit log."""

from datetime import UTC, datetime
from typing import Any

import uuid6
from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from coordinator.api.crud import Resource, crud_router, equal_columns
from coordinator.api.deps import ActorDep, ScopeDep, SessionDep, allow
from coordinator.core.config import Settings
from coordinator.db.enums import Role
from coordinator.db.models import (
    AccessLog,
    AttemptRecord,
    AttendanceRecord,
    AuditEntry,
    StudentPass,
)
from coordinator.errors import ConflictError
from coordinator.schemas import records as s
from coordinator.schemas.common import Id
from coordinator.services import records
from coordinator.services.placements import ACCESS_LOGS, ATTEMPTS, ATTENDANCE
from protocols import AccessDecision, AttendanceAction, Outcome, ReasonCode

A, M, S, T = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.TECHNICIAN


class AttendanceFilters(BaseModel):
    session_id: Id | None = None
    user_id: Id | None = None
    student_id: Id | None = None
    action: AttendanceAction | None = None


class AttemptFilters(BaseModel):
    device_id: str | None = None
    outcome: Outcome | None = None
    reason: ReasonCode | None = None


class PassFilters(BaseModel):
    student_id: Id | None = None
    pass_ref: str | None = None


class AccessLogFilters(BaseModel):
    gate_id: Id | None = None
    student_id: Id | None = None
    decision: AccessDecision | None = None


class AuditFilters(BaseModel):
    entity: str | None = None
    entity_id: str | None = None
    actor_id: Id | None = None
    since: AwareDatetime | None = None


def audit_conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
    assert isinstance(filters, AuditFilters)
    conditions = equal_columns(AuditEntry)(filters.model_copy(update={"since": None}))
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    return conditions


def build_pass(session: Session, body: BaseModel, settings: Settings) -> StudentPass:
    assert isinstance(body, s.PassCreate)
    return StudentPass(
        pass_ref=uuid6.uuid7().hex,
        student_id=body.student_id,
        zones=body.zones,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )


PASSES = Resource[StudentPass](
    what="pass",
    path="/passes",
    model=StudentPass,
    public=s.PassPublic,
    filters=PassFilters,
    readers=(A, M),
    writers=(A,),
    create=s.PassCreate,
    build=build_pass,
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
    if student_pass.revoked_at is not None:
        raise ConflictError("this pass is already revoked")
    records.update(
        session,
        student_pass,
        {"revoked_at": datetime.now(UTC), "revoked_reason": body.reason},
        actor=actor,
        scope=scope,
        placement=None,
        what="pass",
    )
    session.commit()
    return s.PassPublic.model_validate(student_pass)


routers = [passes] + [crud_router(resource) for resource in RESOURCES]
