"""What devices saw: verification attempts and gate access decisions, as the device path stores
them (no audit entry: the stored event is the record, and no person made the change)."""

from datetime import datetime

from sqlalchemy.orm import Session

from coordinator.db.models import AccessLog, AttemptRecord
from protocols import AccessDecision, Credential, Direction, Outcome, ReasonCode, Station


def record_attempt(
    session: Session,
    *,
    device_id: str,
    at: datetime,
    station: Station,
    credential: Credential,
    outcome: Outcome,
    reason: ReasonCode,
    user_id: int | None = None,
    student_id: int | None = None,
    face_distance: float | None = None,
    event_id: int | None = None,
) -> AttemptRecord:
    attempt = AttemptRecord(
        device_id=device_id,
        at=at,
        station=station,
        credential=credential,
        outcome=outcome,
        reason=reason,
        user_id=user_id,
        student_id=student_id,
        face_distance=face_distance,
        event_id=event_id,
    )
    session.add(attempt)
    session.flush()
    return attempt


def record_access(
    session: Session,
    *,
    gate_id: int,
    at: datetime,
    decision: AccessDecision,
    reason: ReasonCode,
    direction: Direction,
    device_id: str | None = None,
    student_id: int | None = None,
    pass_id: int | None = None,
    event_id: int | None = None,
) -> AccessLog:
    access = AccessLog(
        gate_id=gate_id,
        device_id=device_id,
        at=at,
        decision=decision,
        reason=reason,
        direction=direction,
        student_id=student_id,
        pass_id=pass_id,
        event_id=event_id,
    )
    session.add(access)
    session.flush()
    return access
