"""Sites, buildings, rooms, gates and devices."""

from typing import Any

from coordinator.api.crud import Filters, Resource, creating, crud_router, removing, updating
from coordinator.db.enums import DeviceStatus, GateDirection, Role
from coordinator.db.models import Building, Device, Gate, Room, Site
from coordinator.schemas import places as s
from coordinator.schemas.common import Code, Id, WireId
from coordinator.services import places
from coordinator.services.placements import BUILDINGS, DEVICES, GATES, ROOMS

A, M, T = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN


class SiteFilters(Filters):
    code: WireId | None = None


class BuildingFilters(Filters):
    site_id: Id | None = None
    code: Code | None = None


class RoomFilters(Filters):
    building_id: Id | None = None
    code: Code | None = None


class GateFilters(Filters):
    site_id: Id | None = None
    building_id: Id | None = None
    zone: WireId | None = None
    direction: GateDirection | None = None


class DeviceFilters(Filters):
    site_id: Id | None = None
    room_id: Id | None = None
    gate_id: Id | None = None
    status: DeviceStatus | None = None


RESOURCES: list[Resource[Any]] = [
    Resource(
        what="site",
        path="/sites",
        model=Site,
        public=s.SitePublic,
        filters=SiteFilters,
        readers=(A, M, T),
        writers=(A,),
        create_body=s.SiteCreate,
        create=creating(places.create_site),
        update_body=s.SiteUpdate,
        update=updating(places.update_site),
        remove=removing(places.remove, what="site"),
    ),
    Resource(
        what="building",
        path="/buildings",
        model=Building,
        public=s.BuildingPublic,
        filters=BuildingFilters,
        readers=(A, M, T),
        writers=(A,),
        create_body=s.BuildingCreate,
        create=creating(places.create_building),
        update_body=s.BuildingUpdate,
        update=updating(places.update_building),
        remove=removing(places.remove, what="building"),
        placement=BUILDINGS,
    ),
    Resource(
        what="room",
        path="/rooms",
        model=Room,
        public=s.RoomPublic,
        filters=RoomFilters,
        readers=(A, M, T),
        writers=(A, M),
        create_body=s.RoomCreate,
        create=creating(places.create_room),
        update_body=s.RoomUpdate,
        update=updating(places.update_room),
        remove=removing(places.remove, what="room"),
        placement=ROOMS,
    ),
    Resource(
        what="gate",
        path="/gates",
        model=Gate,
        public=s.GatePublic,
        filters=GateFilters,
        readers=(A, M, T),
        writers=(A,),
        create_body=s.GateCreate,
        create=creating(places.create_gate),
        update_body=s.GateUpdate,
        update=updating(places.update_gate),
        remove=removing(places.remove, what="gate"),
        placement=GATES,
    ),
    Resource(
        what="device",
        path="/devices",
        model=Device,
        public=s.DevicePublic,
        filters=DeviceFilters,
        readers=(A, M, T),
        writers=(A, T),
        create_body=s.DeviceCreate,
        create=creating(places.register_device),
        update_body=s.DeviceUpdate,
        update=updating(places.update_device),
        remove=removing(places.remove, what="device"),
        placement=DEVICES,
        key=WireId,
    ),
]

routers = [crud_router(resource) for resource in RESOURCES]
