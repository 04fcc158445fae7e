"""Importing a CSV file: each row is parsed, its references found, and the owning service's verb
called, exactly as the API calls it; the import holds no domain rule of its own.

An import is all-or-nothing: every row runs in its own savepoint, so one refused row does not
hide the problems of the next; when any row is refused (or on a dry run) the savepoint around
the whole file is rolled back. Rows whose natural key exists update that record; the others
create one; nothing is ever deleted. See docs/csv.md.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.models import Base, Building, Exam, ExamSession, Room, Site, User
from coordinator.errors import CoordinatorError
from coordinator.schemas import exams as exam_schemas
from coordinator.schemas import people, places
from coordinator.schemas.csv_io import (
    AssignmentRow,
    BuildingRef,
    CsvKind,
    CsvRow,
    ExamRow,
    ExamSessionRow,
    ImportResult,
    RoomRow,
    RowProblem,
    StudentRow,
    UserRow,
    columns_of,
)
from coordinator.services import assignments, exams, students, users
from coordinator.services import places as place_service
from coordinator.services.accounts import Invitations
from coordinator.services.audit import Actor
from coordinator.services.csv_io.access import require_kind
from coordinator.services.csv_io.reading import CsvRejectedError, field_message, read_rows
from coordinator.services.records import snapshot
from coordinator.services.scope import Scope
from coordinator.services.site_time import site_time_to_utc, zone_of_room

R = TypeVar("R", bound=CsvRow)
B = TypeVar("B", bound=Base)


class Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


# Where a service's field is a different column in a file (which names records by their codes).
_COLUMN_OF_FIELD = {
    "building_ids": "buildings",
    "supervisor_id": "supervisor_email",
    "session_id": "starts_at",
}

Importer = Callable[["_Line", CsvRow], Outcome]


class _RowRefusedError(Exception):
    """The row's problems are recorded; go on with the next row."""


def import_csv(
    session: Session,
    kind: CsvKind,
    data: bytes,
    *,
    actor: Actor,
    scope: Scope,
    invitations: Invitations,
    dry_run: bool = False,
) -> ImportResult:
    """Check and apply every row of `data` through the services; report every problem.

    Raises CsvRejectedError with every problem found; then, and on a dry run, everything the
    rows did is rolled back to a savepoint taken first. The caller owns the transaction and
    commits after a successful import.
    """
    require_kind(scope, kind)
    rows, problems = read_rows(kind, data)
    state = _Import(session, scope, actor, invitations, problems, frozenset(columns_of(kind)))
    importer = _IMPORTERS[kind]
    with session.begin_nested() as whole_file:
        for row, parsed in rows:
            state.run(row, importer, parsed)
        if dry_run or state.problems:
            whole_file.rollback()
    if state.problems:
        raise CsvRejectedError(kind, state.problems)
    return ImportResult(
        kind=kind,
        dry_run=dry_run,
        created=state.outcomes.count(Outcome.CREATED),
        updated=state.outcomes.count(Outcome.UPDATED),
        unchanged=state.outcomes.count(Outcome.UNCHANGED),
    )


@dataclass
class _Import:
    session: Session
    scope: Scope
    actor: Actor
    invitations: Invitations  # each new user gets an invite, as through the API
    problems: list[RowProblem]
    columns: frozenset[str]
    outcomes: list[Outcome] = field(default_factory=list)
    first_rows: dict[object, int] = field(default_factory=dict)
    buildings: dict[BuildingRef, Building | None] = field(default_factory=dict)

    def run(self, row: int, importer: "Importer", data: CsvRow) -> None:
        line = _Line(self, row)
        try:
            with self.session.begin_nested():  # a refused row leaves nothing behind
                outcome = importer(line, data)
        except _RowRefusedError:
            return
        except CoordinatorError as error:
            line.refuse(None, str(error))
            return
        self.outcomes.append(outcome)


