"""CSV import and export of users, students, rooms, exams, exam sessions and assignments.

An import is all-or-nothing: every row is read, checked against the database and the caller's
scope, and only when no row is wrong is anything written (each change audited). Rows whose
natural key exists update that record; the others create one; nothing is ever deleted. Export
writes the same columns, so an exported file imports back to the same state. See docs/csv.md.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import (
    Assignment,
    Base,
    Building,
    Exam,
    ExamSession,
    Room,
    Site,
    Student,
    User,
)
from coordinator.errors import CoordinatorError, ForbiddenError
from coordinator.schemas.csv_io import (
    ROW_MODELS,
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
from coordinator.services.assignments import find_overlap
from coordinator.services.audit import Actor, record_change
from coordinator.services.records import snapshot
from coordinator.services.scope import Scope, scope_of

R = TypeVar("R", bound=CsvRow)
Rows = list[tuple[int, CsvRow]]

# People are not tied to a building, so a manager's scope cannot bound them: admins only.
ADMIN_ONLY_KINDS = frozenset({CsvKind.USERS, CsvKind.STUDENTS})
# Door stations set these with the time they happened; a file may keep them, not set them.
DEVICE_STATUSES = frozenset({AssignmentStatus.CHECKED_IN, AssignmentStatus.CHECKED_OUT})
# Secrets never enter the audit log.


class CsvRejectedError(CoordinatorError, ValueError):
    """An import found problems in its file; nothing was written. `problems` lists every one."""

    status_code = 422
    code = "csv_rejected"

    def __init__(self, kind: CsvKind, problems: list[RowProblem]) -> None:
        self.kind = kind
        self.problems = sorted(problems, key=lambda problem: problem.row)
        first = self.problems[0]
        where = f"row {first.row}" + (f", {first.column}" if first.column else "")
        rows = len({problem.row for problem in problems})
        super().__init__(
            f"{kind.value} not imported: {len(problems)} problem(s) in {rows} row(s), "
            f"first at {where}: {first.message}"
        )


def require_kind(scope: Scope, kind: CsvKind) -> None:
    """Refuse callers who may not move this kind of record in or out."""
    if scope.role not in (Role.ADMIN, Role.MANAGER):
        raise ForbiddenError(f"a {scope.role.value} may not import or export CSV")
    if kind in ADMIN_ONLY_KINDS and not scope.is_everywhere:
        raise ForbiddenError(f"only admins import or export {kind.value}")


def admin_actor(session: Session, email: str, address: str) -> tuple[Actor, Scope]:
    """The active admin named by `email`, as the audited actor of a command-line import."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.is_active or user.role is not Role.ADMIN:
        raise ForbiddenError(f"{email} is not an active admin: name one with --as")
    return Actor(user.id, user.email, address), scope_of(session, user)


# --- import ---------------------------------------------------------------------------------------


def import_csv(
    session: Session,
    kind: CsvKind,
    data: bytes,
    *,
    actor: Actor,
    scope: Scope,
    dry_run: bool = False,
) -> ImportResult:
    """Check every row of `data`, then write all of them (unless `dry_run`) or none.

    Raises CsvRejectedError with every problem found. The caller owns the transaction and
    commits after a successful import.
    """
    require_kind(scope, kind)
    plan = _Plan(session, scope, actor)
    rows = _read_rows(kind, data, plan)
    _PLANNERS[kind](plan, rows)
    if plan.problems:
        raise CsvRejectedError(kind, plan.problems)
    if not dry_run:
        _apply(plan)
    created = sum(change.before is None for change in plan.changes)
    return ImportResult(
        kind=kind,
        dry_run=dry_run,
        created=created,
        updated=len(plan.changes) - created,
        unchanged=plan.unchanged,
    )


@dataclass
class _Change:
    entity: str
    record: Base
    values: dict[str, Any]
    before: dict[str, Any] | None  # None for a record the import creates


