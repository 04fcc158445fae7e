"""The rows of each CSV kind, and what an import answers; columns are the models' fields, in order.

Cells arrive as text; an empty cell means "no value". Times stay as written here (naive, or with
an offset): only the service knows the site's time zone that turns them into UTC.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from coordinator.db.enums import AssignmentStatus, Role, StudentStatus
from coordinator.schemas.common import (
    EARLIEST,
    LATEST,
    RANGE_MESSAGE,
    Capacity,
    Code,
    Email,
    Input,
    Latitude,
    Longitude,
    Name,
    RadiusM,
    StudentNumber,
    WireId,
    in_range,
)


class CsvKind(StrEnum):
    """What a CSV file holds; each kind has one row model and one upsert key."""

    USERS = "users"
    STUDENTS = "students"
    ROOMS = "rooms"
    EXAMS = "exams"
    EXAM_SESSIONS = "exam_sessions"
    ASSIGNMENTS = "assignments"


# One shape only, so "06/01/2026 9am" is refused rather than guessed at.
_TIME_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)?$"
)


def _parse_time(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not _TIME_SHAPE.match(value):
        raise ValueError("write the time as YYYY-MM-DDTHH:MM, optionally with :SS and an offset")
    return datetime.fromisoformat(value)


def _bounded(value: datetime) -> datetime:
    """The same range as the API's instants; a wall-clock time is checked by its year."""
    if value.tzinfo is not None:
        in_range(value)
        return value
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError(RANGE_MESSAGE)
    return value


LocalTime = Annotated[datetime, BeforeValidator(_parse_time), AfterValidator(_bounded)]
"""A wall-clock time of the site (naive), or one with an offset that must be the site's."""


class CsvRow(Input):
    """One data row; unknown columns are refused and empty cells become None.

    Fields use the API's own types (`coordinator.schemas.common`), so a value means the same
    in a CSV cell and in a JSON body, and is refused with the same message.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_cells_are_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: (None if value == "" else value) for key, value in data.items()}
        return data


class BuildingRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_code: WireId
    building_code: Code

    def __str__(self) -> str:
        return f"{self.site_code}/{self.building_code}"


def _split_buildings(value: object) -> object:
    if value is None:
        return ()
    if not isinstance(value, str):
        return value
    refs = []
    for part in (piece.strip() for piece in value.split(";")):
        site, slash, building = part.partition("/")
        if not slash:
            raise ValueError(f"'{part}' is not SITE/BUILDING; separate buildings with ';'")
        refs.append({"site_code": site.strip(), "building_code": building.strip()})
    return refs


class UserRow(CsvRow):
    """A staff member; never a password: imported staff set theirs through an invite."""

    email: Email
    full_name: Name
    role: Role
    is_active: bool
    buildings: Annotated[tuple[BuildingRef, ...], BeforeValidator(_split_buildings)] = Field(
        default=(), validate_default=True
    )


class StudentRow(CsvRow):
    student_number: StudentNumber
    full_name: Name
    status: StudentStatus


class RoomRow(CsvRow):
    site_code: WireId
    building_code: Code
    room_code: Code
    name: Name
    capacity: Capacity
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geofence_radius_m: RadiusM | None = None


class ExamRow(CsvRow):
    exam_code: Code
    title: Name


class ExamSessionRow(CsvRow):
    exam_code: Code
    site_code: WireId
    building_code: Code
    room_code: Code
    starts_at: LocalTime
    ends_at: LocalTime


class AssignmentRow(CsvRow):
    exam_code: Code
    site_code: WireId
    building_code: Code
    room_code: Code
    starts_at: LocalTime
    supervisor_email: Email
    status: AssignmentStatus


ROW_MODELS: dict[CsvKind, type[CsvRow]] = {
    CsvKind.USERS: UserRow,
    CsvKind.STUDENTS: StudentRow,
    CsvKind.ROOMS: RoomRow,
    CsvKind.EXAMS: ExamRow,
    CsvKind.EXAM_SESSIONS: ExamSessionRow,
    CsvKind.ASSIGNMENTS: AssignmentRow,
}


def columns_of(kind: CsvKind) -> list[str]:
    return list(ROW_MODELS[kind].model_fields)


class RowProblem(BaseModel):
    """One thing wrong with one row: `row` counts lines as a spreadsheet does (header is 1)."""

    row: int
    column: str | None
    message: str


class ImportResult(BaseModel):
    """What an accepted import did (or, with dry_run, would do)."""

    kind: CsvKind
    dry_run: bool
    created: int
    updated: int
    unchanged: int
