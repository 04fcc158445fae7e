"""Remote commands to devices: who may ask what, the audited record, expiry and results.

A command is recorded (pending) with who asked and why, and carries an expiry: a device that
receives it later refuses it as expired instead of acting, and the coordinator marks a command
with no answer by then as expired. Results arrive through ingest (services.downlink).

Passages are the coordinator's own messages, not a person's: `passages_after` reads the
granted accesses devices reported and says which other gates of the site should hear of
each, so anti-passback holds across a site's gates (coordinator.bundles.passages sends them).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coordinator.db.enums import CommandState, DeviceStatus, RemoteCommand, Role
from coordinator.db.models import AccessLog, Device, DeviceCommand, Gate, Site, StudentPass
from coordinator.errors import ForbiddenError
from coordinator.services.audit import Actor, record_change
from coordinator.services.placements import building_of_device
from coordinator.services.records import snapshot
from coordinator.services.scope import Scope
from protocols import AccessDecision, Passage
from protocols.bundle import PersonKind, person_ref

# How much a round reads at most; a burst beyond it is read in the next rounds.
MAX_PASSAGES_PER_ROUND = 1000

# Who may send which command; managers only to devices of their buildings (Scope narrows).
ALLOWED: dict[RemoteCommand, frozenset[Role]] = {
    RemoteCommand.OPEN: frozenset({Role.ADMIN, Role.TECHNICIAN, Role.MANAGER}),
    RemoteCommand.RESYNC: frozenset({Role.ADMIN, Role.TECHNICIAN}),
    RemoteCommand.REBOOT: frozenset({Role.ADMIN, Role.TECHNICIAN}),
    RemoteCommand.CONFIG: frozenset({Role.ADMIN, Role.TECHNICIAN}),
}


def issue(
    session: Session,
    device: Device,
    *,
    name: RemoteCommand,
    params: dict[str, Any],
    reason: str,
    lifetime: timedelta,
    now: datetime,
    actor: Actor,
    scope: Scope,
) -> DeviceCommand:
    """Record a command for `device` after checking the caller may send it there."""
    if scope.role not in ALLOWED[name]:
        raise ForbiddenError(f"a {scope.role.value} may not send '{name.value}' to a device")
    scope.require_building(building_of_device(session, device.id), "device")
    command = DeviceCommand(
        id=uuid.uuid4(),
        device_id=device.id,
        name=name,
        params=params,
        issued_by_id=actor.user_id,
        reason=reason,
        issued_at=now,
        expires_at=now + lifetime,
        status=CommandState.PENDING,
    )
    session.add(command)
    session.flush()
    record_change(
        session,
        actor,
        action=f"command_{name.value}",
        entity="device_command",
        entity_id=command.id,
        before=None,
        after=snapshot(command),
    )
    return command


def expire_overdue(session: Session, now: datetime) -> int:
    """Pending commands past their expiry become expired; returns how many."""
    result = session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.status == CommandState.PENDING, DeviceCommand.expires_at <= now)
        .values(status=CommandState.EXPIRED, result_at=now, detail="no answer before the expiry")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def listed(
    session: Session, device_id: str, *, status: CommandState | None, limit: int, offset: int
) -> list[DeviceCommand]:
    query = select(DeviceCommand).where(DeviceCommand.device_id == device_id)
    if status is not None:
        query = query.where(DeviceCommand.status == status)
    query = query.order_by(DeviceCommand.issued_at.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


@dataclass(frozen=True)
class PassageNotice:
    """One gate to tell about one granted access at another gate of its site."""

    access_id: int
    site: str
    device_id: str
    passage: Passage


def first_access_since(session: Session, moment: datetime) -> int | None:
    """The id just before the first access a gate reported at or after `moment`; None if none."""
    first = session.scalar(
        select(AccessLog.id).where(AccessLog.at >= moment).order_by(AccessLog.id).limit(1)
    )
    return None if first is None else first - 1


def last_access_id(session: Session) -> int:
    return session.scalar(select(AccessLog.id).order_by(AccessLog.id.desc()).limit(1)) or 0


def passages_after(
    session: Session, after_id: int, *, now: datetime, window: timedelta
) -> list[PassageNotice]:
    """For each granted access of a known student reported by a gate after `after_id` and
    inside the anti-passback `window`, a notice to each other active gate of that site."""
    rows = session.execute(
        select(
            AccessLog.id,
            AccessLog.at,
            AccessLog.direction,
            AccessLog.device_id,
            AccessLog.student_id,
            StudentPass.pass_ref,
            Gate.site_id,
        )
        .join(Gate, Gate.id == AccessLog.gate_id)
        .outerjoin(StudentPass, StudentPass.id == AccessLog.pass_id)
        .where(
            AccessLog.id > after_id,
            AccessLog.decision == AccessDecision.GRANTED,
            AccessLog.student_id.is_not(None),
            AccessLog.device_id.is_not(None),
            AccessLog.at >= now - window,
        )
        .order_by(AccessLog.id)
        .limit(MAX_PASSAGES_PER_ROUND)
    ).all()
    if not rows:
        return []
    gates = session.execute(
        select(Device.id, Device.site_id, Site.code)
        .join(Site, Site.id == Device.site_id)
        .where(
            Device.gate_id.is_not(None),
            Device.status != DeviceStatus.RETIRED,
            Device.site_id.in_({row.site_id for row in rows}),
        )
        .order_by(Device.id)
    ).all()
    notices: list[PassageNotice] = []
    for row in rows:
        assert row.device_id is not None and row.student_id is not None
        passage = Passage(
            holder_ref=person_ref(PersonKind.STUDENT, row.student_id),
            pass_ref=row.pass_ref,
            direction=row.direction,
            at=row.at,
            gate_device_id=row.device_id,
            expires_at=row.at + window,
        )
        notices.extend(
            PassageNotice(row.id, gate.code, gate.id, passage)
            for gate in gates
            if gate.site_id == row.site_id and gate.id != row.device_id
        )
    return notices
