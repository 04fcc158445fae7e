"""Students' gate passes and their life cycle; the caller owns the transaction.

    issue ──▶ active ──suspend──▶ suspended ──resume──▶ active
    active | suspended ──revoke──▶ revoked   (reissue: revoked, and a new pass id replaces it)
    active | suspended ──expire──▶ expired   (a person ends it before its date)
    past valid_until: expired by date, whatever the status says; no step applies any more

A pass is filed under a building (`building_id`): managers act on the passes of their
buildings, admins on all. Every step is audited (records.change), and the audit hook marks every
gate's bundle stale in the same transaction (services.downlink, entity "pass"): a suspended pass
reaches gates as `suspended_passes`, a revoked or early-expired one as `revoked_passes` (its
signed date inside the code is still later, so only the list stops it).
"""

from datetime import UTC, datetime, timedelta

import uuid6
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.enums import PassStatus, StudentStatus
from coordinator.db.models import Building, Gate, PassApplication, Student, StudentPass
from coordinator.errors import ConflictError, InvalidInputError, NotFoundError
from coordinator.schemas import records as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.records import Placement
from coordinator.services.scope import Scope

WINDOW_MESSAGE = "valid_until must be after valid_from"
# A pass's code holds its dates as 4-byte Unix seconds (protocols/passes.py).
LAST_PASS_INSTANT = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=2**32 - 1)

P = PassStatus
TRANSITIONS: dict[PassStatus, frozenset[PassStatus]] = {
    P.ACTIVE: frozenset({P.SUSPENDED, P.REVOKED, P.EXPIRED}),
    P.SUSPENDED: frozenset({P.ACTIVE, P.REVOKED, P.EXPIRED}),
    P.REVOKED: frozenset(),
    P.EXPIRED: frozenset(),
}

PASSES = Placement[StudentPass](
    building_of=lambda session, student_pass: student_pass.building_id,
    visible=lambda query, ids: query.where(StudentPass.building_id.in_(ids)),
)


def find_pass(session: Session, pass_id: int, *, scope: Scope) -> StudentPass:
    """The pass, if the caller's scope may see it; NotFoundError otherwise."""
    return records.find(session, StudentPass, pass_id, scope=scope, placement=PASSES, what="pass")


# --- rules shared with applications --------------------------------------------------------------


def lock(session: Session, record: StudentPass | PassApplication) -> None:
    """Re-read the row under a lock before a step is checked, so two people approving or
    reissuing at once make one change, not two (PostgreSQL; SQLite has one writer at a time)."""
    session.refresh(record, with_for_update=True)


def require_window(valid_from: datetime, valid_until: datetime) -> None:
    if valid_until <= valid_from:
        raise InvalidInputError(WINDOW_MESSAGE, field="valid_until")
    if valid_until > LAST_PASS_INSTANT:
        raise InvalidInputError(
            f"a pass's code holds dates up to {LAST_PASS_INSTANT:%Y-%m-%d}", field="valid_until"
        )


def require_zones(
    session: Session, building_id: int, zones: list[str], *, scope: Scope, what: str
) -> None:
    """The building is the caller's, and each zone is the zone of one of its gates."""
    scope.require_building(building_id, what)
    if session.get(Building, building_id) is None:
        raise NotFoundError(f"building_id {building_id} does not exist")
    if len(set(zones)) != len(zones):
        raise InvalidInputError("each zone once", field="zones")
    offered = set(
        session.scalars(select(Gate.zone).where(Gate.building_id == building_id).distinct())
    )
    missing = sorted(set(zones) - offered)
    if missing:
        choices = ", ".join(sorted(offered)) or "none: give the building a gate first"
        raise InvalidInputError(
            f"no gate of building {building_id} opens {', '.join(missing)}; its zones: {choices}",
            field="zones",
        )


def require_active_student(session: Session, student_id: int) -> None:
    student = session.get(Student, student_id)
    if student is None:
        raise NotFoundError(f"student_id {student_id} does not exist")
    if student.status is not StudentStatus.ACTIVE:
        raise ConflictError(
            f"student {student_id} is {student.status.value}: only active students get passes",
            field="student_id",
        )


# --- issuing --------------------------------------------------------------------------------------


