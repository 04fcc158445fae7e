"""Each domain rule holds at every entry point: the API, the CSV import, and the device path.

The parity test sends the same records through `POST /api/v1/...` and through a CSV import and
asserts each is accepted or refused alike, for the same reason.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from coordinator.db import models as m
from coordinator.db.enums import AssignmentStatus, Role
from coordinator.db.models import utc_now
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas.people import UserCreate, UserUpdate
from coordinator.services import assignments, users
from coordinator.services.accounts import Invitations
from coordinator.services.audit import Actor
from coordinator.services.exams import ELSEWHERE_MESSAGE
from coordinator.services.places import GEOFENCE_MESSAGE
from coordinator.services.scope import Scope
from coordinator.services.users import BUILDINGS_MESSAGE, LAST_ADMIN_MESSAGE, SELF_MESSAGE
from protocols import AttendanceAction
from tests.coordinator.campus import START
from tests.coordinator.conftest import Api

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR
NUL_REFUSED = "Value error, may not contain NUL characters"


# --- one rule through the API and through a CSV file ----------------------------------------------


@dataclass(frozen=True)
class Case:
    """A record as a CSV row (by codes) and as an API body (by ids), for one kind."""

    name: str
    kind: str
    path: str
    header: str
    row: Callable[[str], str]  # given a unique suffix for codes the case creates
    body: Callable[[Api, str], dict[str, Any]]


ROOM_HEADER = "site_code,building_code,room_code,name,capacity,latitude,longitude,geofence_radius_m"
USER_HEADER = "email,full_name,role,is_active,buildings"


def _room(code: str, name: str = "Hall", capacity: str = "20", fence: str = ",,") -> str:
    return f"main,b-a,{code},{name},{capacity},{fence}"


def _room_body(api: Api, code: str, **changes: Any) -> dict[str, Any]:
    body = {"building_id": api.campus.own.building.id, "code": code, "name": "Hall", "capacity": 20}
    return body | changes


CASES = [
    Case(
        "a whole room",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room(f"R-{x}"),
        lambda api, x: _room_body(api, f"R-{x}"),
    ),
    Case(
        "a room code with a space",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room("R 1"),
        lambda api, x: _room_body(api, "R 1"),
    ),
    Case(
        "a latitude without the rest of the geofence",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room(f"F-{x}", fence="52.5,,"),
        lambda api, x: _room_body(api, f"F-{x}", latitude=52.5),
    ),
    Case(
        "a radius beyond 10 km",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room(f"G-{x}", fence="52.5,13.4,20000"),
        lambda api, x: _room_body(
            api, f"G-{x}", latitude=52.5, longitude=13.4, geofence_radius_m=20000
        ),
    ),
    Case(
        "no seats",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room(f"C-{x}", capacity="0"),
        lambda api, x: _room_body(api, f"C-{x}", capacity=0),
    ),
    Case(
        "a NUL in a name",
        "rooms",
        "/rooms",
        ROOM_HEADER,
        lambda x: _room(f"N-{x}", name="Hall\x00"),
        lambda api, x: _room_body(api, f"N-{x}") | {"name": "Hall\x00"},
    ),
    Case(
        "an exam code with a slash",
        "exams",
        "/exams",
        "exam_code,title",
        lambda x: "MATH/1,Algebra",
        lambda api, x: {"code": "MATH/1", "title": "Algebra"},
    ),
    Case(
        "an exam",
        "exams",
        "/exams",
        "exam_code,title",
        lambda x: f"MATH-{x},Algebra",
        lambda api, x: {"code": f"MATH-{x}", "title": "Algebra"},
    ),
    Case(
        "a student number with an underscore",
        "students",
        "/students",
        "student_number,full_name,status",
        lambda x: "s_1,Ada,active",
        lambda api, x: {"student_number": "s_1", "full_name": "Ada", "status": "active"},
    ),
    Case(
        "an email with a non-ASCII space",
        "users",
        "/users",
        USER_HEADER,
        lambda x: "ada\u00a0x@campus.test,Ada,supervisor,true,",
        lambda api, x: {
            "email": "ada\u00a0x@campus.test",
            "full_name": "Ada",
            "role": "supervisor",
        },
    ),
    Case(
        "a supervisor given buildings",
        "users",
        "/users",
        USER_HEADER,
        lambda x: f"sup-{x}@campus.test,Sam,supervisor,true,main/b-a",
        lambda api, x: {
            "email": f"sup-{x}@campus.test",
            "full_name": "Sam",
            "role": "supervisor",
            "building_ids": [api.campus.own.building.id],
        },
    ),
]


def _api_verdict(api: Api, case: Case) -> tuple[bool, str | None]:
    response = api.client.post(f"/api/v1{case.path}", headers=api.as_(A), json=case.body(api, "a"))
    if response.status_code == 201:
        return True, None
    assert response.status_code in (404, 409, 422), response.text
    body = response.json()
    return False, body["fields"][0]["message"] if body["fields"] else body["message"]


def _csv_verdict(api: Api, case: Case) -> tuple[bool, str | None]:
    data = f"{case.header}\n{case.row('c')}\n".encode()
    response = api.client.post(
        f"/api/v1/import/{case.kind}",
        headers=api.as_(A) | {"Content-Type": "text/csv"},
        content=data,
    )
    if response.status_code == 200:
        return True, None
    assert response.status_code == 422, response.text
    return False, response.json()["rows"][0]["message"]


def test_the_api_and_a_csv_import_accept_and_refuse_alike(sqlite_api: Api) -> None:
    verdicts = {
        case.name: (_api_verdict(sqlite_api, case), _csv_verdict(sqlite_api, case))
        for case in CASES
    }
    differing = {name: pair for name, pair in verdicts.items() if pair[0] != pair[1]}
    assert differing == {}
    accepted = {name for name, (api, _) in verdicts.items() if api[0]}
    assert accepted == {"a whole room", "an exam"}
    reasons = {name: api[1] for name, (api, _) in verdicts.items()}
    assert reasons["a latitude without the rest of the geofence"] == GEOFENCE_MESSAGE
    assert reasons["a supervisor given buildings"] == BUILDINGS_MESSAGE
    assert reasons["a NUL in a name"] == NUL_REFUSED


# --- geofence -------------------------------------------------------------------------------------


def test_a_change_may_not_leave_half_a_geofence(api: Api) -> None:
    url = f"/api/v1/rooms/{api.campus.own.room.id}"
    half = api.client.patch(url, headers=api.as_(A), json={"longitude": None})
    assert half.status_code == 422
    assert half.json()["fields"] == [{"field": "latitude", "message": GEOFENCE_MESSAGE}]
    cleared = {"latitude": None, "longitude": None, "geofence_radius_m": None}
    whole = api.client.patch(url, headers=api.as_(A), json=cleared)
    assert whole.status_code == 200 and whole.json()["latitude"] is None
    again = api.client.patch(url, headers=api.as_(A), json={"latitude": 52.1})
    assert again.status_code == 422


# --- exams ----------------------------------------------------------------------------------------


def test_a_manager_changes_only_exams_held_wholly_in_their_buildings(api: Api) -> None:
    url = f"/api/v1/exams/{api.campus.exam.id}"  # held in the manager's building and another
    renamed = api.client.patch(url, headers=api.as_(M), json={"title": "Maths"})
    assert renamed.status_code == 403 and renamed.json()["message"] == ELSEWHERE_MESSAGE
    assert api.client.delete(url, headers=api.as_(M)).status_code == 403
    assert api.client.patch(url, headers=api.as_(A), json={"title": "Maths"}).status_code == 200


# --- admins ---------------------------------------------------------------------------------------


def test_an_admin_may_not_demote_or_deactivate_themselves(api: Api) -> None:
    url = f"/api/v1/users/{api.campus.admin.id}"
    for change in ({"role": "manager"}, {"is_active": False}):
        response = api.client.patch(url, headers=api.as_(A), json=change)
        assert response.status_code == 409 and response.json()["message"] == SELF_MESSAGE
    renamed = api.client.patch(url, headers=api.as_(A), json={"full_name": "Ada A. Admin"})
    assert renamed.status_code == 200


def test_the_last_active_admin_stays_an_active_admin(api: Api) -> None:
    """Through the API the acting admin is another admin; a script or file may not be."""
    script = Actor(None, "maintenance script")
    everywhere = Scope(api.campus.admin.id, Role.ADMIN, None)
    with api.sessions() as session:
        admin = session.get(m.User, api.campus.admin.id)
        assert admin is not None
        for change in (UserUpdate(is_active=False), UserUpdate(role=Role.TECHNICIAN)):
            with pytest.raises(ConflictError, match=LAST_ADMIN_MESSAGE):
                users.update_user(session, admin, changes=change, actor=script, scope=everywhere)
        second = users.create_user(
            session,
            data=UserCreate(email="second@campus.test", full_name="Second", role=Role.ADMIN),
            actor=script,
            scope=everywhere,
            invitations=Invitations(api.settings, utc_now()),
        )
        users.update_user(
            session, admin, changes=UserUpdate(is_active=False), actor=script, scope=everywhere
        )
        assert (admin.is_active, second.is_active) == (False, True)


# --- a declined supervisor ------------------------------------------------------------------------


def test_a_supervisor_who_declined_loses_the_session(api: Api) -> None:
    side = api.campus.own
    session_url = f"/api/v1/exam-sessions/{side.session.id}"
    report = {"type": "tamper", "severity": "high", "session_id": side.session.id, "detail": "x"}
    assert api.client.get(session_url, headers=api.as_(S)).status_code == 200
    declined = api.client.post(
        f"/api/v1/assignments/{side.assignment.id}/decline", headers=api.as_(S)
    )
    assert declined.status_code == 200
    assert api.client.get(session_url, headers=api.as_(S)).status_code == 404
    listed = api.client.get("/api/v1/exam-sessions", headers=api.as_(S)).json()
    assert listed["total"] == 0
    refused = api.client.post("/api/v1/violations", headers=api.as_(S), json=report)
    assert refused.status_code == 404


# --- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/exams", {"code": "x-1", "title": "T\x00"}),
        ("GET", "/users?email=a%00@campus.test", None),
        ("GET", "/audit?entity=room%00", None),
        ("GET", "/exam-sessions?starts_after=0001-01-01T00:00:00%2B14:00", None),
        ("GET", "/audit?since=9999-12-31T23:59:59-14:00", None),
        ("POST", "/passes", {"zones": ["main"], "valid_from": "0001-01-01T00:00:00+14:00"}),
    ],
)
def test_nul_characters_and_extreme_dates_are_refused_with_422(
    api: Api, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    if payload is not None and path == "/passes":
        payload = payload | {
            "student_id": api.campus.student.id,
            "valid_until": "9999-12-31T23:59:59-14:00",
        }
    response = api.client.request(method, f"/api/v1{path}", headers=api.as_(A), json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"


def test_a_duplicate_answers_without_the_databases_words(api: Api) -> None:
    body = {"building_id": api.campus.own.building.id, "code": "r-a", "name": "A", "capacity": 3}
    response = api.client.post("/api/v1/rooms", headers=api.as_(A), json=body)
    assert response.status_code == 409
    text = response.text.lower()
    assert not any(word in text for word in ("duplicate", "constraint", "unique", "uq_", "key ("))


# --- the device path ------------------------------------------------------------------------------


def test_check_in_and_out_come_from_the_device_path(api: Api) -> None:
    side = api.campus.own
    arrived, left = START - timedelta(minutes=10), START + timedelta(hours=2)
    with api.sessions() as session:
        with pytest.raises(ConflictError, match="proposed cannot be checked in"):
            assignments.check_in(
                session, session_id=side.session.id, supervisor_id=side.supervisor.id, at=arrived
            )
        session.rollback()
        held = session.get(m.Assignment, side.assignment.id)
        assert held is not None
        held.status = AssignmentStatus.ACCEPTED
        session.commit()
        for minutes in (0, 3):  # a second tap keeps the first time
            assignments.check_in(
                session,
                session_id=side.session.id,
                supervisor_id=side.supervisor.id,
                at=arrived + timedelta(minutes=minutes),
                device_id=side.device.id,
            )
        assignments.check_out(
            session,
            session_id=side.session.id,
            supervisor_id=side.supervisor.id,
            at=left,
            device_id=side.device.id,
        )
        with pytest.raises(NotFoundError):
            assignments.check_in(
                session, session_id=side.session.id, supervisor_id=api.campus.admin.id, at=left
            )
        session.commit()
    with api.sessions() as session:
        stored = session.get(m.Assignment, side.assignment.id)
        assert stored is not None and stored.status is AssignmentStatus.CHECKED_OUT
        assert (stored.checked_in_at, stored.checked_out_at) == (arrived, left)
        rows = session.scalars(
            select(m.AttendanceRecord.action)
            .where(m.AttendanceRecord.device_id == side.device.id)
            .order_by(m.AttendanceRecord.id)
        ).all()
        # the campus already holds one check-in row of this device; ours add one in and one out
        assert list(rows) == [
            AttendanceAction.CHECK_IN,
            AttendanceAction.CHECK_IN,
            AttendanceAction.CHECK_OUT,
        ]
