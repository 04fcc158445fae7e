"""The downlink's bookkeeping: which devices' bundles are stale, and what devices answered.

`mark_changed` is the one hook every audited change passes through (services.audit calls it for
each entry), so any change that a bundle carries marks the devices it concerns stale in the same
transaction, whichever entry point made it. The builder (coordinator.bundles) compiles stale
bundles later, outside the request. `apply_replies` folds devices' bundle acks and command
results, as ingest stores them, into the sync state and the command log.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from coordinator.db.enums import AssignmentStatus, CommandState
from coordinator.db.models import (
    Assignment,
    BundleSync,
    Device,
    DeviceCommand,
    ExamSession,
    Room,
    SessionEnrolment,
)
from protocols import BundleAck, BundleStatus, CommandResult, CommandStatus, Envelope

# A supervisor is on a room's roster from the proposal until the session is over; a declined
# or absent one is not.
ON_ROSTER = (
    AssignmentStatus.PROPOSED,
    AssignmentStatus.ACCEPTED,
    AssignmentStatus.CHECKED_IN,
    AssignmentStatus.CHECKED_OUT,
)

Snapshot = Mapping[str, Any] | None


def mark_stale(session: Session, device_ids: Iterable[str], now: datetime | None = None) -> int:
    """Mark these devices' bundles stale as of now.

    The mark is the time of the latest change: the builder waits until it is `debounce` old
    (a burst of edits costs one build), and a change that lands while a bundle is being built
    moves the mark, so the builder knows to build again. A few statements whatever the number
    of devices: a change to a site touches all of them.
    """
    wanted = set(device_ids)
    if not wanted:
        return 0
    moment = now or datetime.now(UTC)
    devices = set(session.scalars(select(Device.id).where(Device.id.in_(wanted))))
    tracked = set(
        session.scalars(select(BundleSync.device_id).where(BundleSync.device_id.in_(devices)))
    )
    if devices - tracked:
        session.execute(
            insert(BundleSync),
            [
                {"device_id": device_id, "stale_since": moment, "built_version": 0}
                for device_id in sorted(devices - tracked)
            ],
        )
    if tracked:
        # Lock in device order, as ingest and the builder do, so concurrent writers never
        # wait on each other in a cycle (PostgreSQL would abort one as a deadlock).
        session.execute(
            select(BundleSync.device_id)
            .where(BundleSync.device_id.in_(tracked))
            .order_by(BundleSync.device_id)
            .with_for_update()
        )
        session.execute(
            update(BundleSync)
            .where(BundleSync.device_id.in_(tracked))
            .values(stale_since=moment)
            .execution_options(synchronize_session=False)
        )
    return len(devices)


def mark_changed(
    session: Session, entity: str, entity_id: object, before: Snapshot, after: Snapshot
) -> int:
    """Mark stale the bundles of the devices an audited change concerns; returns how many."""
    finder = _FINDERS.get(entity)
    if finder is None:
        return 0
    with session.no_autoflush:
        devices = finder(session, str(entity_id), [s for s in (before, after) if s])
    return mark_stale(session, devices)


def mark_all_stale(session: Session) -> int:
    """Every device: the signing keys changed, so every bundle must be signed again."""
    return mark_stale(session, session.scalars(select(Device.id)))


# --- which devices a change concerns -------------------------------------------------------------


def _values(snapshots: list[Mapping[str, Any]], column: str) -> set[int]:
    return {int(s[column]) for s in snapshots if s.get(column) is not None}


def _devices_where(session: Session, *conditions: Any) -> set[str]:
    return set(session.scalars(select(Device.id).where(or_(*conditions))))


def _room_devices(session: Session, room_ids: set[int]) -> set[str]:
    return _devices_where(session, Device.room_id.in_(room_ids)) if room_ids else set()


def _building_devices(session: Session, room_ids: set[int]) -> set[str]:
    """Door devices of every room in these rooms' buildings: a supervisor assigned in a
    building is known by card at all its doors (coordinator.bundles.catalogue)."""
    buildings = select(Room.building_id).where(Room.id.in_(room_ids))
    rooms = set(session.scalars(select(Room.id).where(Room.building_id.in_(buildings))))
    return _room_devices(session, rooms)


def _session_devices(session: Session, session_ids: set[int]) -> set[str]:
    rooms = set(session.scalars(select(ExamSession.room_id).where(ExamSession.id.in_(session_ids))))
    return _room_devices(session, rooms)


def _person_devices(session: Session, user_ids: set[int], student_ids: set[int]) -> set[str]:
    """Devices at the rooms where these people are expected at a session not yet over."""
    now = datetime.now(UTC)
    rooms: set[int] = set()
    if user_ids:
        rooms |= set(
            session.scalars(
                select(ExamSession.room_id)
                .join(Assignment, Assignment.session_id == ExamSession.id)
                .where(Assignment.supervisor_id.in_(user_ids), ExamSession.ends_at > now)
            )
        )
    if student_ids:
        rooms |= set(
            session.scalars(
                select(ExamSession.room_id)
                .join(SessionEnrolment, SessionEnrolment.session_id == ExamSession.id)
                .where(SessionEnrolment.student_id.in_(student_ids), ExamSession.ends_at > now)
            )
        )
    return _building_devices(session, rooms)


def _gate_devices(session: Session) -> set[str]:
    return _devices_where(session, Device.gate_id.is_not(None))


def _own_id(entity_id: str) -> set[int]:
    return {int(entity_id)} if entity_id.isdigit() else set()


Finder = Callable[[Session, str, list[Mapping[str, Any]]], set[str]]
_FINDERS: dict[str, Finder] = {
    "site": lambda s, i, snaps: _devices_where(s, Device.site_id.in_(_own_id(i))),
    "room": lambda s, i, snaps: _room_devices(s, _own_id(i)),
    "gate": lambda s, i, snaps: _devices_where(s, Device.gate_id.in_(_own_id(i))),
    "gate time rule": lambda s, i, snaps: _devices_where(
        s, Device.gate_id.in_(_values(snaps, "gate_id"))
    ),
    "device": lambda s, i, snaps: {i},
    "exam": lambda s, i, snaps: _session_devices(
        s, set(s.scalars(select(ExamSession.id).where(ExamSession.exam_id.in_(_own_id(i)))))
    ),
    "exam session": lambda s, i, snaps: _room_devices(s, _values(snaps, "room_id")),
    "assignment": lambda s, i, snaps: _building_devices(
        s,
        set(
            s.scalars(
                select(ExamSession.room_id).where(ExamSession.id.in_(_values(snaps, "session_id")))
            )
        ),
    ),
    "enrolment": lambda s, i, snaps: _session_devices(s, _values(snaps, "session_id")),
    "card": lambda s, i, snaps: _person_devices(
        s, _values(snaps, "user_id"), _values(snaps, "student_id")
    ),
    "face_templates": lambda s, i, snaps: _person_devices(s, _own_id(i), set()),
    "user": lambda s, i, snaps: _person_devices(s, _own_id(i), set()),
    "student": lambda s, i, snaps: _person_devices(s, set(), _own_id(i)) | _gate_devices(s),
    "pass": lambda s, i, snaps: _gate_devices(s),
}


# --- what devices answered -----------------------------------------------------------------------


def apply_replies(session: Session, envelopes: Iterable[Envelope], now: datetime) -> None:
    """Fold bundle acks and command results into sync state; repeating one changes nothing.

    In device order, the order every writer of sync rows locks them in. A batch reads its sync
    rows and commands in one query each and finishes resyncs in one statement: an ingest batch
    after a push holds an ack from every device.
    """
    replies = sorted(envelopes, key=lambda item: item.device_id)
    acks = [(e.device_id, e.payload) for e in replies if isinstance(e.payload, BundleAck)]
    results = [(e.device_id, e.payload) for e in replies if isinstance(e.payload, CommandResult)]
    if acks:
        device_ids = sorted({device_id for device_id, _ in acks})
        syncs = {
            sync.device_id: sync
            for sync in session.scalars(
                select(BundleSync).where(BundleSync.device_id.in_(device_ids))
            )
        }
        applied = [
            device_id
            for device_id, ack in acks
            if (sync := syncs.get(device_id)) is not None and _apply_bundle_ack(sync, ack, now)
        ]
        _finish_resyncs(session, sorted(set(applied)), now)
    if results:
        ids = [result.command_id for _, result in results]
        commands = {
            command.id: command
            for command in session.scalars(select(DeviceCommand).where(DeviceCommand.id.in_(ids)))
        }
        for device_id, result in results:
            _apply_command_result(commands.get(result.command_id), device_id, result, now)


def _apply_bundle_ack(sync: BundleSync, ack: BundleAck, now: datetime) -> bool:
    """Fold one ack into its device's sync row; True when the device applied the bundle."""
    if ack.status is BundleStatus.APPLIED:
        if sync.acked_version is None or ack.bundle_version >= sync.acked_version:
            sync.acked_version, sync.acked_hash = ack.bundle_version, ack.content_hash
            sync.acked_at = now
        if sync.refused_version is not None and sync.refused_version <= ack.bundle_version:
            sync.refused_version = sync.refused_reason = sync.refused_at = None
        return True
    refusal = ack.refusal.value if ack.refusal else "refused"
    sync.refused_version = ack.bundle_version
    sync.refused_reason = f"{refusal}: {ack.reason or ''}".strip(": ")[:500]
    sync.refused_at = now
    return False