def issue_pass(session: Session, *, data: s.PassCreate, actor: Actor, scope: Scope) -> StudentPass:
    """Issue a pass directly (admins); the usual way is an approved application."""
    require_window(data.valid_from, data.valid_until)
    if data.building_id is not None:
        require_zones(session, data.building_id, data.zones, scope=scope, what="building")
    return new_pass(
        session,
        student_id=data.student_id,
        building_id=data.building_id,
        zones=data.zones,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        actor=actor,
        scope=scope,
    )


def new_pass(
    session: Session,
    *,
    student_id: int,
    building_id: int | None,
    zones: list[str],
    valid_from: datetime,
    valid_until: datetime,
    actor: Actor,
    scope: Scope,
    replaces_id: int | None = None,
) -> StudentPass:
    """A new pass id for checked values; audited as the creation of a pass."""
    student_pass = StudentPass(
        pass_ref=uuid6.uuid7().hex,
        student_id=student_id,
        building_id=building_id,
        zones=list(zones),
        valid_from=valid_from,
        valid_until=valid_until,
        status=PassStatus.ACTIVE,
        replaces_id=replaces_id,
    )
    return records.create(
        session, student_pass, actor=actor, scope=scope, placement=PASSES, what="pass"
    )


# --- the life cycle -------------------------------------------------------------------------------


def suspend_pass(
    session: Session, student_pass: StudentPass, *, reason: str, actor: Actor, now: datetime
) -> StudentPass:
    """On hold: gates refuse it as suspended until it is resumed."""
    return _step(session, student_pass, P.SUSPENDED, reason, actor=actor, now=now)


def resume_pass(
    session: Session, student_pass: StudentPass, *, reason: str | None, actor: Actor, now: datetime
) -> StudentPass:
    return _step(session, student_pass, P.ACTIVE, reason, actor=actor, now=now)


def expire_pass(
    session: Session, student_pass: StudentPass, *, reason: str, actor: Actor, now: datetime
) -> StudentPass:
    """End a pass before its date; gates refuse it through the revocation list."""
    return _step(session, student_pass, P.EXPIRED, reason, actor=actor, now=now)


def revoke_pass(
    session: Session,
    student_pass: StudentPass,
    *,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> StudentPass:
    """Gates refuse the pass once they hold the next bundle."""
    return _step(session, student_pass, P.REVOKED, reason, actor=actor, now=now or _now())


def reissue_pass(
    session: Session,
    student_pass: StudentPass,
    *,
    reason: str,
    actor: Actor,
    scope: Scope,
    now: datetime,
) -> StudentPass:
    """A new pass id for the same student, zones and window; the old pass is revoked.

    For a lost or copied pass: the old code stops at every gate with the next bundle, the new
    one is printed or shown instead.
    """
    require_active_student(session, student_pass.student_id)
    revoke_pass(session, student_pass, reason=f"reissued: {reason}", actor=actor, now=now)
    return new_pass(
        session,
        student_id=student_pass.student_id,
        building_id=student_pass.building_id,
        zones=student_pass.zones,
        valid_from=student_pass.valid_from,
        valid_until=student_pass.valid_until,
        actor=actor,
        scope=scope,
        replaces_id=student_pass.id,
    )


def _step(
    session: Session,
    student_pass: StudentPass,
    target: PassStatus,
    reason: str | None,
    *,
    actor: Actor,
    now: datetime,
) -> StudentPass:
    lock(session, student_pass)
    status = student_pass.status
    if status is P.REVOKED or student_pass.revoked_at is not None:
        raise ConflictError("this pass is already revoked; a new pass comes from a new application")
    if status is P.EXPIRED or student_pass.valid_until <= now:
        raise ConflictError(
            f"this pass expired ({_day(student_pass.valid_until)}); a new pass comes from a new "
            "application"
            if status is not P.EXPIRED
            else "this pass was already expired early; a new pass comes from a new application"
        )
    if target not in TRANSITIONS[status]:
        raise ConflictError(f"this pass is {status.value}; it cannot become {target.value}")
    changes: dict[str, object] = {"status": target, "status_changed_at": now}
    if target is P.REVOKED:
        changes |= {"revoked_at": now, "revoked_reason": reason}
    else:
        changes["status_reason"] = reason
    action = {P.ACTIVE: "resume", P.SUSPENDED: "suspend", P.REVOKED: "revoke"}.get(target, "expire")
    return records.change(session, student_pass, changes, actor=actor, what="pass", action=action)


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _now() -> datetime:
    return datetime.now(UTC)
