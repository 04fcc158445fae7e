"""Supervisor assignments and their life cycle; the caller owns the transaction.

proposed → accepted | declined        (the supervisor answers: `answer`)
accepted → checked_in → checked_out   (the door station: `check_in`, `check_out`)
proposed | accepted → absent          (a planner, or the rules at exam start: `set_status`)

Check-in and check-out come from the device path, or from a planner's audited `override` with a
reason; `set_status` refuses them. A supervisor never holds two assignments whose sessions
overlap (a declined one holds no time). Under concurrency this holds because every verb that can
add time to a supervisor first locks that supervisor's row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite has one writer at a time), then looks for an overlap.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import Assignment, AttendanceRecord, ExamSession, User
from coordinator.errors import ConflictError, ForbiddenError, NotFoundError
from coordinator.services import records
from coordinator.services.audit import Actor, record_change
from coordinator.services.placements import ASSIGNMENTS
from coordinator.services.scope import Scope
from protocols import AttendanceAction

S = AssignmentStatus
TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    S.PROPOSED: frozenset({S.ACCEPTED, S.DECLINED, S.ABSENT}),
    S.ACCEPTED: frozenset({S.CHECKED_IN, S.ABSENT, S.DECLINED}),
    S.CHECKED_IN: frozenset({S.CHECKED_OUT}),
    S.DECLINED: frozenset({S.PROPOSED}),
    S.CHECKED_OUT: frozenset(),
    S.ABSENT: frozenset(),
}
# Set with the time they happened, by the door station or an override; never by `set_status`.
DEVICE_STATUSES = frozenset({S.CHECKED_IN, S.CHECKED_OUT})
# Where a planner's override may start from, per action.
OVERRIDE_FROM: dict[AttendanceAction, frozenset[AssignmentStatus]] = {
    AttendanceAction.CHECK_IN: frozenset({S.PROPOSED, S.ACCEPTED, S.ABSENT}),
    AttendanceAction.CHECK_OUT: frozenset({S.CHECKED_IN}),
}
# A declined assignment does not occupy the supervisor's time.
_HOLDS_TIME = [status for status in AssignmentStatus if status is not S.DECLINED]


# --- finding --------------------------------------------------------------------------------------


def find(session: Session, assignment_id: int, *, scope: Scope) -> Assignment:
    return records.find(
        session, Assignment, assignment_id, scope=scope, placement=ASSIGNMENTS, what="assignment"
    )


def find_held(session: Session, *, session_id: int, supervisor_id: int) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.session_id == session_id, Assignment.supervisor_id == supervisor_id
        )
    )


def find_overlap(
    session: Session,
    supervisor_id: int,
    starts_at: datetime,
    ends_at: datetime,
    exclude_assignment_id: int | None = None,
) -> Assignment | None:
    """An assignment of the supervisor whose session overlaps the window, if there is one."""
    query = (
        select(Assignment)
        .join(ExamSession, ExamSession.id == Assignment.session_id)
        .where(
            Assignment.supervisor_id == supervisor_id,
            Assignment.status.in_(_HOLDS_TIME),
            ExamSession.starts_at < ends_at,
            ExamSession.ends_at > starts_at,
        )
    )
    if exclude_assignment_id is not None:
        query = query.where(Assignment.id != exclude_assignment_id)
    return session.scalars(query.limit(1)).first()


# --- the no-overlap rule --------------------------------------------------------------------------


def lock_supervisors(session: Session, supervisor_ids: Iterable[int]) -> None:
    """Line up concurrent writers per supervisor until the caller's transaction ends.

    Locked in id order, so two transactions locking the same supervisors cannot deadlock.
    """
    for supervisor_id in sorted(set(supervisor_ids)):
        session.execute(select(User.id).where(User.id == supervisor_id).with_for_update())


def require_free(session: Session, assignment: Assignment) -> None:
    lock_supervisors(session, [assignment.supervisor_id])
    exam_session = session.get(ExamSession, assignment.session_id)
    if exam_session is None:
        raise NotFoundError(f"session_id {assignment.session_id} does not exist")
    clash = find_overlap(
        session,
        assignment.supervisor_id,
        exam_session.starts_at,
        exam_session.ends_at,
        exclude_assignment_id=assignment.id,
    )
    if clash is not None:
        raise ConflictError(
            f"supervisor {assignment.supervisor_id} already holds assignment {clash.id} "
            "at an overlapping time",
            field="supervisor_id",
        )


def require_supervisors_free(
    session: Session, exam_session: ExamSession, starts_at: datetime, ends_at: datetime
) -> None:
    """Moving or stretching a session must not make any of its supervisors overlap."""
    held = list(
        session.scalars(
            select(Assignment).where(
                Assignment.session_id == exam_session.id, Assignment.status.in_(_HOLDS_TIME)
            )
        )
    )
    lock_supervisors(session, [assignment.supervisor_id for assignment in held])
    for assignment in held:
        clash = find_overlap(
            session,
            assignment.supervisor_id,
            starts_at,
            ends_at,
            exclude_assignment_id=assignment.id,
        )
        if clash is not None:
            raise ConflictError(
                f"supervisor {assignment.supervisor_id} would overlap their assignment "
                f"{clash.id}: move or decline one of them first",
                field="ends_at",
            )


def require_planner_status(status: AssignmentStatus, current: AssignmentStatus | None) -> None:
    """A planner (or a file) never sets check-in or check-out, nor moves an assignment off them."""
    if status in DEVICE_STATUSES and status is not current:
        raise ConflictError(
            f"{status.value} is set by the door station, or by an override with a reason",
            field="status",
        )
    if current in DEVICE_STATUSES and status is not current:
        raise ConflictError(
            f"the supervisor is already {current.value}: leave it so", field="status"
        )


def require_supervisor(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is None or user.role is not Role.SUPERVISOR or not user.is_active:
        raise ConflictError(f"user {user_id} is not an active supervisor", field="supervisor_id")


# --- planners -------------------------------------------------------------------------------------


def propose(
    session: Session,
    *,
    session_id: int,
    supervisor_id: int,
    actor: Actor,
    scope: Scope,
    status: AssignmentStatus = S.PROPOSED,
) -> Assignment:
    """Propose a supervisor for a session (a file may also record an accepted or declined one)."""
    require_planner_status(status, None)
    require_supervisor(session, supervisor_id)
    assignment = Assignment(session_id=session_id, supervisor_id=supervisor_id, status=status)
    if status in _HOLDS_TIME:
        require_free(session, assignment)
    return records.create(
        session, assignment, actor=actor, scope=scope, placement=ASSIGNMENTS, what="assignment"
    )


def set_status(
    session: Session, assignment: Assignment, *, status: AssignmentStatus, actor: Actor
) -> Assignment:
    """A planner moves the life cycle; check-in and check-out are refused here."""
    require_planner_status(status, assignment.status)
    _move(session, assignment, status, actor)
    return assignment


def answer(
    session: Session, assignment: Assignment, *, supervisor_id: int, accept: bool, actor: Actor
) -> Assignment:
    """The supervisor's own yes or no to a proposed assignment."""
    if assignment.supervisor_id != supervisor_id:
        raise ForbiddenError("only the assigned supervisor may answer this assignment")
    if assignment.status is not S.PROPOSED:
        raise ConflictError(f"this assignment is {assignment.status.value}, not proposed")
    _move(session, assignment, S.ACCEPTED if accept else S.DECLINED, actor)
    return assignment