@dataclass
class _Plan:
    """What an import found and would change, gathered before anything is written."""

    session: Session
    scope: Scope
    actor: Actor
    problems: list[RowProblem] = field(default_factory=list)
    changes: list[_Change] = field(default_factory=list)
    unchanged: int = 0
    first_rows: dict[object, int] = field(default_factory=dict)

    def refuse(self, row: int, column: str | None, message: str) -> None:
        self.problems.append(RowProblem(row=row, column=column, message=message))

    def claim(self, key: object, row: int, column: str) -> bool:
        """False (and a problem) when an earlier row of the file has the same natural key."""
        first = self.first_rows.setdefault(key, row)
        if first != row:
            self.refuse(row, column, f"row {first} already has this {column}")
        return first == row

    def offer(self, entity: str, record: Base | None, new: Base, values: dict[str, Any]) -> None:
        """Create `new` when `record` is None, else update `record` if `values` differ."""
        if record is None:
            self.changes.append(_Change(entity, new, values, None))
        elif _differs(record, values):
            self.changes.append(_Change(entity, record, values, snapshot(record)))
        else:
            self.unchanged += 1


def _differs(record: Base, values: dict[str, Any]) -> bool:
    for name, value in values.items():
        current = getattr(record, name)
        if isinstance(value, list):
            if set(current) != set(value):
                return True
        elif current != value:
            return True
    return False


def _apply(plan: _Plan) -> None:
    for change in plan.changes:
        for name, value in change.values.items():
            setattr(change.record, name, value)
        plan.session.add(change.record)
        plan.session.flush()
        after = snapshot(change.record)
        record_change(
            plan.session,
            plan.actor,
            action="create" if change.before is None else "update",
            entity=change.entity,
            entity_id=after["id"],
            before=change.before,
            after=after,
        )


# --- reading the file -----------------------------------------------------------------------------


def _read_rows(kind: CsvKind, data: bytes, plan: _Plan) -> Rows:
    """Rows that passed their model; the others leave problems in `plan`."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark; it is not a column
    except UnicodeDecodeError as error:
        raise CsvRejectedError(
            kind, [_whole_file(f"not UTF-8 text (byte {error.start})")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(kind, header)
        return _validate_rows(kind, header, reader, plan)
    except csv.Error as error:
        raise CsvRejectedError(kind, [_whole_file(f"line {reader.line_num}: {error}")]) from None


def _whole_file(message: str) -> RowProblem:
    return RowProblem(row=1, column=None, message=message)


def _check_header(kind: CsvKind, header: list[str]) -> None:
    expected = columns_of(kind)
    problems = [
        RowProblem(row=1, column=name, message="this column is missing")
        for name in expected
        if name not in header
    ]
    problems += [
        RowProblem(row=1, column=name or None, message=f"{kind.value} files have no such column")
        for name in header
        if name not in expected
    ]
    problems += [
        RowProblem(row=1, column=name, message="this column appears twice")
        for name in dict.fromkeys(header)
        if header.count(name) > 1
    ]
    if problems:
        raise CsvRejectedError(kind, problems)


def _validate_rows(
    kind: CsvKind, header: list[str], reader: Iterator[list[str]], plan: _Plan
) -> Rows:
    model, rows = ROW_MODELS[kind], []
    for row, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets leave empty lines at the end
        if len(cells) != len(header):
            plan.refuse(row, None, f"has {len(cells)} cells where the header has {len(header)}")
            continue
        try:
            rows.append((row, model.model_validate(dict(zip(header, cells, strict=True)))))
        except ValidationError as error:
            for item in error.errors(include_url=False):
                plan.refuse(row, str(item["loc"][0]) if item["loc"] else None, _message(item))
    return rows


def _message(item: Any) -> str:
    if item.get("input") is None and item["type"] != "value_error":
        return "this cell may not be empty"
    return str(item["msg"]).removeprefix("Value error, ")


def _typed(rows: Rows, model: type[R]) -> list[tuple[int, R]]:
    return [(row, data) for row, data in rows if isinstance(data, model)]


# --- places and times -----------------------------------------------------------------------------


def _building(plan: _Plan, row: int, ref: BuildingRef, column: str) -> tuple[Site, Building] | None:
    """A building the caller may change; missing and out-of-scope read the same."""
    found = plan.session.execute(
        select(Site, Building)
        .join(Building, Building.site_id == Site.id)
        .where(Site.code == ref.site_code, Building.code == ref.building_code)
    ).first()
    if found is None or not plan.scope.sees_building(found[1].id):
        plan.refuse(row, column, f"no building {ref}")
        return None
    return found[0], found[1]


def _room(plan: _Plan, row: int, data: RoomRow | ExamSessionRow | AssignmentRow) -> Room | None:
    ref = BuildingRef(site_code=data.site_code, building_code=data.building_code)
    place = _building(plan, row, ref, "building_code")
    if place is None:
        return None
    room = plan.session.scalar(
        select(Room).where(Room.building_id == place[1].id, Room.code == data.room_code)
    )
    if room is None:
        plan.refuse(row, "room_code", f"no room {data.room_code} in building {ref}")
    return room


def _site_zone(plan: _Plan, row: int, room: Room) -> ZoneInfo | None:
    site = plan.session.scalars(
        select(Site)
        .join(Building, Building.site_id == Site.id)
        .where(Building.id == room.building_id)
    ).one()
    try:
        return ZoneInfo(site.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        plan.refuse(row, "site_code", f"site {site.code} has no valid time zone ({site.time_zone})")
        return None


def site_time_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A site's wall-clock time (or one with the site's own offset) as UTC; refuses guesses."""
    if value.tzinfo is not None:
        expected = value.astimezone(zone).utcoffset()
        if value.utcoffset() != expected:
            raise ValueError(f"the offset is not {zone.key}'s at that time ({_offset(expected)})")
        return value.astimezone(UTC)
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise ValueError(f"this time does not exist in {zone.key} (clocks go forward)")
    if early.utcoffset() != late.utcoffset():
        raise ValueError(f"this time happens twice in {zone.key} (clocks go back): add the offset")
    return early.astimezone(UTC)


