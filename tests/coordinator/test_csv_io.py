"""CSV import and export: all-or-nothing with a per-row report, scoped, audited, round-tripping."""

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.app import create_app
from coordinator.auth.tokens import issue_access_token
from coordinator.core.config import Settings
from coordinator.db.enums import AssignmentStatus, Role, StudentStatus
from coordinator.db.models import (
    Assignment,
    AuditEntry,
    Building,
    Exam,
    ExamSession,
    ManagerBuilding,
    Room,
    Site,
    Student,
    User,
    utc_now,
)
from coordinator.errors import ForbiddenError
from coordinator.schemas.csv_io import CsvKind, ImportResult, RowProblem
from coordinator.services.accounts import Invitations
from coordinator.services.assignments import find_overlap
from coordinator.services.audit import Actor
from coordinator.services.csv_io import CsvRejectedError, export_csv, import_csv
from coordinator.services.csv_io.cells import FORMULA_STARTS, neutralise, restore
from coordinator.services.csv_io.reading import MAX_ROWS
from coordinator.services.scope import scope_of

ADMIN, MANAGER = "admin@uni.test", "manager@uni.test"

ROOMS = """site_code,building_code,room_code,name,capacity,latitude,longitude,geofence_radius_m
main,A,A-101,Lecture hall 1,120,52.52,13.405,25
main,A,A-102,Seminar room,30,,,
main,B,B-001,Basement lab,20,,,
"""
EXAMS = "exam_code,title\nMATH-101,Linear algebra\nPHYS-201,Mechanics\n"
STUDENTS = (
    "student_number,full_name,status\ns1001,Ada Lovelace,active\ns1002,Zoë Brandt,suspended\n"
)
USERS = """email,full_name,role,is_active,buildings
sup1@uni.test,Sam Supervisor,supervisor,true,
Sup2@Uni.test,Sue Supervisor,supervisor,true,
boss@uni.test,Bo Manager,manager,true,main/A;main/B
"""
# Berlin is on summer time (UTC+2) in June: 09:00 there is 07:00 UTC.
EXAM_SESSIONS = """exam_code,site_code,building_code,room_code,starts_at,ends_at
MATH-101,main,A,A-101,2026-06-01T09:00,2026-06-01T11:00
PHYS-201,main,B,B-001,2026-06-01T10:00+02:00,2026-06-01T12:00+02:00
PHYS-201,main,A,A-102,2026-06-02T09:00,2026-06-02T10:30
"""
ASSIGNMENTS = """exam_code,site_code,building_code,room_code,starts_at,supervisor_email,status
MATH-101,main,A,A-101,2026-06-01T09:00,sup1@uni.test,proposed
PHYS-201,main,B,B-001,2026-06-01T10:00,sup2@uni.test,accepted
PHYS-201,main,A,A-102,2026-06-02T09:00,sup1@uni.test,declined
"""
ALL_KINDS = [
    (CsvKind.USERS, USERS),
    (CsvKind.STUDENTS, STUDENTS),
    (CsvKind.ROOMS, ROOMS),
    (CsvKind.EXAMS, EXAMS),
    (CsvKind.EXAM_SESSIONS, EXAM_SESSIONS),
    (CsvKind.ASSIGNMENTS, ASSIGNMENTS),
]


def seed_campus(session: Session) -> None:
    """A site with buildings A and B, an admin, and a manager of building A only."""
    site = Site(code="main", name="Main campus", time_zone="Europe/Berlin")
    session.add(site)
    session.flush()
    building_a = Building(site_id=site.id, code="A", name="A")
    session.add_all([building_a, Building(site_id=site.id, code="B", name="B")])
    admin = User(email=ADMIN, full_name="Ada Admin", role=Role.ADMIN)
    manager = User(email=MANAGER, full_name="Max Manager", role=Role.MANAGER)
    session.add_all([admin, manager])
    session.flush()
    session.add(ManagerBuilding(user_id=manager.id, building_id=building_a.id))