def _finish_resyncs(session: Session, device_ids: list[str], now: datetime) -> None:
    """A pending resync is done once its device acknowledges any applied bundle."""
    if not device_ids:
        return
    session.execute(
        update(DeviceCommand)
        .where(
            DeviceCommand.device_id.in_(device_ids),
            DeviceCommand.name == "resync",
            DeviceCommand.status == CommandState.PENDING,
        )
        .values(status=CommandState.DONE, result_at=now, detail="the device acknowledged")
    )


_RESULT_STATES = {
    CommandStatus.DONE: CommandState.DONE,
    CommandStatus.FAILED: CommandState.FAILED,
    CommandStatus.REFUSED: CommandState.REFUSED,
    CommandStatus.EXPIRED: CommandState.EXPIRED,
}


def _apply_command_result(
    command: DeviceCommand | None, device_id: str, result: CommandResult, now: datetime
) -> None:
    # Only the device the command was for may answer it, and only once.
    if command is None or command.device_id != device_id:
        return
    if command.status not in (CommandState.PENDING, CommandState.EXPIRED):
        return
    command.status = _RESULT_STATES[result.status]
    command.result_at = now
    command.detail = result.detail


# --- sync status ---------------------------------------------------------------------------------


def sync_rows(session: Session, device_ids: Iterable[str] | None = None) -> list[BundleSync]:
    query = select(BundleSync).order_by(BundleSync.device_id)
    if device_ids is not None:
        query = query.where(BundleSync.device_id.in_(list(device_ids)))
    return list(session.scalars(query))


def behind_devices(session: Session, now: datetime, allowed: timedelta) -> set[str]:
    """Devices whose acknowledged bundle lags the built one for longer than `allowed` while a
    session is running in their room: what a rules engine turns into a violation."""
    running_rooms = select(ExamSession.room_id).where(
        ExamSession.starts_at <= now, ExamSession.ends_at > now
    )
    lagging = session.execute(
        select(BundleSync.device_id, BundleSync.built_at)
        .join(Device, Device.id == BundleSync.device_id)
        .where(
            Device.room_id.in_(running_rooms),
            or_(
                BundleSync.acked_version.is_(None),
                BundleSync.acked_version < BundleSync.built_version,
            ),
        )
    ).all()
    return {
        device_id
        for device_id, built_at in lagging
        if built_at is not None and now - built_at > allowed
    }