def _offset(offset: timedelta | None) -> str:
    seconds = int(offset.total_seconds()) if offset else 0
    sign, minutes = ("-" if seconds < 0 else "+"), abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _utc(plan: _Plan, row: int, column: str, value: datetime, zone: ZoneInfo) -> datetime | None:
    try:
        return site_time_to_utc(value, zone)
    except ValueError as error:
        plan.refuse(row, column, str(error))
        return None


@dataclass(frozen=True)
class _Slot:
    exam: Exam
    room: Room
    zone: ZoneInfo
    starts_at: datetime


def _session_at(plan: _Plan, row: int, data: ExamSessionRow | AssignmentRow) -> _Slot | None:
    """The exam, room and UTC start a row names, or None after recording why not."""
    mark = len(plan.problems)
    exam = plan.session.scalar(select(Exam).where(Exam.code == data.exam_code))
    if exam is None:
        plan.refuse(row, "exam_code", f"no exam {data.exam_code}")
    room = _room(plan, row, data)
    zone = _site_zone(plan, row, room) if room else None
    starts_at = _utc(plan, row, "starts_at", data.starts_at, zone) if zone else None
    if len(plan.problems) > mark or not (exam and room and zone and starts_at):
        return None
    return _Slot(exam, room, zone, starts_at)


# --- what each kind plans -------------------------------------------------------------------------


def _plan_users(plan: _Plan, rows: Rows) -> None:
    for row, data in _typed(rows, UserRow):
        if not plan.claim(("user", data.email), row, "email"):
            continue
        places = [_building(plan, row, ref, "buildings") for ref in data.buildings]
        user = plan.session.scalar(select(User).where(func.lower(User.email) == data.email))
        is_self = user is not None and user.id == plan.actor.user_id
        if is_self and user and (data.role is not user.role or not data.is_active):
            # An admin who demotes or disables themselves by file cannot undo it.
            plan.refuse(row, "role", "you may not change your own role or deactivate yourself")
            continue
        if None in places:
            continue
        values: dict[str, Any] = {
            "full_name": data.full_name,
            "role": data.role,
            "is_active": data.is_active,
            "buildings": list(dict.fromkeys(place[1] for place in places if place)),
        }
        plan.offer("user", user, User(email=data.email, password_hash=None), values)


