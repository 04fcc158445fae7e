"""Sites, buildings, rooms, gates and devices."""

from typing import Any

from pydantic import BaseModel

from coordinator.api.crud import Resource, crud_router
from coordinator.db.enums import DeviceStatus, GateDirection, Role
from coordinator.db.models import Building, Device, Gate, Room, Site
from coordinator.schemas import places as s
from coordinator.schemas.common import Code, Id
from coordinator.services.placements import BUILDINGS, DEVICES, GATES, ROOMS

A, M, T = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN


class SiteFilters(BaseModel):
    code: str | None = None


class BuildingFilters(BaseModel):
    site_id: Id | None = None
    code: str | None = None


class RoomFilters(BaseModel):
    building_id: Id | None = None
    code: str | None = None


class GateFilters(BaseModel):
    site_id: Id | None = None
    building_id: Id | None = None
    zone: str | None = None
    direction: GateDirection | None = None


class DeviceFilters(BaseModel):
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
        create=s.SiteCreate,
        update=s.SiteUpdate,
        deletable=True,
    ),
    Resource(
        what="building",
        path="/buildings",
        model=Building,
        public=s.BuildingPublic,
        filters=BuildingFilters,
        readers=(A, M, T),
        writers=(A,),
        create=s.BuildingCreate,
        update=s.BuildingUpdate,
        deletable=True,
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
        create=s.RoomCreate,
        update=s.RoomUpdate,
        deletable=True,
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
        create=s.GateCreate,
        update=s.GateUpdate,
        deletable=True,
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
        create=s.DeviceCreate,
        update=s.DeviceUpdate,
        deletable=True,
        placement=DEVICES,
        key=Code,
    ),
]

routers = [crud_router(resource) for resource in RESOURCES]
