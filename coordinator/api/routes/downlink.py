"""Bundle sync status and remote commands: what devices hold, and what people ask of them."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from coordinator.api.crud import Limit, Offset
from coordinator.api.deps import ActorDep, ScopeDep, SessionDep, SettingsDep, allow
from coordinator.bundles.builder import Senders
from coordinator.bundles.commands import outgoing_for
from coordinator.db.enums import CommandState, Role
from coordinator.db.models import BundleSync, Device
from coordinator.link.base import Publisher
from coordinator.schemas.common import Code
from coordinator.schemas.downlink import CommandCreate, CommandPublic, SyncPublic
from coordinator.services import commands, downlink, records
from coordinator.services.placements import DEVICES, devices_in

A, M, T = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN
WATCHERS = Depends(allow(A, M, T))

router = APIRouter(tags=["downlink"])


def _device(session: SessionDep, scope: ScopeDep, device_id: str) -> Device:
    return records.find(session, Device, device_id, scope=scope, placement=DEVICES, what="device")


def _public(sync: BundleSync, behind: set[str]) -> SyncPublic:
    return SyncPublic.model_validate(
        {
            **{c: getattr(sync, c) for c in SyncPublic.model_fields if c != "is_behind"},
            "is_behind": sync.device_id in behind,
        }
    )


@router.get("/sync", response_model=list[SyncPublic], dependencies=[WATCHERS])
def list_sync(
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    behind_only: Annotated[bool, Query(description="Only devices that are behind.")] = False,
) -> list[SyncPublic]:
    """Every visible device's bundle state; `is_behind` flags lagging devices in a session."""
    visible = None
    if scope.building_ids is not None:
        visible = set(session.scalars(devices_in(scope.building_ids)))
    now = datetime.now(UTC)
    behind = downlink.behind_devices(session, now, timedelta(minutes=settings.sync_behind_min))
    rows = downlink.sync_rows(session, visible)
    return [_public(row, behind) for row in rows if not behind_only or row.device_id in behind]


@router.get("/devices/{device_id}/sync", response_model=SyncPublic, dependencies=[WATCHERS])
def device_sync(
    device_id: Code, session: SessionDep, scope: ScopeDep, settings: SettingsDep
) -> SyncPublic:
    """One device's bundle state."""
    device = _device(session, scope, device_id)
    sync = session.get(BundleSync, device.id) or BundleSync(device_id=device.id, built_version=0)
    now = datetime.now(UTC)
    behind = downlink.behind_devices(session, now, timedelta(minutes=settings.sync_behind_min))
    return _public(sync, behind)


@router.post(
    "/devices/{device_id}/commands",
    response_model=CommandPublic,
    status_code=201,
    dependencies=[WATCHERS],
)
def send_command(
    device_id: Code,
    body: CommandCreate,
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> CommandPublic:
    """Send open, resync, reboot or config; managers may only open doors of their buildings."""
    device = _device(session, scope, device_id)
    lifetime = timedelta(seconds=body.expires_in_s or settings.command_expiry_s)
    command = commands.issue(
        session,
        device,
        name=body.name,
        params=body.params(),
        reason=body.reason,
        lifetime=lifetime,
        now=datetime.now(UTC),
        actor=actor,
        scope=scope,
    )
    senders: Senders = request.app.state.senders
    outgoing = outgoing_for(session, command, senders)
    session.commit()
    if outgoing is not None:
        publisher: Publisher = request.app.state.publisher
        publisher.publish(outgoing.topic, outgoing.body, retain=outgoing.retain)
    return CommandPublic.model_validate(command)


@router.get(
    "/devices/{device_id}/commands", response_model=list[CommandPublic], dependencies=[WATCHERS]
)
def list_commands(
    device_id: Code,
    session: SessionDep,
    scope: ScopeDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: CommandState | None = None,
) -> list[CommandPublic]:
    """A device's commands, newest first: pending, done, failed, refused and expired."""
    device = _device(session, scope, device_id)
    rows = commands.listed(session, device.id, status=status, limit=limit, offset=offset)
    return [CommandPublic.model_validate(row) for row in rows]
