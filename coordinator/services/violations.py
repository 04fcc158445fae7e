"""Violations reported by people or raised by devices, and their review; the caller owns the
transaction.

open → acknowledged → resolved | dismissed     (open may also go straight to either end)
"""

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from coordinator.db.enums import Role, ViolationStatus
from coordinator.db.models import User, ViolationRecord
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas.records import ViolationReport, ViolationReview
from coordinator.services import exams, records
from coordinator.services.audit import Actor
from coordinator.services.placements import VIOLATIONS, supervises
from coordinator.services.scope import Scope
from protocols import Severity, ViolationType

V = ViolationStatus
REVIEW_STEPS: dict[ViolationStatus, frozenset[ViolationStatus]] = {
    V.OPEN: frozenset({V.ACKNOWLEDGED, V.RESOLVED, V.DISMISSED}),
    V.ACKNOWLEDGED: frozenset({V.RESOLVED, V.DISMISSED}),
    V.RESOLVED: frozenset(),
    V.DISMISSED: frozenset(),
}


def find(session: Session, violation_id: int, *, scope: Scope) -> ViolationRecord:
    return records.find(
        session, ViolationRecord, violation_id, scope=scope, placement=VIOLATIONS, what="violation"
    )


def report(
    session: Session, *, data: ViolationReport, reporter: User, actor: Actor, scope: Scope
) -> ViolationRecord:
    """A person's report; a supervisor only for a session they supervise (and did not decline)."""
    if reporter.role is Role.SUPERVISOR:
        if not supervises(session, data.session_id, reporter.id):
            raise NotFoundError(f"no exam session with id {data.session_id}")
    else:
        exams.find_session(session, data.session_id, scope=scope)
    violation = ViolationRecord(
        type=data.type,
        severity=data.severity,
        status=V.OPEN,
        session_id=data.session_id,
        reported_by_id=reporter.id,
        confidence=1.0,
        detail=data.detail,
    )
    # The session's building was checked just above, so no placement check is repeated.
    return records.create(
        session, violation, actor=actor, scope=scope, placement=None, what="violation"
    )


def raise_from_device(
    session: Session,
    *,
    device_id: str,
    type: ViolationType,
    severity: Severity,
    at: datetime,
    confidence: float = 1.0,
    session_id: int | None = None,
    detail: str | None = None,
    evidence_ref: str | None = None,
) -> ViolationRecord:
    """A violation a door or gate station (or a rule) raised; open until a planner reviews it."""
    violation = ViolationRecord(
        type=type,
        severity=severity,
        status=V.OPEN,
        session_id=session_id,
        device_id=device_id,
        confidence=confidence,
        detail=detail,
        evidence_ref=evidence_ref,
        raised_at=at,
    )
    session.add(violation)
    session.flush()
    return violation


def review(
    session: Session,
    violation: ViolationRecord,
    *,
    data: ViolationReview,
    reviewer_id: int,
    actor: Actor,
    now: datetime | None = None,
) -> ViolationRecord:
    if data.status not in REVIEW_STEPS[violation.status]:
        raise ConflictError(
            f"a violation that is {violation.status.value} cannot become {data.status.value}"
        )
    reviewed = {
        "status": data.status,
        "reviewer_id": reviewer_id,
        "reviewed_at": now or datetime.now(UTC),
        "notes": data.notes if data.notes is not None else violation.notes,
    }
    return records.change(
        session,
        violation,
        reviewed,
        actor=actor,
        what="violation",
        action=f"review:{data.status.value}",
    )
