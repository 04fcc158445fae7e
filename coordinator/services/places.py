"""Sites, buildings, rooms, gates and devices; the caller owns the transaction.

The one rule beyond references and scope: a geofence is whole. A room or gate has latitude,
longitude and radius together, or none of them, after every create and every update (a change
is merged with what is stored before it is checked).
"""

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from coordinator.db.models import Base, Building, Device, Gate, Room, Site
from coordinator.errors import InvalidInputError
from coordinator.schemas import places as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.placements import BUILDINGS, DEVICES, GATES, ROOMS
from coordinator.services.scope import Scope

P = TypeVar("P", bound=Base)
GEOFENCE = ("latitude", "longitude", "geofence_radius_m")
GEOFENCE_MESSAGE = "give latitude, longitude and geofence_radius_m together, or none"


def require_whole_geofence(values: dict[str, Any]) -> None:
    given = [values.get(name) is not None for name in GEOFENCE]
    if any(given) and not all(given):
        raise InvalidInputError(GEOFENCE_MESSAGE, field="latitude")


def _fenced_changes(record: Room | Gate, changes: dict[str, Any]) -> dict[str, Any]:
    merged = {name: changes.get(name, getattr(record, name)) for name in GEOFENCE}
    require_whole_geofence(merged)
    return changes


def create_site(session: Session, *, data: s.SiteCreate, actor: Actor, scope: Scope) -> Site:
    site = Site(**data.model_dump())
    return records.create(session, site, actor=actor, scope=scope, placement=None, what="site")


def update_site(
    session: Session, site: Site, *, changes: s.SiteUpdate, actor: Actor, scope: Scope
) -> Site:
    values = records.given(changes, Site)
    return records.update(
        session, site, values, actor=actor, scope=scope, placement=None, what="site"
    )


def create_building(
    session: Session, *, data: s.BuildingCreate, actor: Actor, scope: Scope
) -> Building:
    building = Building(**data.model_dump())
    return records.create(
        session, building, actor=actor, scope=scope, placement=BUILDINGS, what="building"
    )


def update_building(
    session: Session, building: Building, *, changes: s.BuildingUpdate, actor: Actor, scope: Scope
) -> Building:
    values = records.given(changes, Building)
    return records.update(
        session, building, values, actor=actor, scope=scope, placement=BUILDINGS, what="building"
    )


def create_room(session: Session, *, data: s.RoomCreate, actor: Actor, scope: Scope) -> Room:
    values = data.model_dump()
    require_whole_geofence(values)
    return records.create(
        session, Room(**values), actor=actor, scope=scope, placement=ROOMS, what="room"
    )


def update_room(
    session: Session, room: Room, *, changes: s.RoomUpdate, actor: Actor, scope: Scope
) -> Room:
    values = _fenced_changes(room, records.given(changes, Room))
    return records.update(
        session, room, values, actor=actor, scope=scope, placement=ROOMS, what="room"
    )


def create_gate(session: Session, *, data: s.GateCreate, actor: Actor, scope: Scope) -> Gate:
    values = data.model_dump()
    require_whole_geofence(values)
    return records.create(
        session, Gate(**values), actor=actor, scope=scope, placement=GATES, what="gate"
    )


def update_gate(
    session: Session, gate: Gate, *, changes: s.GateUpdate, actor: Actor, scope: Scope
) -> Gate:
    values = _fenced_changes(gate, records.given(changes, Gate))
    return records.update(
        session, gate, values, actor=actor, scope=scope, placement=GATES, what="gate"
    )


def register_device(
    session: Session, *, data: s.DeviceCreate, actor: Actor, scope: Scope
) -> Device:
    device = Device(**data.model_dump())
    return records.create(
        session, device, actor=actor, scope=scope, placement=DEVICES, what="device"
    )


def update_device(
    session: Session, device: Device, *, changes: s.DeviceUpdate, actor: Actor, scope: Scope
) -> Device:
    values = records.given(changes, Device)
    return records.update(
        session, device, values, actor=actor, scope=scope, placement=DEVICES, what="device"
    )


def remove(session: Session, record: P, *, actor: Actor, what: str) -> None:
    """Delete a site, building, room, gate or device nothing refers to any more."""
    records.delete(session, record, actor=actor, what=what)
