"""A student's application for a pass, through its life cycle; the caller owns the transaction.

    draft ──submit──▶ submitted ──approve──▶ approved   (the pass is issued, in the same step)
      ▲ edit                    └──reject───▶ rejected   (with a reason)

Students do not sign in (they are records, not accounts), so staff enter an application on a
student's behalf: a manager for their own buildings, an admin for any. The same roles decide it.
Every step is audited; approving issues the pass through services.passes, which marks the
gates' bundles stale in the same transaction.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from coordinator.db.enums import PassApplicationStatus
from coordinator.db.models import PassApplication, StudentPass
from coordinator.errors import ConflictError
from coordinator.schemas import passes as s
from coordinator.services import passes, records
from coordinator.services.audit import Actor
from coordinator.services.records import Placement
from coordinator.services.scope import Scope

A = PassApplicationStatus
TRANSITIONS: dict[PassApplicationStatus, frozenset[PassApplicationStatus]] = {
    A.DRAFT: frozenset({A.SUBMITTED}),
    A.SUBMITTED: frozenset({A.APPROVED, A.REJECTED}),
    A.APPROVED: frozenset(),
    A.REJECTED: frozenset(),
}
WHAT = "pass application"

APPLICATIONS = Placement[PassApplication](
    building_of=lambda session, application: application.building_id,
    visible=lambda query, ids: query.where(PassApplication.building_id.in_(ids)),
)


def find_application(session: Session, application_id: int, *, scope: Scope) -> PassApplication:
    return records.find(
        session, PassApplication, application_id, scope=scope, placement=APPLICATIONS, what=WHAT
    )


def create_application(
    session: Session, *, data: s.PassApplicationCreate, actor: Actor, scope: Scope
) -> PassApplication:
    """A draft, checked as it would be approved: window, building, zones, active student."""
    passes.require_window(data.valid_from, data.valid_until)
    passes.require_zones(session, data.building_id, data.zones, scope=scope, what="building")
    passes.require_active_student(session, data.student_id)
    application = PassApplication(**data.model_dump(), status=A.DRAFT, created_by_id=actor.user_id)
    return records.create(
        session, application, actor=actor, scope=scope, placement=APPLICATIONS, what=WHAT
    )


def update_application(
    session: Session,
    application: PassApplication,
    *,
    changes: s.PassApplicationUpdate,
    actor: Actor,
    scope: Scope,
) -> PassApplication:
    """Only a draft is edited; the merged values are held to the rules of a new one."""
    passes.lock(session, application)
    if application.status is not A.DRAFT:
        raise ConflictError(f"this application is {application.status.value}: only a draft changes")
    values = records.given(changes, PassApplication)
    merged = {
        name: values.get(name, getattr(application, name))
        for name in ("zones", "valid_from", "valid_until")
    }
    passes.require_window(merged["valid_from"], merged["valid_until"])
    passes.require_zones(
        session, application.building_id, merged["zones"], scope=scope, what="building"
    )
    return records.update(
        session,
        application,
        values,
        actor=actor,
        scope=scope,
        placement=APPLICATIONS,
        what=WHAT,
    )


def submit(
    session: Session, application: PassApplication, *, actor: Actor, now: datetime
) -> PassApplication:
    _require_step(session, application, A.SUBMITTED)
    changes = {"status": A.SUBMITTED, "submitted_at": now}
    return records.change(session, application, changes, actor=actor, what=WHAT, action="submit")


def reject(
    session: Session, application: PassApplication, *, reason: str, actor: Actor, now: datetime
) -> PassApplication:
    _require_step(session, application, A.REJECTED)
    changes = {
        "status": A.REJECTED,
        "decided_by_id": actor.user_id,
        "decided_at": now,
        "decision_reason": reason,
    }
    return records.change(session, application, changes, actor=actor, what=WHAT, action="reject")


def approve(
    session: Session, application: PassApplication, *, actor: Actor, scope: Scope, now: datetime
) -> StudentPass:
    """Approve and issue the pass, re-checking what may have changed since the draft."""
    _require_step(session, application, A.APPROVED)
    if application.valid_until <= now:
        raise ConflictError("the window this application asks for has passed: reject it")
    passes.require_zones(
        session, application.building_id, application.zones, scope=scope, what="building"
    )
    passes.require_active_student(session, application.student_id)
    student_pass = passes.new_pass(
        session,
        student_id=application.student_id,
        building_id=application.building_id,
        zones=application.zones,
        valid_from=application.valid_from,
        valid_until=application.valid_until,
        actor=actor,
        scope=scope,
    )
    changes = {
        "status": A.APPROVED,
        "decided_by_id": actor.user_id,
        "decided_at": now,
        "pass_id": student_pass.id,
    }
    records.change(session, application, changes, actor=actor, what=WHAT, action="approve")
    return student_pass


def _require_step(
    session: Session, application: PassApplication, target: PassApplicationStatus
) -> None:
    passes.lock(session, application)
    status = application.status
    if target not in TRANSITIONS[status]:
        allowed = [a for a, targets in TRANSITIONS.items() if target in targets]
        raise ConflictError(
            f"this application is {status.value}; only a {allowed[0].value} one can become "
            f"{target.value}"
        )
