"""Supervisor assignments and their life cycle; the caller owns the transaction.

proposed → accepted | declined        (the supervisor answers)
accepted → checked_in → checked_out   (the door station, or a planner)
proposed | accepted → absent          (a planner, or the rules at exam start)
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import Assignment, ExamSession, User
from coordinator.errors import ConflictError, ForbiddenError
from coordinator.services.audit import Actor
from coordinator.services.records import change

S = AssignmentStatus
TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    S.PROPOSED: frozenset({S.ACCEPTED, S.DECLINED, S.ABSENT}),
    S.ACCEPTED: frozenset({S.CHECKED_IN, S.ABSENT, S.DECLINED}),
    S.CHECKED_IN: frozenset({S.CHECKED_OUT}),
    S.DECLINED: frozenset({S.PROPOSED}),
    S.CHECKED_OUT: frozenset(),
    S.ABSENT: frozenset(),
}
# A declined assignment does not occupy the supervisor's time.
_HOLDS_TIME = [status for status in AssignmentStatus if status is not S.DECLINED]


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


def require_free(session: Session, assignment: Assignment) -> None:
    exam_session = session.get(ExamSession, assignment.session_id)
    assert exam_session is not None
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
            "at an overlapping time"
        )


def require_supervisors_free(
    session: Session, exam_session: ExamSession, starts_at: datetime, ends_at: datetime
) -> None:
    """Moving or stretching a session must not make any of its supervisors overlap."""
    held = session.scalars(
        select(Assignment).where(
            Assignment.session_id == exam_session.id, Assignment.status.in_(_HOLDS_TIME)
        )
    )
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
                f"{clash.id}: move or decline one of them first"
            )


def require_supervisor(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is None or user.role is not Role.SUPERVISOR or not user.is_active:
        raise ConflictError(f"user {user_id} is not an active supervisor")


def move(session: Session, assignment: Assignment, status: AssignmentStatus, actor: Actor) -> None:
    """Change the status if the life cycle allows it, and record who did it."""
    if status is assignment.status:
        return
    if status not in TRANSITIONS[assignment.status]:
        raise ConflictError(
            f"an assignment that is {assignment.status.value} cannot become {status.value}"
        )
    if status in (S.ACCEPTED, S.PROPOSED):
        require_free(session, assignment)
    change(
        session,
        assignment,
        {"status": status},
        actor=actor,
        what="assignment",
        action=f"status:{status.value}",
    )


def answer(
    session: Session, assignment: Assignment, user: User, accept: bool, actor: Actor
) -> None:
    """The supervisor's own yes or no to a proposed assignment."""
    if assignment.supervisor_id != user.id:
        raise ForbiddenError("only the assigned supervisor may answer this assignment")
    if assignment.status is not S.PROPOSED:
        raise ConflictError(f"this assignment is {assignment.status.value}, not proposed")
    move(session, assignment, S.ACCEPTED if accept else S.DECLINED, actor)
