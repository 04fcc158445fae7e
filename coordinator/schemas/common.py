"""The one set of field types the API and the CSV import share, and the pieces every schema uses.

A field means the same in a JSON body, a query string and a CSV cell: the same pattern, bounds and
message. Free text never carries a NUL character (PostgreSQL cannot store one) and every instant
lies in a range the database and the site's clock arithmetic can hold, so such input is refused
as a field error instead of failing deeper down.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from protocols.ids import NAME_PATTERN

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """A page of a list: the items, and how many there are in all."""

    items: list[ItemT]
    total: int = Field(description="How many items match, on every page.")
    limit: int
    offset: int


NUL_MESSAGE = "may not contain NUL characters"


def _refuse_nul(value: Any) -> Any:
    """Before any other check: a NUL in a string (or in a list of strings) is refused."""
    items = value if isinstance(value, list | tuple) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise ValueError(NUL_MESSAGE)
    return value


class Input(BaseModel):
    """Every input (body, query filters, CSV row) refuses NUL characters in any text field."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _refuse_nul(value)


class Strict(Input):
    """Input schemas refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Ids fit PostgreSQL's integer; a larger number is refused as input instead of failing in SQL.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="A record's id.")]

WireId = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Id used on the wire (sites, devices, zones): lowercase letters, digits, "
        "- and _.",
    ),
]
# Buildings, rooms, gates and exams are named by people ("MATH-101", "A-1.02"); never '/' or ';',
# which join site and building codes in a CSV cell.
Code = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="Short code: letters, digits, '.', '-' and '_'; at most 63.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Notes = Annotated[str, Field(max_length=2000)]
Label = Annotated[str, Field(max_length=100)]
Capacity = Annotated[int, Field(ge=1, le=5000, description="Seats.")]
StudentNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,32}$")]
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

# Exams, passes and logs live in this range; beyond it lie typing mistakes, and near year 1 or
# 9999 an offset would carry the UTC value out of what Python and PostgreSQL can represent.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
RANGE_MESSAGE = "must lie between 1970 and 2200"


def in_range(value: datetime) -> datetime:
    """An aware instant in UTC, or a ValueError naming the range."""
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(RANGE_MESSAGE) from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(RANGE_MESSAGE)
    return instant


Instant = Annotated[AwareDatetime, AfterValidator(in_range)]


def _known_zone(name: str) -> str:
    if name not in available_timezones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin")
    return name


TimeZone = Annotated[str, AfterValidator(_known_zone)]


class Geofence(Strict):
    """A geofence: centre and radius; the service checks all three are given or none."""

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geofence_radius_m: RadiusM | None = None
