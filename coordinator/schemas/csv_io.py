"""The rows of each CSV kind, and what an import answers; columns are the models' fields, in order.

Cells arrive as text; an empty cell means "no value". Times stay as written here (naive, or with
an offset): only the service knows the site's time zone that turns them into UTC.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from coordinator.db.enums import AssignmentStatus, Role, StudentStatus


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


LocalTime = Annotated[datetime, BeforeValidator(_parse_time)]
"""A wall-clock time of the site (naive), or one with an offset that must be the site's."""

# Site and building codes are joined with '/' and ';' in the users' `buildings` cell.
Code = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[^/;]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", to_lower=True),
]


class CsvRow(BaseModel):
    """One data row; unknown columns are refused and empty cells become None."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_cells_are_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: (None if value == "" else value) for key, value in data.items()}
        return data


class BuildingRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_code: Code
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
    """A staff member; never a password: imported staff set theirs through an admin."""

    email: Email
    full_name: Name
    role: Role
    is_active: bool
    buildings: Annotated[tuple[BuildingRef, ...], BeforeValidator(_split_buildings)] = Field(
        default=(), validate_default=True
    )

    @field_validator("buildings")
    @classmethod
    def _only_managers_have_buildings(
        cls, value: tuple[BuildingRef, ...], info: ValidationInfo
    ) -> tuple[BuildingRef, ...]:
        if value and info.data.get("role") not in (Role.MANAGER, None):
            raise ValueError("only managers are given buildings: leave this cell empty")
        return value


class StudentRow(CsvRow):
    student_number: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    full_name: Name
    status: StudentStatus


class RoomRow(CsvRow):
    site_code: Code
    building_code: Code
    room_code: Code
    name: Name
    capacity: int = Field(ge=1)
    latitude: float | None = Field(default=None, ge=-90, le=90, validate_default=True)
    longitude: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    geofence_radius_m: float | None = Field(default=None, gt=0, validate_default=True)

    @field_validator("longitude")
    @classmethod
    def _centre_is_a_pair(cls, value: float | None, info: ValidationInfo) -> float | None:
        if (value is None) != (info.data.get("latitude") is None):
            raise ValueError("give latitude and longitude together, or neither")
        return value

    @field_validator("geofence_radius_m")
    @classmethod
    def _radius_needs_a_centre(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("latitude") is None:
            raise ValueError("a geofence radius needs a latitude and longitude")
        return value


class ExamRow(CsvRow):
    exam_code: Code
    title: Name


class ExamSessionRow(CsvRow):
    exam_code: Code
    site_code: Code
    building_code: Code
    room_code: Code
    starts_at: LocalTime
    ends_at: LocalTime


class AssignmentRow(CsvRow):
    exam_code: Code
    site_code: Code
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
