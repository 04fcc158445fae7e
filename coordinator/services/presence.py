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
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from coordinator.db.bulk import lock_rows, update_by_key
from coordinator.db.models import DevicePresence
from protocols import Birth, Death, Envelope, Health, Heartbeat


@dataclass(frozen=True)
class Signal:
    """A newly stored birth, death or heartbeat, with the time the coordinator received it."""

    envelope: Envelope
    received_at: datetime


@dataclass
class _Presence:
    """One device's row while a batch is folded into it (plain values: the ORM's bookkeeping
    per attribute cost more than the rest of the batch, and most of the fleet's traffic is
    heartbeats)."""

    device_id: str
    is_online: bool
    boot_id: UUID | None
    born_at: datetime | None
    changed_at: datetime
    last_seen_at: datetime
    agent_version: str | None
    bundle_version: int | None
    health: Health | dict[str, Any] | None  # a heartbeat's model, dumped once per batch

    def values(self) -> dict[str, object]:
        """The row's columns."""
        health = self.health
        if isinstance(health, Health):
            health = health.model_dump(mode="json")
        return vars(self) | {"health": health}


def is_presence(envelope: Envelope) -> bool:
    return isinstance(envelope.payload, Birth | Death | Heartbeat)


def apply(session: Session, signals: Iterable[Signal]) -> None:
    """Fold births, deaths and heartbeats into each device's presence, oldest first."""
    ordered = sorted(signals, key=lambda s: (s.envelope.device_id, s.envelope.device_time))
    if not ordered:
        return
    rows = _lock(session, sorted({s.envelope.device_id for s in ordered}), ordered[0].received_at)
    for signal in ordered:
        _fold(rows[signal.envelope.device_id], signal)
    update_by_key(session, DevicePresence, ("device_id",), [row.values() for row in rows.values()])


def _lock(session: Session, device_ids: list[str], now: datetime) -> dict[str, _Presence]:
    """Each device's row, locked for this commit; a device heard of for the first time gets an
    offline row first."""
    rows = lock_rows(
        session,
        DevicePresence,
        ("device_id",),
        [(device_id,) for device_id in device_ids],
        lambda key: {
            "device_id": key[0],
            "is_online": False,
            "changed_at": now,
            "last_seen_at": now,
        },
    )
    return {key[0]: _Presence(**row) for key, row in rows.items()}


def _fold(row: _Presence, signal: Signal) -> None:
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
        row.health = payload.health
        if not envelope.replayed and row.boot_id in (None, envelope.boot_id):
            _set_online(row, is_online=True, at=signal.received_at)


def _set_online(row: _Presence, *, is_online: bool, at: datetime) -> None:
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
