"""Device presence in the manner of Sparkplug B: birth, death, heartbeats and a silence timer.

The retained birth sets a device online at once and the last-will death offline at once, but
a death carries the boot id of the connection that set it: a death from an earlier boot than
the current birth is stale (the will of a connection the device already replaced) and changes
nothing. Heartbeats refresh last seen, versions and health. A device silent for the configured
number of heartbeat intervals is marked offline by `mark_silent_offline`, run on a timer.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from coordinator.db.models import DevicePresence
from protocols import Birth, Death, Envelope, Heartbeat


@dataclass(frozen=True)
class Signal:
    """A newly stored birth, death or heartbeat, with the time the coordinator received it."""

    envelope: Envelope
    received_at: datetime


def is_presence(envelope: Envelope) -> bool:
    return isinstance(envelope.payload, Birth | Death | Heartbeat)


def apply(session: Session, signals: Iterable[Signal]) -> None:
    """Fold births, deaths and heartbeats into each device's presence, oldest first."""
    ordered = sorted(signals, key=lambda s: (s.envelope.device_id, s.envelope.device_time))
    if not ordered:
        return
    device_ids = sorted({s.envelope.device_id for s in ordered})
    rows = {
        row.device_id: row
        for row in session.scalars(
            select(DevicePresence)
            .where(DevicePresence.device_id.in_(device_ids))
            .order_by(DevicePresence.device_id)
            .with_for_update()
        )
    }
    for signal in ordered:
        device_id = signal.envelope.device_id
        row = rows.get(device_id)
        if row is None:
            row = rows[device_id] = DevicePresence(
                device_id=device_id,
                is_online=False,
                changed_at=signal.received_at,
                last_seen_at=signal.received_at,
            )
            session.add(row)
        _fold(row, signal)


def _fold(row: DevicePresence, signal: Signal) -> None:
    envelope, payload = signal.envelope, signal.envelope.payload
    if isinstance(payload, Birth):
        if row.born_at is not None and envelope.device_time < row.born_at:
            return  # an older boot's birth, delivered after the newer one
        row.boot_id, row.born_at = envelope.boot_id, envelope.device_time
        row.agent_version, row.bundle_version = payload.agent_version, payload.bundle_version
        _set_online(row, is_online=True, at=signal.received_at)
        row.last_seen_at = max(row.last_seen_at, signal.received_at)
    elif isinstance(payload, Death):
        if row.boot_id is None or row.boot_id == envelope.boot_id:
            _set_online(row, is_online=False, at=signal.received_at)
    elif isinstance(payload, Heartbeat):
        row.last_seen_at = max(row.last_seen_at, signal.received_at)
        row.agent_version = payload.health.agent_version
        row.bundle_version = payload.health.bundle_version
        row.health = payload.health.model_dump(mode="json")
        if not envelope.replayed and row.boot_id in (None, envelope.boot_id):
            _set_online(row, is_online=True, at=signal.received_at)


def _set_online(row: DevicePresence, *, is_online: bool, at: datetime) -> None:
    if row.is_online != is_online:
        row.is_online, row.changed_at = is_online, at


def mark_silent_offline(session: Session, *, now: datetime, silence: timedelta) -> list[str]:
    """Mark offline every online device not heard from for `silence`; returns their ids."""
    result = session.execute(
        update(DevicePresence)
        .where(DevicePresence.is_online.is_(True), DevicePresence.last_seen_at < now - silence)
        .values(is_online=False, changed_at=now)
        .returning(DevicePresence.device_id)
    )
    return sorted(result.scalars())


def count_online(session: Session) -> int:
    query = select(func.count()).where(DevicePresence.is_online.is_(True))
    return session.scalar(query) or 0