def _plan_students(plan: _Plan, rows: Rows) -> None:
    for row, data in _typed(rows, StudentRow):
        if not plan.claim(("student", data.student_number), row, "student_number"):
            continue
        student = plan.session.scalar(
            select(Student).where(Student.student_number == data.student_number)
        )
        values = {"full_name": data.full_name, "status": data.status}
        plan.offer("student", student, Student(student_number=data.student_number), values)


def _plan_rooms(plan: _Plan, rows: Rows) -> None:
    for row, data in _typed(rows, RoomRow):
        ref = BuildingRef(site_code=data.site_code, building_code=data.building_code)
        place = _building(plan, row, ref, "building_code")
        if place is None or not plan.claim(("room", place[1].id, data.room_code), row, "room_code"):
            continue
        room = plan.session.scalar(
            select(Room).where(Room.building_id == place[1].id, Room.code == data.room_code)
        )
        values = data.model_dump(
            include={"name", "capacity", "latitude", "longitude", "geofence_radius_m"}
        )
        plan.offer("room", room, Room(building_id=place[1].id, code=data.room_code), values)


def _plan_exams(plan: _Plan, rows: Rows) -> None:
    for row, data in _typed(rows, ExamRow):
        if not plan.claim(("exam", data.exam_code), row, "exam_code"):
            continue
        exam = plan.session.scalar(select(Exam).where(Exam.code == data.exam_code))
        values = {"title": data.title}
        if exam is not None and _differs(exam, values) and not _may_change_exam(plan, exam):
            plan.refuse(row, "exam_code", "this exam is also held in buildings you do not manage")
            continue
        plan.offer("exam", exam, Exam(code=data.exam_code), values)


def _may_change_exam(plan: _Plan, exam: Exam) -> bool:
    """Managers change an exam only when every session of it is in their buildings."""
    buildings = plan.session.scalars(
        select(Room.building_id)
        .join(ExamSession, ExamSession.room_id == Room.id)
        .where(ExamSession.exam_id == exam.id)
    )
    return all(plan.scope.sees_building(building) for building in buildings)


def _plan_exam_sessions(plan: _Plan, rows: Rows) -> None:
    for row, data in _typed(rows, ExamSessionRow):
        slot = _session_at(plan, row, data)
        if slot is None:
            continue
        ends_at = _utc(plan, row, "ends_at", data.ends_at, slot.zone)
        if ends_at is None:
            continue
        if ends_at <= slot.starts_at:
            plan.refuse(row, "ends_at", "a session must end after it starts")
            continue
        key = ("exam_session", slot.exam.id, slot.room.id, slot.starts_at)
        if not plan.claim(key, row, "starts_at"):
            continue
        existing = _stored_session(plan.session, slot)
        if existing is not None and existing.ends_at != ends_at:
            _check_supervisors_still_free(plan, row, existing, ends_at)
        values = {
            "exam_id": slot.exam.id,
            "room_id": slot.room.id,
            "starts_at": slot.starts_at,
            "ends_at": ends_at,
        }
        plan.offer("exam_session", existing, ExamSession(), values)


def _stored_session(session: Session, slot: _Slot) -> ExamSession | None:
    return session.scalar(
        select(ExamSession).where(
            ExamSession.exam_id == slot.exam.id,
            ExamSession.room_id == slot.room.id,
            ExamSession.starts_at == slot.starts_at,
        )
    )


def _check_supervisors_still_free(
    plan: _Plan, row: int, exam_session: ExamSession, ends_at: datetime
) -> None:
    """A longer session must not make its supervisors overlap their other assignments."""
    held = plan.session.scalars(
        select(Assignment).where(
            Assignment.session_id == exam_session.id,
            Assignment.status != AssignmentStatus.DECLINED,
        )
    )
    for assignment in held:
        clash = find_overlap(
            plan.session,
            assignment.supervisor_id,
            exam_session.starts_at,
            ends_at,
            exclude_assignment_id=assignment.id,
        )
        if clash is not None:
            plan.refuse(
                row,
                "ends_at",
                "an assigned supervisor would then overlap another of their assignments",
            )
            return