@dataclass
class _Line:
    """One row being imported: where its problems go, and the lookups rows share."""

    state: _Import
    row: int
    refused: bool = False

    @property
    def session(self) -> Session:
        return self.state.session

    def refuse(self, column: str | None, message: str) -> None:
        self.state.problems.append(RowProblem(row=self.row, column=column, message=message))
        self.refused = True

    def stop_if_refused(self) -> None:
        if self.refused:
            raise _RowRefusedError

    def claim(self, key: object, column: str) -> None:
        """Refuse a row whose natural key an earlier row of the file already has."""
        first = self.state.first_rows.setdefault(key, self.row)
        if first != self.row:
            self.refuse(column, f"row {first} already has this {column}")
            raise _RowRefusedError

    @contextmanager
    def blame(self, column: str | None) -> Iterator[None]:
        """A service's refusal becomes this row's problem in `column`."""
        try:
            yield
        except ValidationError as error:
            for item in error.errors(include_url=False):
                self.refuse(column, field_message(item))
            raise _RowRefusedError from None
        except CoordinatorError as error:
            named = _COLUMN_OF_FIELD.get(error.field or "", error.field)
            self.refuse(named if named in self.state.columns else column, str(error))
            raise _RowRefusedError from None

    def call(self, column: str | None, verb: Callable[..., Any], **arguments: Any) -> Any:
        with self.blame(column):
            return verb(self.session, actor=self.state.actor, scope=self.state.scope, **arguments)

    def upsert(
        self,
        column: str | None,
        record: B | None,
        create: Callable[[], object],
        update: Callable[[B], object],
    ) -> Outcome:
        """Create when `record` is None, else update it; say whether anything changed."""
        with self.blame(column):
            if record is None:
                create()
                return Outcome.CREATED
            before = snapshot(record)
            update(record)
            return Outcome.UPDATED if snapshot(record) != before else Outcome.UNCHANGED


def _schema(model: type[BaseModel], **values: Any) -> Any:
    """The API's input schema for the row's values (validated with the same field types)."""
    return model.model_validate(values)


# --- references -----------------------------------------------------------------------------------


def _building(line: _Line, ref: BuildingRef, column: str) -> Building | None:
    """A building the caller may change; missing and out-of-scope read the same."""
    if ref not in line.state.buildings:  # a file names few buildings in many rows
        line.state.buildings[ref] = line.session.execute(
            select(Building)
            .join(Site, Building.site_id == Site.id)
            .where(Site.code == ref.site_code, Building.code == ref.building_code)
        ).scalar_one_or_none()
    found = line.state.buildings[ref]
    if found is None or not line.state.scope.sees_building(found.id):
        line.refuse(column, f"no building {ref}")
        return None
    return found


def _room(line: _Line, data: RoomRow | ExamSessionRow | AssignmentRow) -> Room | None:
    ref = BuildingRef(site_code=data.site_code, building_code=data.building_code)
    building = _building(line, ref, "building_code")
    if building is None:
        return None
    room = line.session.scalar(
        select(Room).where(Room.building_id == building.id, Room.code == data.room_code)
    )
    if room is None:
        line.refuse("room_code", f"no room {data.room_code} in building {ref}")
    return room


def _utc(line: _Line, column: str, value: datetime, zone: ZoneInfo) -> datetime | None:
    try:
        return site_time_to_utc(value, zone)
    except ValueError as error:
        line.refuse(column, str(error))
        return None


@dataclass(frozen=True)
class _Slot:
    exam: Exam
    room: Room
    zone: ZoneInfo
    starts_at: datetime


def _slot(line: _Line, data: ExamSessionRow | AssignmentRow) -> _Slot | None:
    """The exam, room and UTC start a row names, or None after recording why not."""
    exam = exams.find_by_code(line.session, data.exam_code)
    if exam is None:
        line.refuse("exam_code", f"no exam {data.exam_code}")
    room = _room(line, data)
    if room is None:
        return None
    with line.blame("site_code"):
        zone = zone_of_room(line.session, room)
    starts_at = _utc(line, "starts_at", data.starts_at, zone)
    if exam is None or starts_at is None:
        return None
    return _Slot(exam, room, zone, starts_at)


# --- each kind ------------------------------------------------------------------------------------


def _import_user(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, UserRow)
    line.claim(("user", data.email), "email")
    found = [_building(line, ref, "buildings") for ref in data.buildings]
    line.stop_if_refused()
    ids = list(dict.fromkeys(building.id for building in found if building))
    values = {"full_name": data.full_name, "role": data.role, "building_ids": ids}
    changes = _schema(people.UserUpdate, is_active=data.is_active, **values)
    user = users.find_by_email(line.session, data.email)
    return line.upsert(
        "role",
        user,
        lambda: _create_user(line, data, values),
        lambda record: _update(line, users.update_user, record, changes),
    )


def _create_user(line: _Line, data: UserRow, values: dict[str, Any]) -> None:
    created: User = line.call(
        "role",
        users.create_user,
        data=_schema(people.UserCreate, email=data.email, **values),
        invitations=line.state.invitations,
    )
    if not data.is_active:  # an account is created active; a file may say it is not
        inactive = _schema(people.UserUpdate, is_active=False)
        _update(line, users.update_user, created, inactive)


def _update(line: _Line, verb: Callable[..., Any], record: Base, changes: BaseModel) -> None:
    verb(line.session, record, changes=changes, actor=line.state.actor, scope=line.state.scope)


