"""Remote commands to devices: who may ask what, the audited record, expiry and results.

A command is recorded (pending) with who asked and why, and carries an expiry: a device that
receives it later refuses it as expired instead of acting, and the coordinator marks a command
with no answer by then as expired. Results arrive through ingest (services.downlink).
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coordinator.db.enums import CommandState, RemoteCommand, Role
from coordinator.db.models import Device, DeviceCommand
from coordinator.errors import ForbiddenError
from coordinator.services.audit import Actor, record_change
from coordinator.services.placements import building_of_device
from coordinator.services.records import snapshot
from coordinator.services.scope import Scope

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
