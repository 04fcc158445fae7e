"""What happened: attendance, attempts, passes, access logs, violations, notifications, audit."""

from datetime import datetime
from typing import Any

from pydantic import Field

from coordinator.db.enums import PassStatus, ViolationStatus
from coordinator.schemas.common import Id, Instant, Notes, Public, Strict, Text, WireId
from protocols import (
    AccessDecision,
    AttendanceAction,
    Credential,
    Direction,
    Outcome,
    ReasonCode,
    Severity,
    Station,
    ViolationType,
)


class AttendancePublic(Public):
    id: int
    session_id: Id
    user_id: Id | None
    student_id: Id | None
    action: AttendanceAction
    at: datetime
    device_id: str | None


class AttemptPublic(Public):
    id: int
    device_id: str
    at: datetime
    station: Station
    credential: Credential
    outcome: Outcome
    reason: ReasonCode
    user_id: Id | None
    student_id: Id | None
    face_distance: float | None


class PassCreate(Strict):
    """A pass issued directly (admins); passes normally come from an approved application."""

    student_id: Id
    building_id: Id | None = Field(
        default=None, description="The building whose managers handle it; None: admins only."
    )
    zones: list[WireId] = Field(min_length=1, max_length=16)
    valid_from: Instant
    valid_until: Instant


class PassRevoke(Strict):
    reason: Text


class PassPublic(Public):
    id: int
    pass_ref: str
    student_id: Id
    building_id: Id | None
    zones: list[str]
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    status: PassStatus = Field(description="Past valid_until a pass is expired whatever it says.")
    status_reason: str | None
    status_changed_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    replaces_id: Id | None


class AccessLogPublic(Public):
    id: int
    gate_id: Id
    device_id: str | None
    at: datetime
    decision: AccessDecision
    reason: ReasonCode
    direction: Direction
    student_id: Id | None
    pass_id: Id | None


class ViolationReport(Strict):
    """A violation reported by a person (supervisors: for their own exam session)."""

    type: ViolationType
    severity: Severity
    session_id: Id
    detail: Text


class ViolationReview(Strict):
    status: ViolationStatus
    notes: Notes | None = None


class ViolationPublic(Public):
    id: int
    type: ViolationType
    severity: Severity
    status: ViolationStatus
    session_id: Id | None
    device_id: str | None
    reported_by_id: Id | None
    confidence: float
    evidence_ref: str | None
    detail: str | None
    raised_at: datetime
    reviewer_id: Id | None
    reviewed_at: datetime | None
    notes: str | None


class NotificationPublic(Public):
    id: int
    message: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


class AuditEntryPublic(Public):
    id: int
    at: datetime
    actor_id: Id | None
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    address: str | None
    user_agent: str | None
    hash: str
