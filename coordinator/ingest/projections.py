"""Device events become domain records, through the same service verbs the API and CSV use.

Runs in the transaction that stores the event rows, for new events only, so a duplicate
delivery changes nothing. An event that names something the coordinator does not know (a
person, an assignment, a pass, a device that is not registered or is retired) stays stored as
an event, flagged with the refusal in `events.refusal`; it never blocks the batch. Each event is
projected inside a savepoint, so a refusal undoes that event's projection and nothing else.
"""

from collections.abc import Callable, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coordinator.db.enums import DeviceStatus
from coordinator.db.models import Assignment, Device, Event, Student, StudentPass, User
from coordinator.errors import CoordinatorError, NotFoundError
from coordinator.services import activity, assignments, exams, violations
from protocols import (
    Access,
    Attempt,
    Attendance,
    AttendanceAction,
    Envelope,
    ProtocolError,
    Violation,
)
from protocols.bundle import PersonKind, parse_person_ref

Projected = Attendance | Attempt | Access | Violation


class RefusedError(NotFoundError):
    """The event names something the coordinator does not know; the message says what."""


def project(session: Session, events: Iterable[tuple[int, Envelope]]) -> dict[int, str]:
    """Project each new event; returns the refusal of each event that could not be projected."""
    projected = [(i, e) for i, e in events if isinstance(e.payload, Projected)]
    if not projected:
        return {}
    device_ids = {envelope.device_id for _, envelope in projected}
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(device_ids)))}
    refusals: dict[int, str] = {}
    for event_id, envelope in projected:
        try:
            device = _registered(devices.get(envelope.device_id), envelope.device_id)
            handler = _HANDLERS[type(envelope.payload)]  # type: ignore[index]
            with session.begin_nested():
                handler(session, device, event_id, envelope)
        except (CoordinatorError, ProtocolError) as error:
            refusals[event_id] = str(error)[:500]
    if refusals:
        session.execute(
            update(Event),
            [{"id": event_id, "refusal": refusal} for event_id, refusal in refusals.items()],
        )
    return refusals


def _registered(device: Device | None, device_id: str) -> Device:
    if device is None:
        raise RefusedError(f"device {device_id!r} is not registered")
    if device.status is DeviceStatus.RETIRED:
        raise RefusedError(f"device {device_id!r} is retired")
    return device


def _attendance(session: Session, device: Device, event_id: int, envelope: Envelope) -> None:
    payload = envelope.payload
    assert isinstance(payload, Attendance)
    kind, person_id = parse_person_ref(payload.person_ref)
    at = envelope.device_time
    if kind is PersonKind.STUDENT:
        exams.record_student_attendance(
            session,
            session_id=_student_session(payload.assignment_ref),
            student_id=_known(session, Student, person_id, payload.person_ref),
            action=payload.action,
            at=at,
            device_id=device.id,
            event_id=event_id,
        )
        return
    assignment = session.get(Assignment, _number(payload.assignment_ref, "assignment"))
    if assignment is None or assignment.supervisor_id != person_id:
        raise RefusedError(f"{payload.person_ref} holds no assignment {payload.assignment_ref!r}")
    is_check_in = payload.action is AttendanceAction.CHECK_IN
    verb = assignments.check_in if is_check_in else assignments.check_out
    verb(
        session,
        session_id=assignment.session_id,
        supervisor_id=person_id,
        at=at,
        device_id=device.id,
        event_id=event_id,
    )


def _attempt(session: Session, device: Device, event_id: int, envelope: Envelope) -> None:
    payload = envelope.payload
    assert isinstance(payload, Attempt)
    user_id, student_id = _person(session, payload.subject_ref)
    activity.record_attempt(
        session,
        device_id=device.id,
        at=envelope.device_time,
        station=payload.station,
        credential=payload.credential,
        outcome=payload.outcome,
        reason=payload.reason,
        user_id=user_id,
        student_id=student_id,
        face_distance=payload.face_distance,
        event_id=event_id,
    )


def _access(session: Session, device: Device, event_id: int, envelope: Envelope) -> None:
    payload = envelope.payload
    assert isinstance(payload, Access)
    if device.gate_id is None:
        raise RefusedError(f"device {device.id!r} guards no gate")
    _, student_id = _person(session, payload.subject_ref)
    pass_id = None
    if payload.pass_ref is not None:
        pass_id = session.scalar(
            select(StudentPass.id).where(StudentPass.pass_ref == payload.pass_ref)
        )
        if pass_id is None:
            raise RefusedError(f"pass {payload.pass_ref!r} is unknown")
    activity.record_access(
        session,
        gate_id=device.gate_id,
        at=envelope.device_time,
        decision=payload.decision,
        reason=payload.reason,
        direction=payload.direction,
        device_id=device.id,
        student_id=student_id,
        pass_id=pass_id,
        event_id=event_id,
    )


def _violation(session: Session, device: Device, event_id: int, envelope: Envelope) -> None:
    payload = envelope.payload
    assert isinstance(payload, Violation)
    violations.raise_from_device(
        session,
        device_id=device.id,
        type=payload.violation_type,
        severity=payload.severity,
        at=envelope.device_time,
        confidence=payload.confidence,
        detail=payload.detail,
        evidence_ref=payload.evidence_ref,
    )


def _person(session: Session, ref: str | None) -> tuple[int | None, int | None]:
    """(user id, student id) of the person a subject ref names; refused if unknown."""
    if ref is None:
        return None, None
    kind, record_id = parse_person_ref(ref)
    if kind is PersonKind.USER:
        return _known(session, User, record_id, ref), None
    return None, _known(session, Student, record_id, ref)


def _known(session: Session, model: type[User] | type[Student], record_id: int, ref: str) -> int:
    if session.get(model, record_id) is None:
        raise RefusedError(f"{ref} is not known to the coordinator")
    return record_id


def _number(ref: str | None, what: str) -> int:
    if ref is None or not ref.isdigit() or len(ref) > 9:
        raise RefusedError(f"{what} {ref!r} is not one the coordinator issued")
    return int(ref)


def _student_session(assignment_ref: str | None) -> int:
    """A student's attendance names `student-<id>@<session id>` (the door station's key)."""
    _, _, session_ref = (assignment_ref or "").rpartition("@")
    return _number(session_ref, "exam session")


_HANDLERS: dict[type[Projected], Callable[[Session, Device, int, Envelope], None]] = {
    Attendance: _attendance,
    Attempt: _attempt,
    Access: _access,
    Violation: _violation,
}