def _plan_assignments(plan: _Plan, rows: Rows) -> None:
    held: dict[int, list[tuple[int, datetime, datetime]]] = {}  # supervisor → (row, start, end)
    for row, data in _typed(rows, AssignmentRow):
        slot = _session_at(plan, row, data)
        supervisor = _supervisor(plan, row, data.supervisor_email)
        exam_session = _stored_session(plan.session, slot) if slot else None
        if slot is not None and exam_session is None:
            plan.refuse(
                row,
                "starts_at",
                f"exam {data.exam_code} has no session in room {data.room_code} starting then",
            )
        if exam_session is None or supervisor is None:
            continue
        if not plan.claim(("assignment", exam_session.id, supervisor.id), row, "supervisor_email"):
            continue
        assignment = plan.session.scalar(
            select(Assignment).where(
                Assignment.session_id == exam_session.id,
                Assignment.supervisor_id == supervisor.id,
            )
        )
        if not _status_allowed(plan, row, assignment, data.status):
            continue
        if data.status is not AssignmentStatus.DECLINED:
            window = (row, exam_session.starts_at, exam_session.ends_at)
            _check_free(plan, supervisor.id, window, assignment, held.setdefault(supervisor.id, []))
        values = {
            "session_id": exam_session.id,
            "supervisor_id": supervisor.id,
            "status": data.status,
        }
        plan.offer("assignment", assignment, Assignment(), values)


def _supervisor(plan: _Plan, row: int, email: str) -> User | None:
    user = plan.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None or not user.is_active:
        plan.refuse(row, "supervisor_email", f"no active staff member {email}")
        return None
    if user.role is not Role.SUPERVISOR:
        plan.refuse(row, "supervisor_email", f"{email} is a {user.role.value}, not a supervisor")
        return None
    return user


def _status_allowed(
    plan: _Plan, row: int, assignment: Assignment | None, status: AssignmentStatus
) -> bool:
    current = assignment.status if assignment else None
    if status in DEVICE_STATUSES and status is not current:
        plan.refuse(row, "status", f"{status.value} is set by the door station, not by a file")
        return False
    if current in DEVICE_STATUSES and status is not current:
        plan.refuse(row, "status", f"the supervisor is already {current.value}: leave it so")
        return False
    return True


def _check_free(
    plan: _Plan,
    supervisor_id: int,
    window: tuple[int, datetime, datetime],
    assignment: Assignment | None,
    earlier: list[tuple[int, datetime, datetime]],
) -> None:
    """Refuse a row whose supervisor already holds an overlapping session, stored or in the file."""
    row, starts_at, ends_at = window
    exclude = assignment.id if assignment else None
    stored = find_overlap(plan.session, supervisor_id, starts_at, ends_at, exclude)
    if stored is not None:
        plan.refuse(
            row, "supervisor_email", "this supervisor already holds an overlapping assignment"
        )
    for other_row, other_start, other_end in earlier:
        if other_start < ends_at and other_end > starts_at:
            plan.refuse(row, "supervisor_email", f"overlaps this supervisor's row {other_row}")
    earlier.append(window)


_PLANNERS: dict[CsvKind, Callable[[_Plan, Rows], None]] = {
    CsvKind.USERS: _plan_users,
    CsvKind.STUDENTS: _plan_students,
    CsvKind.ROOMS: _plan_rooms,
    CsvKind.EXAMS: _plan_exams,
    CsvKind.EXAM_SESSIONS: _plan_exam_sessions,
    CsvKind.ASSIGNMENTS: _plan_assignments,
}


# --- export ---------------------------------------------------------------------------------------


def export_csv(session: Session, kind: CsvKind, scope: Scope) -> str:
    """Every record of `kind` the caller may see, in the columns `import_csv` reads back."""
    require_kind(scope, kind)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns_of(kind), lineterminator="\r\n")
    writer.writeheader()
    for record in _EXPORTERS[kind](session, scope):
        writer.writerow({name: _cell(value) for name, value in record.items()})
    return out.getvalue()


Record = dict[str, object]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return repr(value) if isinstance(value, float) else str(value)  # repr keeps every digit


def _site_time(value: datetime, time_zone: str) -> str:
    return value.astimezone(ZoneInfo(time_zone)).isoformat()


