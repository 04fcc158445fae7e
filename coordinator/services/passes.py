"""Students' gate passes: issued with a window and zones, revoked with a reason."""

from datetime import UTC, datetime

import uuid6
from sqlalchemy.orm import Session

from coordinator.db.models import StudentPass
from coordinator.errors import ConflictError, InvalidInputError
from coordinator.schemas import records as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope

WINDOW_MESSAGE = "valid_until must be after valid_from"


def find_pass(session: Session, pass_id: int, *, scope: Scope) -> StudentPass:
    """The pass, if the caller's scope may see it; NotFoundError otherwise."""
    return records.find(session, StudentPass, pass_id, scope=scope, placement=None, what="pass")


def issue_pass(session: Session, *, data: s.PassCreate, actor: Actor, scope: Scope) -> StudentPass:
    if data.valid_until <= data.valid_from:
        raise InvalidInputError(WINDOW_MESSAGE, field="valid_until")
    student_pass = StudentPass(
        pass_ref=uuid6.uuid7().hex,
        student_id=data.student_id,
        zones=data.zones,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
    )
    return records.create(
        session, student_pass, actor=actor, scope=scope, placement=None, what="pass"
    )


def revoke_pass(
    session: Session,
    student_pass: StudentPass,
    *,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> StudentPass:
    """Gates refuse the pass once they hold the next bundle."""
    if student_pass.revoked_at is not None:
        raise ConflictError("this pass is already revoked")
    revoked = {"revoked_at": now or datetime.now(UTC), "revoked_reason": reason}
    return records.change(session, student_pass, revoked, actor=actor, what="pass", action="revoke")
