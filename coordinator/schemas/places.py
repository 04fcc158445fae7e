"""Sites, buildings, rooms, gates and devices as the API reads and writes them."""

from datetime import datetime

from pydantic import Field, model_validator

from coordinator.db.enums import DeviceStatus, GateDirection
from coordinator.schemas.common import (
    Capacity,
    Code,
    Geofence,
    Id,
    Latitude,
    Longitude,
    Name,
    Public,
    RadiusM,
    Strict,
    TimeZone,
    WireId,
)


class SiteCreate(Strict):
    code: WireId = Field(description="The site's id in MQTT topics.")
    name: Name
    time_zone: TimeZone = Field(description="IANA zone for schedules and display.")


class SiteUpdate(Strict):
    name: Name | None = None
    time_zone: TimeZone | None = None


class SitePublic(Public):
    id: int
    code: str
    name: str
    time_zone: str


class BuildingCreate(Strict):
    site_id: Id
    code: Code
    name: Name


class BuildingUpdate(Strict):
    name: Name | None = None


class BuildingPublic(Public):
    id: int
    site_id: Id
    code: str
    name: str


# Whether a geofence is whole (all three of latitude, longitude and radius, or none) is checked
# by `services.places`, on create and on update alike, after merging with what is stored.


class RoomCreate(Geofence):
    building_id: Id
    code: Code
    name: Name
    capacity: Capacity


class RoomUpdate(Strict):
    name: Name | None = None
    capacity: Capacity | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geofence_radius_m: RadiusM | None = None


class RoomPublic(Public):
    id: int
    building_id: Id
    code: str
    name: str
    capacity: int
    latitude: float | None
    longitude: float | None
    geofence_radius_m: float | None


class GateCreate(Geofence):
    site_id: Id
    building_id: Id | None = None
    code: Code
    name: Name
    zone: WireId
    direction: GateDirection


class GateUpdate(Strict):
    name: Name | None = None
    zone: WireId | None = None
    direction: GateDirection | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geofence_radius_m: RadiusM | None = None


class GatePublic(Public):
    id: int
    site_id: Id
    building_id: Id | None
    code: str
    name: str
    zone: str
    direction: GateDirection
    latitude: float | None
    longitude: float | None
    geofence_radius_m: float | None


class _Bound(Strict):
    @model_validator(mode="after")
    def _one_place(self) -> "_Bound":
        if (
            getattr(self, "room_id", None) is not None
            and getattr(self, "gate_id", None) is not None
        ):
            raise ValueError("a device stands at a room or a gate, not both")
        return self


class DeviceCreate(_Bound):
    id: WireId = Field(description="The device id it uses on the wire.")
    site_id: Id
    room_id: Id | None = None
    gate_id: Id | None = None
    profile: Name = Field(max_length=64, description="Firmware profile name.")
    status: DeviceStatus = DeviceStatus.REGISTERED
    public_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9+/]{43}=$",
        description="The device's X25519 public key (base64), from `edge-agent keys init`.",
    )


class DeviceUpdate(_Bound):
    room_id: Id | None = None
    gate_id: Id | None = None
    profile: Name | None = Field(default=None, max_length=64)
    status: DeviceStatus | None = None
    public_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9+/]{43}=$",
        description="The device's X25519 public key (base64), from `edge-agent keys init`.",
    )


class DevicePublic(Public):
    id: str
    site_id: Id
    room_id: Id | None
    gate_id: Id | None
    profile: str
    status: DeviceStatus
    agent_version: str | None
    last_seen_at: datetime | None
    public_key: str | None