def _export_users(session: Session, scope: Scope) -> Iterator[Record]:
    places = {
        building.id: f"{site_code}/{building.code}"
        for building, site_code in session.execute(
            select(Building, Site.code).join(Site, Building.site_id == Site.id)
        )
    }
    for user in session.scalars(select(User).order_by(User.email)):
        yield {
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
            "is_active": user.is_active,
            "buildings": ";".join(sorted(places[building.id] for building in user.buildings)),
        }


def _export_students(session: Session, scope: Scope) -> Iterator[Record]:
    for student in session.scalars(select(Student).order_by(Student.student_number)):
        yield {
            "student_number": student.student_number,
            "full_name": student.full_name,
            "status": student.status,
        }


def _place_columns(site: Site, building: Building, room: Room) -> Record:
    return {"site_code": site.code, "building_code": building.code, "room_code": room.code}


def _rooms_query(scope: Scope) -> Any:
    query = (
        select(Site, Building, Room)
        .join(Building, Building.site_id == Site.id)
        .join(Room, Room.building_id == Building.id)
    )
    if scope.building_ids is not None:
        query = query.where(Building.id.in_(scope.building_ids))
    return query


def _export_rooms(session: Session, scope: Scope) -> Iterator[Record]:
    query = _rooms_query(scope).order_by(Site.code, Building.code, Room.code)
    for site, building, room in session.execute(query):
        yield _place_columns(site, building, room) | {
            "name": room.name,
            "capacity": room.capacity,
            "latitude": room.latitude,
            "longitude": room.longitude,
            "geofence_radius_m": room.geofence_radius_m,
        }


def _export_exams(session: Session, scope: Scope) -> Iterator[Record]:
    query = select(Exam).order_by(Exam.code)
    if scope.building_ids is not None:
        # A manager sees exams held in their buildings, and exams not yet held anywhere.
        held = select(ExamSession.exam_id).join(Room, ExamSession.room_id == Room.id)
        query = query.where(
            Exam.id.in_(held.where(Room.building_id.in_(scope.building_ids))) | Exam.id.not_in(held)
        )
    for exam in session.scalars(query):
        yield {"exam_code": exam.code, "title": exam.title}


def _sessions_query(scope: Scope) -> Any:
    return (
        _rooms_query(scope)
        .add_columns(Exam, ExamSession)
        .join(ExamSession, ExamSession.room_id == Room.id)
        .join(Exam, ExamSession.exam_id == Exam.id)
        .order_by(ExamSession.starts_at, Exam.code, Site.code, Building.code, Room.code)
    )


def _export_exam_sessions(session: Session, scope: Scope) -> Iterator[Record]:
    for site, building, room, exam, exam_session in session.execute(_sessions_query(scope)):
        yield (
            {"exam_code": exam.code}
            | _place_columns(site, building, room)
            | {
                "starts_at": _site_time(exam_session.starts_at, site.time_zone),
                "ends_at": _site_time(exam_session.ends_at, site.time_zone),
            }
        )


def _export_assignments(session: Session, scope: Scope) -> Iterator[Record]:
    query = (
        _sessions_query(scope)
        .add_columns(Assignment, User.email)
        .join(Assignment, Assignment.session_id == ExamSession.id)
        .join(User, Assignment.supervisor_id == User.id)
        .order_by(User.email)
    )
    for site, building, room, exam, exam_session, assignment, email in session.execute(query):
        yield (
            {"exam_code": exam.code}
            | _place_columns(site, building, room)
            | {
                "starts_at": _site_time(exam_session.starts_at, site.time_zone),
                "supervisor_email": email,
                "status": assignment.status,
            }
        )


_EXPORTERS: dict[CsvKind, Callable[[Session, Scope], Iterator[Record]]] = {
    CsvKind.USERS: _export_users,
    CsvKind.STUDENTS: _export_students,
    CsvKind.ROOMS: _export_rooms,
    CsvKind.EXAMS: _export_exams,
    CsvKind.EXAM_SESSIONS: _export_exam_sessions,
    CsvKind.ASSIGNMENTS: _export_assignments,
}
