"""Exporting records as CSV, in the columns the import reads back.

Text a spreadsheet would run as a formula is neutralised (see `cells`); times are written as
the site's wall clock with its offset, so an exported file imports back to the same state.
"""

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.models import Assignment, Building, Exam, ExamSession, Room, Site, Student, User
from coordinator.schemas.csv_io import CsvKind, columns_of
from coordinator.services.csv_io.access import require_kind
from coordinator.services.csv_io.cells import to_cell
from coordinator.services.scope import Scope
from coordinator.services.site_time import at_site


def export_csv(session: Session, kind: CsvKind, scope: Scope) -> str:
    """Every record of `kind` the caller may see, in the columns `import_csv` reads back."""
    require_kind(scope, kind)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns_of(kind), lineterminator="\r\n")
    writer.writeheader()
    for record in _EXPORTERS[kind](session, scope):
        writer.writerow({name: to_cell(value) for name, value in record.items()})
    return out.getvalue()


Record = dict[str, object]


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
                "starts_at": at_site(exam_session.starts_at, site.time_zone),
                "ends_at": at_site(exam_session.ends_at, site.time_zone),
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
                "starts_at": at_site(exam_session.starts_at, site.time_zone),
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
