"""Which building each kind of record is in, and which supervisor it concerns (for scoping)."""

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from coordinator.db.enums import AssignmentStatus
from coordinator.db.models import (
    AccessLog,
    Assignment,
    AttemptRecord,
    AttendanceRecord,
    Building,
    Device,
    ExamSession,
    Gate,
    Room,
    ViolationRecord,
)
from coordinator.services.records import Placement


def rooms_in(buildings: frozenset[int]) -> Select[Any]:
    return select(Room.id).where(Room.building_id.in_(buildings))


def sessions_in(buildings: frozenset[int]) -> Select[Any]:
    return select(ExamSession.id).where(ExamSession.room_id.in_(rooms_in(buildings)))


def devices_in(buildings: frozenset[int]) -> Select[Any]:
    gates = select(Gate.id).where(Gate.building_id.in_(buildings))
    return select(Device.id).where(
        or_(Device.room_id.in_(rooms_in(buildings)), Device.gate_id.in_(gates))
    )


def building_of_room(session: Session, room_id: int | None) -> int | None:
    return session.scalar(select(Room.building_id).where(Room.id == room_id)) if room_id else None


def building_of_session(session: Session, session_id: int | None) -> int | None:
    if session_id is None:
        return None
    room_id = session.scalar(select(ExamSession.room_id).where(ExamSession.id == session_id))
    return building_of_room(session, room_id)


def building_of_device(session: Session, device_id: str | None) -> int | None:
    device = session.get(Device, device_id) if device_id else None
    return _device_building(session, device) if device else None


def _device_building(session: Session, device: Device) -> int | None:
    """Follows the room or gate the device is bound to (also for one not stored yet)."""
    if device.room_id:
        return building_of_room(session, device.room_id)
    if device.gate_id:
        return session.scalar(select(Gate.building_id).where(Gate.id == device.gate_id))
    return None


def supervises(session: Session, session_id: int | None, user_id: int) -> bool:
    """Whether the user holds an assignment they have not declined for the exam session.

    A supervisor who declined is no longer part of the session: they neither see it nor report
    on it.
    """
    return (
        session_id is not None
        and session.scalar(_assigned_sessions(user_id).where(Assignment.session_id == session_id))
        is not None
    )


def _assigned_sessions(user_id: int) -> Select[Any]:
    return select(Assignment.session_id).where(
        Assignment.supervisor_id == user_id, Assignment.status != AssignmentStatus.DECLINED
    )


BUILDINGS = Placement[Building](
    building_of=lambda s, b: b.id,
    visible=lambda q, ids: q.where(Building.id.in_(ids)),
)
ROOMS = Placement[Room](
    building_of=lambda s, r: r.building_id,
    visible=lambda q, ids: q.where(Room.building_id.in_(ids)),
)
GATES = Placement[Gate](
    building_of=lambda s, g: g.building_id,
    visible=lambda q, ids: q.where(Gate.building_id.in_(ids)),
)
DEVICES = Placement[Device](
    building_of=_device_building,
    visible=lambda q, ids: q.where(Device.id.in_(devices_in(ids))),
)
EXAM_SESSIONS = Placement[ExamSession](
    building_of=lambda s, x: building_of_room(s, x.room_id),
    visible=lambda q, ids: q.where(ExamSession.room_id.in_(rooms_in(ids))),
    is_theirs=lambda s, x, user: supervises(s, x.id, user),
    theirs=lambda q, user: q.where(ExamSession.id.in_(_assigned_sessions(user))),
)
ASSIGNMENTS = Placement[Assignment](
    building_of=lambda s, a: building_of_session(s, a.session_id),
    visible=lambda q, ids: q.where(Assignment.session_id.in_(sessions_in(ids))),
    is_theirs=lambda s, a, user: a.supervisor_id == user,
    theirs=lambda q, user: q.where(Assignment.supervisor_id == user),
)
ATTENDANCE = Placement[AttendanceRecord](
    building_of=lambda s, a: building_of_session(s, a.session_id),
    visible=lambda q, ids: q.where(AttendanceRecord.session_id.in_(sessions_in(ids))),
    is_theirs=lambda s, a, user: a.user_id == user,
    theirs=lambda q, user: q.where(AttendanceRecord.user_id == user),
)
ATTEMPTS = Placement[AttemptRecord](
    building_of=lambda s, a: building_of_device(s, a.device_id),
    visible=lambda q, ids: q.where(AttemptRecord.device_id.in_(devices_in(ids))),
)
ACCESS_LOGS = Placement[AccessLog](
    building_of=lambda s, a: s.scalar(select(Gate.building_id).where(Gate.id == a.gate_id)),
    visible=lambda q, ids: q.where(
        AccessLog.gate_id.in_(select(Gate.id).where(Gate.building_id.in_(ids)))
    ),
)
VIOLATIONS = Placement[ViolationRecord](
    building_of=lambda s, v: (
        building_of_session(s, v.session_id) if v.session_id else building_of_device(s, v.device_id)
    ),
    visible=lambda q, ids: q.where(
        or_(
            ViolationRecord.session_id.in_(sessions_in(ids)),
            ViolationRecord.device_id.in_(devices_in(ids)),
        )
    ),
    is_theirs=lambda s, v, user: v.reported_by_id == user,
    theirs=lambda q, user: q.where(ViolationRecord.reported_by_id == user),
)