@pytest.fixture
def campus(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        seed_campus(session)
    return sessions


def run_import(
    sessions: sessionmaker[Session],
    kind: CsvKind,
    text: str | bytes,
    *,
    as_email: str = ADMIN,
    dry_run: bool = False,
) -> ImportResult:
    data = text.encode() if isinstance(text, str) else text
    with sessions.begin() as session:
        user = session.scalars(select(User).where(User.email == as_email)).one()
        actor = Actor(user.id, user.email, "test")
        return import_csv(
            session,
            kind,
            data,
            actor=actor,
            scope=scope_of(session, user),
            invitations=Invitations(Settings(), utc_now()),
            dry_run=dry_run,
        )


def run_export(sessions: sessionmaker[Session], kind: CsvKind, as_email: str = ADMIN) -> str:
    with sessions() as session:
        user = session.scalars(select(User).where(User.email == as_email)).one()
        return export_csv(session, kind, scope_of(session, user))


def rejection(
    sessions: sessionmaker[Session], kind: CsvKind, text: str, as_email: str = ADMIN
) -> list[tuple[int, str | None]]:
    with pytest.raises(CsvRejectedError) as caught:
        run_import(sessions, kind, text, as_email=as_email)
    return [(problem.row, problem.column) for problem in caught.value.problems]


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def import_everything(sessions: sessionmaker[Session]) -> None:
    for kind, text in ALL_KINDS:
        run_import(sessions, kind, text)


# --- each kind ------------------------------------------------------------------------------------


def test_imports_every_kind_and_audits_each_record_as_the_importer(
    campus: sessionmaker[Session],
) -> None:
    results = [run_import(campus, kind, text) for kind, text in ALL_KINDS]
    assert [(r.created, r.updated, r.unchanged) for r in results] == [
        (3, 0, 0),
        (2, 0, 0),
        (3, 0, 0),
        (2, 0, 0),
        (3, 0, 0),
        (3, 0, 0),
    ]
    with campus() as session:
        boss = session.scalars(select(User).where(User.email == "boss@uni.test")).one()
        assert boss.password_hash is None and {b.code for b in boss.buildings} == {"A", "B"}
        assert session.scalars(select(User.email).where(User.role == Role.SUPERVISOR)).all() == [
            "sup1@uni.test",
            "sup2@uni.test",  # emails are stored lower-case
        ]
        zoe = session.scalars(select(Student).where(Student.student_number == "s1002")).one()
        assert zoe.status is StudentStatus.SUSPENDED and zoe.full_name == "Zoë Brandt"
        hall = session.scalars(select(Room).where(Room.code == "A-101")).one()
        assert (hall.capacity, hall.latitude, hall.geofence_radius_m) == (120, 52.52, 25.0)
        math = session.scalars(select(ExamSession).join(Exam).where(Exam.code == "MATH-101")).one()
        assert math.starts_at == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
        statuses = session.scalars(select(Assignment.status).order_by(Assignment.id)).all()
        assert statuses == [
            AssignmentStatus.PROPOSED,
            AssignmentStatus.ACCEPTED,
            AssignmentStatus.DECLINED,
        ]
        audit = session.scalars(select(AuditEntry)).all()
        assert {entry.actor for entry in audit} == {ADMIN}
        actions = [entry.action for entry in audit]
        # Every imported user is invited to set their own password, in the same transaction.
        assert (actions.count("create"), actions.count("invite"), len(actions)) == (16, 3, 19)
        assert all("password_hash" not in (entry.after or {}) for entry in audit)


def test_existing_natural_keys_are_updated_with_before_and_after_audited(
    campus: sessionmaker[Session],
) -> None:
    run_import(campus, CsvKind.ROOMS, ROOMS)
    changed = ROOMS.replace("Seminar room,30", "Seminar room,35")
    result = run_import(campus, CsvKind.ROOMS, changed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    with campus() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.action == "update" and entry.entity == "room"
        assert (entry.before or {})["capacity"] == 30 and (entry.after or {})["capacity"] == 35


def test_dry_run_checks_everything_and_writes_nothing(campus: sessionmaker[Session]) -> None:
    result = run_import(campus, CsvKind.ROOMS, ROOMS, dry_run=True)
    assert (result.dry_run, result.created) == (True, 3)
    assert count(campus, Room) == 0 and count(campus, AuditEntry) == 0


# --- all or nothing -------------------------------------------------------------------------------


def test_one_bad_row_writes_nothing_and_the_report_names_row_and_column(
    campus: sessionmaker[Session],
) -> None:
    bad = ROOMS.replace("Seminar room,30", "Seminar room,0")
    with pytest.raises(CsvRejectedError) as caught:
        run_import(campus, CsvKind.ROOMS, bad)
    assert caught.value.problems == [
        RowProblem(row=3, column="capacity", message="Input should be greater than or equal to 1")
    ]
    assert count(campus, Room) == 0 and count(campus, AuditEntry) == 0


def test_every_problem_of_every_row_is_reported(campus: sessionmaker[Session]) -> None:
    text = (
        "site_code,building_code,room_code,name,capacity,latitude,longitude,geofence_radius_m\n"
        "main,Z,Z-1,Nowhere,10,,,\n"  # no such building
        "main,A,A-1,,ten,,,\n"  # empty name, capacity not a number
        "main,A,A-2,Ok,10,52.5,,\n"  # latitude without longitude
        "main,A,A-3,Ok,10,,,5\n"  # radius without a centre
        "main,A,A-5,Fine,10,,,\n"
        "main,A,A-5,Again,10,,,\n"  # A-5 twice in the file
        "main,A,A-4,Short\n"  # too few cells
    )
    assert rejection(campus, CsvKind.ROOMS, text) == [
        (2, "building_code"),
        (3, "name"),
        (3, "capacity"),
        (4, "latitude"),  # the geofence is checked whole, by the rooms service
        (5, "latitude"),
        (7, "room_code"),
        (8, None),
    ]


def test_a_wrong_header_is_refused_naming_the_columns(campus: sessionmaker[Session]) -> None:
    text = USERS.replace("buildings\n", "buildings,password\n", 1)  # never a password column
    assert rejection(campus, CsvKind.USERS, text) == [(1, "password")]
    assert rejection(campus, CsvKind.EXAMS, "exam_code\nMATH-101\n") == [(1, "title")]


def test_excel_bom_and_crlf_are_accepted(campus: sessionmaker[Session]) -> None:
    excel = "\ufeff" + STUDENTS.replace("\n", "\r\n") + ",,\r\n"  # and a trailing empty row
    result = run_import(campus, CsvKind.STUDENTS, excel.encode("utf-8"))
    assert result.created == 2
    with campus() as session:
        names = session.scalars(select(Student.full_name).order_by(Student.student_number))
        assert list(names) == ["Ada Lovelace", "Zoë Brandt"]


def test_a_file_that_is_not_utf8_is_refused(campus: sessionmaker[Session]) -> None:
    with pytest.raises(CsvRejectedError, match="not UTF-8"):
        run_import(campus, CsvKind.STUDENTS, STUDENTS.encode("latin-1"))


# --- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "message"),
    [
        ("2026-06-01T09:00+01:00", "the offset is not Europe/Berlin's at that time (+02:00)"),
        ("2026-03-29T02:30", "does not exist in Europe/Berlin"),
        ("2026-10-25T02:30", "happens twice in Europe/Berlin"),
        ("01/06/2026 09:00", "write the time as YYYY-MM-DDTHH:MM"),
    ],
)
def test_times_are_site_wall_clock_and_strict(
    campus: sessionmaker[Session], starts_at: str, message: str
) -> None:
    run_import(campus, CsvKind.ROOMS, ROOMS)
    run_import(campus, CsvKind.EXAMS, EXAMS)
    text = (
        f"exam_code,site_code,building_code,room_code,starts_at,ends_at\n"
        f"MATH-101,main,A,A-101,{starts_at},2026-12-01T11:00\n"
    )
    with pytest.raises(CsvRejectedError) as caught:
        run_import(campus, CsvKind.EXAM_SESSIONS, text)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (2, "starts_at") and message in problem.message


# --- round trip -----------------------------------------------------------------------------------


def test_export_then_import_round_trips(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    exported = {kind: run_export(campus, kind) for kind, _ in ALL_KINDS}
    assert exported[CsvKind.EXAM_SESSIONS].splitlines()[1] == (
        "MATH-101,main,A,A-101,2026-06-01T09:00:00+02:00,2026-06-01T11:00:00+02:00"
    )
    audited = count(campus, AuditEntry)
    for kind, text in exported.items():  # into the same database: nothing to change
        result = run_import(campus, kind, text)
        assert (result.created, result.updated) == (0, 0) and result.unchanged > 0
    assert count(campus, AuditEntry) == audited
    with campus.begin() as session:  # into an emptied database: the same state again
        for model in (Assignment, ExamSession, Exam, Room, Student):
            session.execute(delete(model))
        session.execute(delete(User).where(User.email.not_in([ADMIN, MANAGER])))
    for kind, text in exported.items():
        run_import(campus, kind, text)
    assert {kind: run_export(campus, kind) for kind, _ in ALL_KINDS} == exported


FORMULAS = (
    "student_number,full_name,status\n"
    's2001,"=HYPERLINK(""http://evil.test"",""click"")",active\n'
    "s2002,+1+1,active\n"
    "s2003,-2,active\n"
    "s2004,@SUM(A1),active\n"
    "s2005,'=already quoted,active\n"
    "s2006,'plain quote,active\n"
)


def test_formula_cells_are_neutralised_on_export_and_read_back(
    campus: sessionmaker[Session],
) -> None:
    run_import(campus, CsvKind.STUDENTS, FORMULAS)
    with campus() as session:
        query = select(Student.student_number, Student.full_name)
        names = dict(session.execute(query).all())
    # A file's "'=..." is the escaped form of "=...", which is what an import reads
    assert names["s2001"] == '=HYPERLINK("http://evil.test","click")'
    assert (names["s2005"], names["s2006"]) == ("=already quoted", "'plain quote")
    exported = run_export(campus, CsvKind.STUDENTS)
    cells = {line.split(",", 1)[0]: line.split(",", 1)[1] for line in exported.splitlines()[1:]}
    assert cells["s2002"] == "'+1+1,active"
    assert cells["s2003"] == "'-2,active"
    assert cells["s2004"] == "'@SUM(A1),active"
    assert cells["s2005"] == "'=already quoted,active"
    assert cells["s2006"] == "'plain quote,active"  # no formula: left alone
    assert cells["s2001"].startswith("\"'=HYPERLINK(")
    result = run_import(campus, CsvKind.STUDENTS, exported)
    assert (result.created, result.updated) == (0, 0)


def test_a_file_of_too_many_rows_is_refused_before_any_row_runs(
    campus: sessionmaker[Session],
) -> None:
    rows = "".join(f"s{n},Student {n},active\n" for n in range(MAX_ROWS + 1))
    with pytest.raises(CsvRejectedError, match=f"more than {MAX_ROWS} rows: split the file"):
        run_import(campus, CsvKind.STUDENTS, "student_number,full_name,status\n" + rows)
    assert count(campus, Student) == 0


@given(st.text(alphabet=st.sampled_from("=+-@'\t\rab1 "), max_size=8))
def test_any_text_survives_neutralising_and_restoring(value: str) -> None:
    escaped = neutralise(value)
    assert restore(escaped) == value
    assert not escaped.lstrip("'").startswith(FORMULA_STARTS) or escaped.startswith("'")


def test_nul_and_far_dates_in_a_file_are_row_problems(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    assert rejection(campus, CsvKind.EXAMS, "exam_code,title\nX-1,Bad\x00title\n") == [(2, "title")]
    far = (
        EXAM_SESSIONS.splitlines()[0]
        + "\nMATH-101,main,A,A-101,0001-01-01T00:00,0001-01-01T01:00\n"
    )
    assert rejection(campus, CsvKind.EXAM_SESSIONS, far) == [(2, "starts_at"), (2, "ends_at")]


# --- scope ----------------------------------------------------------------------------------------


def test_a_manager_imports_only_into_their_buildings_without_learning_of_others(
    campus: sessionmaker[Session],
) -> None:
    text = ROOMS + "main,Z,Z-1,Nowhere,10,,,\n"
    with pytest.raises(CsvRejectedError) as caught:
        run_import(campus, CsvKind.ROOMS, text, as_email=MANAGER)
    other, missing = caught.value.problems
    assert (other.row, other.column, missing.row) == (4, "building_code", 5)
    assert other.message == "no building main/B" and missing.message == "no building main/Z"
    assert count(campus, Room) == 0
    run_import(campus, CsvKind.ROOMS, ROOMS)
    assert "B-001" not in run_export(campus, CsvKind.ROOMS, MANAGER)
    assert "B-001" in run_export(campus, CsvKind.ROOMS, ADMIN)


def test_only_admins_move_people(campus: sessionmaker[Session]) -> None:
    with pytest.raises(ForbiddenError):
        run_import(campus, CsvKind.USERS, USERS, as_email=MANAGER)
    with pytest.raises(ForbiddenError):
        run_export(campus, CsvKind.STUDENTS, MANAGER)


def test_a_manager_may_not_retitle_an_exam_held_in_another_building(
    campus: sessionmaker[Session],
) -> None:
    import_everything(campus)
    assert rejection(campus, CsvKind.EXAMS, "exam_code,title\nPHYS-201,New\n", MANAGER) == [
        (2, "exam_code")
    ]
    run_import(campus, CsvKind.EXAMS, "exam_code,title\nMATH-101,New\n", as_email=MANAGER)


def test_a_building_named_twice_is_granted_once(campus: sessionmaker[Session]) -> None:
    run_import(campus, CsvKind.USERS, USERS.replace("main/A;main/B", "main/A; main/A"))
    with campus() as session:
        boss = session.scalars(select(User).where(User.email == "boss@uni.test")).one()
        assert [building.code for building in boss.buildings] == ["A"]
    text = USERS.replace("supervisor,true,\n", "supervisor,true,main/A\n", 1)
    assert rejection(campus, CsvKind.USERS, text) == [(2, "buildings")]


def test_an_admin_may_not_demote_themselves_by_file(campus: sessionmaker[Session]) -> None:
    text = f"email,full_name,role,is_active,buildings\n{ADMIN},Ada Admin,supervisor,true,\n"
    assert rejection(campus, CsvKind.USERS, text) == [(2, "role")]


# --- assignments ----------------------------------------------------------------------------------

OVERLAPPING = """exam_code,site_code,building_code,room_code,starts_at,ends_at
MATH-101,main,A,A-102,2026-06-01T10:30,2026-06-01T12:00
"""


def test_an_overlapping_assignment_is_refused(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    run_import(campus, CsvKind.EXAM_SESSIONS, OVERLAPPING)
    # sup1 already holds MATH-101 in A-101 from 09:00 to 11:00
    text = ASSIGNMENTS.splitlines()[0] + "\nMATH-101,main,A,A-102,2026-06-01T10:30,sup1@uni.test,"
    assert rejection(campus, CsvKind.ASSIGNMENTS, text + "proposed\n") == [(2, "supervisor_email")]
    run_import(campus, CsvKind.ASSIGNMENTS, text + "declined\n")  # a declined one holds no time


def test_two_overlapping_rows_in_one_file_are_refused(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    later = "MATH-101,main,A,A-101,2026-06-02T10:00,2026-06-02T11:00\n"
    run_import(campus, CsvKind.EXAM_SESSIONS, OVERLAPPING.splitlines()[0] + "\n" + later)
    text = ASSIGNMENTS.splitlines()[0] + (
        "\nPHYS-201,main,A,A-102,2026-06-02T09:00,sup1@uni.test,proposed"  # was declined
        "\nMATH-101,main,A,A-101,2026-06-02T10:00,sup1@uni.test,proposed\n"
    )
    assert rejection(campus, CsvKind.ASSIGNMENTS, text) == [(3, "supervisor_email")]


def test_find_overlap_ignores_the_excluded_and_declined(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    with campus() as session:
        sup1 = session.scalars(select(User).where(User.email == "sup1@uni.test")).one()
        start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
        clash = find_overlap(session, sup1.id, start, start + timedelta(hours=1))
        assert clash is not None and clash.status is AssignmentStatus.PROPOSED
        assert find_overlap(session, sup1.id, start, start + timedelta(hours=1), clash.id) is None
        # sup1 declined PHYS-201 on 2 June
        june_2 = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
        assert find_overlap(session, sup1.id, june_2, june_2 + timedelta(hours=1)) is None


def test_door_station_statuses_cannot_be_set_by_file(campus: sessionmaker[Session]) -> None:
    import_everything(campus)
    text = ASSIGNMENTS.replace("sup1@uni.test,proposed", "sup1@uni.test,checked_in")
    assert rejection(campus, CsvKind.ASSIGNMENTS, text) == [(2, "status")]


def test_a_longer_session_may_not_make_its_supervisor_overlap(
    campus: sessionmaker[Session],
) -> None:
    import_everything(campus)
    header = OVERLAPPING.splitlines()[0]
    after_math = "PHYS-201,main,A,A-102,2026-06-01T11:00,2026-06-01T12:00"
    run_import(campus, CsvKind.EXAM_SESSIONS, f"{header}\n{after_math}\n")
    # sup1 holds MATH-101 until 11:00, so a session starting at 11:00 does not overlap
    assignment = "PHYS-201,main,A,A-102,2026-06-01T11:00,sup1@uni.test,proposed"
    run_import(campus, CsvKind.ASSIGNMENTS, ASSIGNMENTS.splitlines()[0] + f"\n{assignment}\n")
    longer = f"{header}\nMATH-101,main,A,A-101,2026-06-01T09:00,2026-06-01T11:30\n"
    assert rejection(campus, CsvKind.EXAM_SESSIONS, longer) == [(2, "ends_at")]


# --- HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def client(database_url: str, campus: sessionmaker[Session]) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, mqtt_enabled=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def bearer(sessions: sessionmaker[Session], email: str) -> dict[str, str]:
    with sessions() as session:
        user = session.scalars(select(User).where(User.email == email)).one()
    token = issue_access_token(
        Settings().secret_key,
        user_id=user.id,
        role=user.role.value,
        second_factor=True,
        lifetime=timedelta(minutes=5),
    )
    return {"Authorization": f"Bearer {token}"}


def post_csv(
    client: TestClient, kind: str, text: str, headers: dict[str, str], **params: str
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/import/{kind}",
        content=text.encode(),
        headers=headers | {"Content-Type": "text/csv"},
        params=params,
    )
    return response


def test_http_import_then_export(client: TestClient, campus: sessionmaker[Session]) -> None:
    admin = bearer(campus, ADMIN)
    dry = post_csv(client, "rooms", ROOMS, admin, dry_run="true")
    assert dry.status_code == 200 and dry.json()["created"] == 3 and count(campus, Room) == 0
    done = post_csv(client, "rooms", ROOMS, admin)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "kind": "rooms",
        "dry_run": False,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
    }
    exported = client.get("/api/v1/export/rooms", headers=bearer(campus, MANAGER))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")  # for Excel
    assert [line.split(",")[2] for line in exported.text.lstrip("\ufeff").splitlines()[1:]] == [
        "A-101",
        "A-102",
    ]


def test_http_rejected_import_is_422_with_rows(
    client: TestClient, campus: sessionmaker[Session]
) -> None:
    bad = ROOMS.replace("Seminar room,30", "Seminar room,0")
    response = post_csv(client, "rooms", bad, bearer(campus, ADMIN))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "csv_rejected" and body["message"].startswith("rooms not imported")
    assert body["rows"] == [
        {"row": 3, "column": "capacity", "message": "Input should be greater than or equal to 1"}
    ]
    assert body["fields"] == [
        {"field": "row 3: capacity", "message": "Input should be greater than or equal to 1"}
    ]
    assert count(campus, Room) == 0


def test_http_refuses_supervisors_and_unknown_kinds(
    client: TestClient, campus: sessionmaker[Session]
) -> None:
    run_import(campus, CsvKind.USERS, USERS)
    supervisor = bearer(campus, "sup1@uni.test")
    assert client.get("/api/v1/export/rooms", headers=supervisor).status_code == 403
    assert client.get("/api/v1/export/gates", headers=bearer(campus, ADMIN)).status_code == 422
    assert client.get("/api/v1/export/rooms").status_code == 401


# --- command line ---------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "import-csv", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_imports_as_the_named_admin_and_reports_rejections(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sqlite_sessions.begin() as session:
        seed_campus(session)
    good, bad = tmp_path / "rooms.csv", tmp_path / "bad.csv"
    good.write_text(ROOMS)
    bad.write_text(ROOMS.replace("Seminar room,30", "Seminar room,0"))
    database = ("--database-url", sqlite_url)

    result = run_cli("rooms", str(good), "--as", ADMIN, *database)
    assert result.returncode == 0, result.stderr
    assert "rooms: created 3, updated 0, unchanged 0" in result.stdout
    with sqlite_sessions() as session:
        entry = session.scalars(select(AuditEntry)).first()
        assert entry is not None and (entry.actor, entry.address) == (ADMIN, "cli")

    result = run_cli("rooms", str(bad), "--as", ADMIN, *database)
    assert result.returncode == 1
    assert "row 3, capacity: Input should be greater than or equal to 1" in result.stderr

    result = run_cli("rooms", str(good), "--as", MANAGER, *database)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # `main` logs Alembic's INFO lines first; the error itself is the one last line.
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == f"coordinator: {MANAGER} is not an active admin: name one with --as"
