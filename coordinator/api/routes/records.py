"""What happened: attendance, device attempts, gate access logs and the audit log."""

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement

from coordinator.api.crud import Filters, Resource, crud_router, equal_columns
from coordinator.db.enums import Role
from coordinator.db.models import (
    AccessLog,
    AttemptRecord,
    AttendanceRecord,
    AuditEntry,
)
from coordinator.schemas import records as s
from coordinator.schemas.common import Id, Instant, WireId
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

routers = [crud_router(resource) for resource in RESOURCES]
