"""Violations reported by people and their review; the caller owns the transaction.

open → acknowledged → resolved | dismissed     (open may also go straight to either end)
"""

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from coordinator.db.enums import Role, ViolationStatus
from coordinator.db.models import User, ViolationRecord
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas.records import ViolationReport, ViolationReview
from coordinator.services.audit import Actor
from coordinator.services.placements import supervises
from coordinator.services.records import change, create
from coordinator.services.scope import Scope

V = ViolationStatus
REVIEW_STEPS: dict[ViolationStatus, frozenset[ViolationStatus]] = {
    V.OPEN: frozenset({V.ACKNOWLEDGED, V.RESOLVED, V.DISMISSED}),
    V.ACKNOWLEDGED: frozenset({V.RESOLVED, V.DISMISSED}),
    V.RESOLVED: frozenset(),
    V.DISMISSED: frozenset(),
}


def report(
    session: Session, report: ViolationReport, user: User, *, actor: Actor, scope: Scope
) -> ViolationRecord:
    """A person's report; a supervisor may report only for an exam session they supervise."""
    if user.role is Role.SUPERVISOR and not supervises(session, report.session_id, user.id):
        raise NotFoundError(f"no exam session with id {report.session_id}")
    violation = ViolationRecord(
        type=report.type,
        severity=report.severity,
        status=V.OPEN,
        session_id=report.session_id,
        reported_by_id=user.id,
        confidence=1.0,
        detail=report.detail,
    )
    # The exam session's building was checked by the caller (planners) or above (supervisors).
    create(session, violation, actor=actor, scope=scope, placement=None, what="violation")
    return violation


def review(
    session: Session, violation: ViolationRecord, review: ViolationReview, user: User, actor: Actor
) -> None:
    if review.status not in REVIEW_STEPS[violation.status]:
        raise ConflictError(
            f"a violation that is {violation.status.value} cannot become {review.status.value}"
        )
    reviewed = {
        "status": review.status,
        "reviewer_id": user.id,
        "reviewed_at": datetime.now(UTC),
        "notes": review.notes if review.notes is not None else violation.notes,
    }
    change(
        session,
        violation,
        reviewed,
        actor=actor,
        what="violation",
        action=f"review:{review.status.value}",
    )