def remove(session: Session, assignment: Assignment, *, actor: Actor) -> None:
    records.delete(session, assignment, actor=actor, what="assignment")


def _move(session: Session, assignment: Assignment, status: AssignmentStatus, actor: Actor) -> None:
    """Change the status if the life cycle allows it, and record who did it."""
    if status is assignment.status:
        return
    if status not in TRANSITIONS[assignment.status]:
        raise ConflictError(
            f"an assignment that is {assignment.status.value} cannot become {status.value}"
        )
    if status in (S.ACCEPTED, S.PROPOSED):
        require_free(session, assignment)
    records.change(
        session,
        assignment,
        {"status": status},
        actor=actor,
        what="assignment",
        action=f"status:{status.value}",
    )


# --- the device path ------------------------------------------------------------------------------


def check_in(
    session: Session,
    *,
    session_id: int,
    supervisor_id: int,
    at: datetime,
    device_id: str | None = None,
    event_id: int | None = None,
) -> Assignment:
    """A door station saw the supervisor arrive; a repeated check-in keeps the first time."""
    assignment = _held(session, session_id, supervisor_id)
    if assignment.status in DEVICE_STATUSES:
        return assignment
    if S.CHECKED_IN not in TRANSITIONS[assignment.status]:
        raise ConflictError(f"an assignment that is {assignment.status.value} cannot be checked in")
    _attend(
        session,
        assignment,
        action=AttendanceAction.CHECK_IN,
        at=at,
        device_id=device_id,
        event_id=event_id,
    )
    return assignment


