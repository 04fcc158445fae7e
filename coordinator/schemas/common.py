"""Pieces every resource's schemas share: pages, validated names, coordinates, time zones."""

from typing import Annotated, Generic, TypeVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from protocols.ids import NAME_PATTERN

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """A page of a list: the items, and how many there are in all."""

    items: list[ItemT]
    total: int = Field(description="How many items match, on every page.")
    limit: int
    offset: int


class Strict(BaseModel):
    """Input schemas refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Ids fit PostgreSQL's integer; a larger number is refused as input instead of failing in SQL.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="A record's id.")]

Code = Annotated[
    str, Field(pattern=NAME_PATTERN, description="Short id: lowercase letters, digits, - and _.")
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
RadiusM = Annotated[float, Field(gt=0, le=10_000, description="Geofence radius in metres.")]
# Spelled out in ASCII because "\s" differs between Python and the JSON Schema (ECMA) dialect
# that API clients validate with; schemathesis found the mismatch.
Email = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$",
        max_length=254,
    ),
    AfterValidator(str.lower),
]


def _known_zone(name: str) -> str:
    if name not in available_timezones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin")
    return name


TimeZone = Annotated[str, AfterValidator(_known_zone)]


class Geofence(Strict):
    """A geofence: centre and radius; all three given or none."""

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geofence_radius_m: RadiusM | None = None
