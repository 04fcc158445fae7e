"""Turning a recorded command into what goes on the wire (or, for a resync, the bundle again)."""

from sqlalchemy.orm import Session

from coordinator.bundles.builder import Outgoing, Senders
from coordinator.db.enums import RemoteCommand
from coordinator.db.models import BundleSync, Device, DeviceCommand, Site
from coordinator.services import downlink
from protocols import (
    CommandName,
    ConfigChange,
    OpenDoor,
    Reboot,
    command_topic,
    encode,
)
from protocols.messages import CommandPayload


def outgoing_for(session: Session, command: DeviceCommand, senders: Senders) -> Outgoing | None:
    """The message that carries `command`; None when a resync must wait for a fresh build."""
    device = session.get_one(Device, command.device_id)
    site = session.get_one(Site, device.site_id)
    if command.name is RemoteCommand.RESYNC:
        sync = session.get(BundleSync, device.id)
        if sync is None or sync.signed is None:
            downlink.mark_stale(session, [device.id])
            return None
        topic = command_topic(site.code, device.id, CommandName.BUNDLE)
        return Outgoing(topic, sync.signed, retain=True)
    payload = wire_command(command)
    body = encode(senders.for_device(device.id).sequenced(payload))
    return Outgoing(command_topic(site.code, device.id, CommandName(payload.type)), body, False)


def wire_command(command: DeviceCommand) -> CommandPayload:
    params, expires = command.params, command.expires_at
    if command.name is RemoteCommand.OPEN:
        return OpenDoor(command_id=command.id, hold_s=params["hold_s"], expires_at=expires)
    if command.name is RemoteCommand.REBOOT:
        return Reboot(command_id=command.id, reason=command.reason, expires_at=expires)
    return ConfigChange(command_id=command.id, settings=params["settings"], expires_at=expires)