def check_out(
    session: Session,
    *,
    session_id: int,
    supervisor_id: int,
    at: datetime,
    device_id: str | None = None,
    event_id: int | None = None,
) -> Assignment:
    """A door station saw the supervisor leave; a repeated check-out keeps the first time."""
    assignment = _held(session, session_id, supervisor_id)
    if assignment.status is S.CHECKED_OUT:
        return assignment
    if assignment.status is not S.CHECKED_IN:
        raise ConflictError(f"an assignment that is {assignment.status.value} cannot check out")
    _attend(
        session,
        assignment,
        action=AttendanceAction.CHECK_OUT,
        at=at,
        device_id=device_id,
        event_id=event_id,
    )
    return assignment


def override(
    session: Session,
    assignment: Assignment,
    *,
    action: AttendanceAction,
    at: datetime,
    reason: str,
    actor: Actor,
) -> Assignment:
    """A planner records what the door station could not (a broken reader); audited with why."""
    if assignment.status not in OVERRIDE_FROM[action]:
        raise ConflictError(
            f"an assignment that is {assignment.status.value} cannot be given {action.value}"
        )
    if action is AttendanceAction.CHECK_IN and assignment.status is not S.ACCEPTED:
        require_free(session, assignment)
    before = records.snapshot(assignment)
    _attend(session, assignment, action=action, at=at, device_id=None, event_id=None)
    record_change(
        session,
        actor,
        action=f"override:{action.value}",
        entity="assignment",
        entity_id=assignment.id,
        before=before,
        after=records.snapshot(assignment) | {"reason": reason},
    )
    return assignment


def _held(session: Session, session_id: int, supervisor_id: int) -> Assignment:
    assignment = find_held(session, session_id=session_id, supervisor_id=supervisor_id)
    if assignment is None:
        raise NotFoundError(
            f"supervisor {supervisor_id} has no assignment for exam session {session_id}"
        )
    return assignment


def _attend(
    session: Session,
    assignment: Assignment,
    *,
    action: AttendanceAction,
    at: datetime,
    device_id: str | None,
    event_id: int | None,
) -> None:
    """Set the status and its time, and keep the attendance row that says who, where and when."""
    if action is AttendanceAction.CHECK_IN:
        assignment.status, assignment.checked_in_at = S.CHECKED_IN, at
    else:
        assignment.status, assignment.checked_out_at = S.CHECKED_OUT, at
    session.add(
        AttendanceRecord(
            session_id=assignment.session_id,
            user_id=assignment.supervisor_id,
            action=action,
            at=at,
            device_id=device_id,
            event_id=event_id,
        )
    )
    session.flush()