def _import_student(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, StudentRow)
    line.claim(("student", data.student_number), "student_number")
    values = {"full_name": data.full_name, "status": data.status}
    student = students.find_by_number(line.session, data.student_number)
    return line.upsert(
        None,
        student,
        lambda: line.call(
            None,
            students.create_student,
            data=_schema(people.StudentCreate, student_number=data.student_number, **values),
        ),
        lambda record: _update(
            line, students.update_student, record, _schema(people.StudentUpdate, **values)
        ),
    )


def _import_room(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, RoomRow)
    ref = BuildingRef(site_code=data.site_code, building_code=data.building_code)
    building = _building(line, ref, "building_code")
    line.stop_if_refused()
    assert building is not None
    line.claim(("room", building.id, data.room_code), "room_code")
    values = data.model_dump(
        include={"name", "capacity", "latitude", "longitude", "geofence_radius_m"}
    )
    room = line.session.scalar(
        select(Room).where(Room.building_id == building.id, Room.code == data.room_code)
    )
    return line.upsert(
        "latitude",
        room,
        lambda: line.call(
            "latitude",
            place_service.create_room,
            data=_schema(places.RoomCreate, building_id=building.id, code=data.room_code, **values),
        ),
        lambda record: _update(
            line, place_service.update_room, record, _schema(places.RoomUpdate, **values)
        ),
    )


def _import_exam(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, ExamRow)
    line.claim(("exam", data.exam_code), "exam_code")
    exam = exams.find_by_code(line.session, data.exam_code)
    return line.upsert(
        "exam_code",
        exam,
        lambda: line.call(
            "exam_code",
            exams.create_exam,
            data=_schema(exam_schemas.ExamCreate, code=data.exam_code, title=data.title),
        ),
        lambda record: _update(
            line, exams.update_exam, record, _schema(exam_schemas.ExamUpdate, title=data.title)
        ),
    )


def _import_exam_session(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, ExamSessionRow)
    slot = _slot(line, data)
    ends_at = _utc(line, "ends_at", data.ends_at, slot.zone) if slot else None
    line.stop_if_refused()
    assert slot is not None and ends_at is not None
    line.claim(("exam_session", slot.exam.id, slot.room.id, slot.starts_at), "starts_at")
    existing = exams.find_session_at(
        line.session, exam_id=slot.exam.id, room_id=slot.room.id, starts_at=slot.starts_at
    )
    create = {
        "exam_id": slot.exam.id,
        "room_id": slot.room.id,
        "starts_at": slot.starts_at,
        "ends_at": ends_at,
    }
    return line.upsert(
        "ends_at",
        existing,
        lambda: line.call(
            "ends_at",
            exams.create_session,
            data=_schema(exam_schemas.ExamSessionCreate, **create),
        ),
        lambda record: _update(
            line,
            exams.update_session,
            record,
            _schema(exam_schemas.ExamSessionUpdate, ends_at=ends_at),
        ),
    )


def _import_assignment(line: _Line, data: CsvRow) -> Outcome:
    assert isinstance(data, AssignmentRow)
    slot = _slot(line, data)
    supervisor = users.find_by_email(line.session, data.supervisor_email)
    if supervisor is None:
        line.refuse("supervisor_email", f"no staff member {data.supervisor_email}")
    exam_session = _session_of(line, data, slot)
    line.stop_if_refused()
    assert supervisor is not None and exam_session is not None
    line.claim(("assignment", exam_session.id, supervisor.id), "supervisor_email")
    held = assignments.find_held(
        line.session, session_id=exam_session.id, supervisor_id=supervisor.id
    )
    with line.blame("status"):
        assignments.require_planner_status(data.status, held.status if held else None)
    if held is None:
        line.call(
            "supervisor_email",
            assignments.propose,
            session_id=exam_session.id,
            supervisor_id=supervisor.id,
            status=data.status,
        )
        return Outcome.CREATED
    if held.status is data.status:
        return Outcome.UNCHANGED
    with line.blame("supervisor_email"):
        assignments.set_status(line.session, held, status=data.status, actor=line.state.actor)
    return Outcome.UPDATED


def _session_of(line: _Line, data: AssignmentRow, slot: _Slot | None) -> ExamSession | None:
    if slot is None:
        return None
    found = exams.find_session_at(
        line.session, exam_id=slot.exam.id, room_id=slot.room.id, starts_at=slot.starts_at
    )
    if found is None:
        line.refuse(
            "starts_at",
            f"exam {data.exam_code} has no session in room {data.room_code} starting then",
        )
    return found


_IMPORTERS: dict[CsvKind, "Importer"] = {
    CsvKind.USERS: _import_user,
    CsvKind.STUDENTS: _import_student,
    CsvKind.ROOMS: _import_room,
    CsvKind.EXAMS: _import_exam,
    CsvKind.EXAM_SESSIONS: _import_exam_session,
    CsvKind.ASSIGNMENTS: _import_assignment,
}
