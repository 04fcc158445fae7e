"""The campus domain through the API, on SQLite and PostgreSQL: rules, life cycles, audit."""

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select, text

from coordinator.core.keys import card_uid_hash
from coordinator.db import models as m
from coordinator.db.enums import Role
from tests.coordinator.campus import START
from tests.coordinator.conftest import Api

A, M, S = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR


def _audit(api: Api, entity: str) -> list[m.AuditEntry]:
    with api.sessions() as session:
        query = select(m.AuditEntry).where(m.AuditEntry.entity == entity).order_by(m.AuditEntry.id)
        return list(session.scalars(query))


def test_a_change_is_audited_with_who_what_before_after_and_where(api: Api) -> None:
    headers = api.as_(M) | {"User-Agent": "console-test/1.0"}
    room = api.campus.own.room
    response = api.client.patch(f"/api/v1/rooms/{room.id}", json={"capacity": 42}, headers=headers)
    assert response.status_code == 200 and response.json()["capacity"] == 42
    [entry] = _audit(api, "room")
    assert (entry.actor_id, entry.actor, entry.action) == (
        api.campus.manager.id,
        "manager@campus.test",
        "update",
    )
    assert entry.before and entry.after
    assert (entry.before["capacity"], entry.after["capacity"]) == (30, 42)
    assert entry.user_agent == "console-test/1.0" and entry.address
    assert entry.entity_id == str(room.id)


def test_an_unchanged_update_writes_no_audit_entry(api: Api) -> None:
    room = api.campus.own.room
    api.client.patch(f"/api/v1/rooms/{room.id}", json={"capacity": 30}, headers=api.as_(A))
    assert _audit(api, "room") == []


def test_the_audit_log_has_no_write_routes(api: Api) -> None:
    entry_url = "/api/v1/audit/1"
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert api.client.request(method, entry_url, headers=api.as_(A)).status_code == 405
    assert api.client.post("/api/v1/audit", json={}, headers=api.as_(A)).status_code == 405


def _verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "audit", "verify", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_audit_verify_detects_an_edited_and_a_deleted_row(api: Api, database_url: str) -> None:
    for capacity in (31, 32, 33):
        api.client.patch(
            f"/api/v1/rooms/{api.campus.own.room.id}",
            json={"capacity": capacity},
            headers=api.as_(A),
        )
    intact = _verify(database_url)
    assert intact.returncode == 0 and "audit log intact: 3 entries" in intact.stdout
    first, second, _ = _audit(api, "room")
    with api.sessions() as session:
        session.execute(
            text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :id"), {"id": second.id}
        )
        session.commit()
    edited = _verify(database_url)
    assert edited.returncode == 1
    assert f"BROKEN at entry {second.id}: its content was changed" in edited.stderr
    with api.sessions() as session:
        session.execute(
            text("UPDATE audit_log SET actor = :actor WHERE id = :id"),
            {"actor": second.actor, "id": second.id},
        )
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": first.id})
        session.commit()
    deleted = _verify(database_url)
    assert deleted.returncode == 1
    assert (
        f"BROKEN at entry {second.id}: the entry before it was changed or deleted" in deleted.stderr
    )


def _session_at(api: Api, side_room: int, start_hours: float, hours: float) -> int:
    starts = START + timedelta(days=50, hours=start_hours)
    response = api.client.post(
        "/api/v1/exam-sessions",
        headers=api.as_(A),
        json={
            "exam_id": api.campus.exam.id,
            "room_id": side_room,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=hours)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_supervisor_cannot_hold_two_overlapping_assignments(api: Api) -> None:
    supervisor = api.campus.own.supervisor.id
    morning = _session_at(api, api.campus.own.room.id, 9, 2)
    overlapping = _session_at(api, api.campus.other.room.id, 10, 2)
    afterwards = _session_at(api, api.campus.other.room.id, 12, 1)  # touching is not overlapping
    first = api.client.post(
        "/api/v1/assignments",
        headers=api.as_(A),
        json={"session_id": morning, "supervisor_id": supervisor},
    )
    assert first.status_code == 201
    clash = api.client.post(
        "/api/v1/assignments",
        headers=api.as_(A),
        json={"session_id": overlapping, "supervisor_id": supervisor},
    )
    assert clash.status_code == 409
    held = first.json()["id"]
    assert clash.json()["message"] == (
        f"supervisor {supervisor} already holds assignment {held} at an overlapping time"
    )
    assert (
        api.client.post(
            "/api/v1/assignments",
            headers=api.as_(A),
            json={"session_id": afterwards, "supervisor_id": supervisor},
        ).status_code
        == 201
    )
    # Once declined, the first no longer holds the time.
    declined = api.client.post(
        f"/api/v1/assignments/{first.json()['id']}/decline", headers=api.as_(S)
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert (
        api.client.post(
            "/api/v1/assignments",
            headers=api.as_(A),
            json={"session_id": overlapping, "supervisor_id": supervisor},
        ).status_code
        == 201
    )
    # ...and cannot be proposed again while the other holds it.
    again = api.client.patch(
        f"/api/v1/assignments/{first.json()['id']}", headers=api.as_(A), json={"status": "proposed"}
    )
    assert again.status_code == 409


def test_moving_a_session_onto_a_supervisors_other_session_is_refused(api: Api) -> None:
    own, other = api.campus.own, api.campus.other
    api.client.post(
        "/api/v1/assignments",
        headers=api.as_(A),
        json={"session_id": other.session.id, "supervisor_id": own.supervisor.id},
    )
    moved = api.client.patch(
        f"/api/v1/exam-sessions/{own.session.id}",
        headers=api.as_(A),
        json={
            "starts_at": other.session.starts_at.isoformat(),
            "ends_at": other.session.ends_at.isoformat(),
        },
    )
    assert moved.status_code == 409
    assert f"supervisor {own.supervisor.id} would overlap" in moved.json()["message"]


def test_only_supervisors_are_assigned(api: Api) -> None:
    response = api.client.post(
        "/api/v1/assignments",
        headers=api.as_(A),
        json={"session_id": api.campus.own.session.id, "supervisor_id": api.campus.manager.id},
    )
    assert (
        response.status_code == 409 and "is not an active supervisor" in response.json()["message"]
    )


def test_the_assignment_life_cycle(api: Api) -> None:
    assignment = api.campus.own.assignment.id
    url = f"/api/v1/assignments/{assignment}"
    assert api.client.post(f"{url}/accept", headers=api.as_(S)).json()["status"] == "accepted"
    twice = api.client.post(f"{url}/accept", headers=api.as_(S))
    assert (
        twice.status_code == 409
        and twice.json()["message"] == "this assignment is accepted, not proposed"
    )
    by_hand = api.client.patch(url, headers=api.as_(M), json={"status": "checked_in"})
    assert by_hand.status_code == 409
    assert by_hand.json()["fields"] == [
        {
            "field": "status",
            "message": "checked_in is set by the door station, or by an override with a reason",
        }
    ]
    arrived = START + timedelta(minutes=-5)
    override = {"action": "check_in", "at": arrived.isoformat(), "reason": "reader broken"}
    checked_in = api.client.post(f"{url}/attendance", headers=api.as_(M), json=override)
    assert checked_in.status_code == 200 and checked_in.json()["status"] == "checked_in"
    assert checked_in.json()["checked_in_at"] == arrived.isoformat().replace("+00:00", "Z")
    backwards = api.client.patch(url, headers=api.as_(M), json={"status": "proposed"})
    assert backwards.status_code == 409
    assert backwards.json()["message"] == "the supervisor is already checked_in: leave it so"
    unexplained = api.client.post(
        f"{url}/attendance", headers=api.as_(M), json=override | {"reason": ""}
    )
    assert unexplained.status_code == 422
    left = override | {"action": "check_out", "at": (START + timedelta(hours=2)).isoformat()}
    assert api.client.post(f"{url}/attendance", headers=api.as_(M), json=left).status_code == 200
    entries = _audit(api, "assignment")
    assert [entry.action for entry in entries] == [
        "status:accepted",
        "override:check_in",
        "override:check_out",
    ]
    assert entries[1].after is not None and entries[1].after["reason"] == "reader broken"


def test_violation_report_and_review(api: Api) -> None:
    reported = api.client.post(
        "/api/v1/violations",
        headers=api.as_(S),
        json={
            "type": "tamper",
            "severity": "high",
            "session_id": api.campus.own.session.id,
            "detail": "seal on the exam papers broken",
        },
    )
    assert reported.status_code == 201 and reported.json()["status"] == "open"
    url = f"/api/v1/violations/{reported.json()['id']}/review"
    assert (
        api.client.post(url, headers=api.as_(M), json={"status": "acknowledged"}).status_code == 200
    )
    resolved = api.client.post(
        url, headers=api.as_(M), json={"status": "resolved", "notes": "new papers"}
    )
    assert (
        resolved.json()["status"] == "resolved"
        and resolved.json()["reviewer_id"] == api.campus.manager.id
    )
    reopened = api.client.post(url, headers=api.as_(M), json={"status": "open"})
    assert reopened.status_code == 409


def test_card_uids_are_stored_only_as_keyed_hashes(api: Api) -> None:
    response = api.client.post(
        "/api/v1/cards",
        headers=api.as_(A),
        json={"uid": "04:a1:b2:c3", "user_id": api.campus.own.supervisor.id, "label": "staff card"},
    )
    assert response.status_code == 201 and "uid" not in response.json()
    with api.sessions() as session:
        stored = session.get(m.CardCredential, response.json()["id"])
        assert stored is not None
        assert stored.uid_hash == card_uid_hash(api.settings.secret_key, "04A1B2C3")
    [entry] = _audit(api, "card")
    assert entry.after is not None and entry.after["uid_hash"] == stored.uid_hash


def test_errors_name_the_field_in_one_body_shape(api: Api) -> None:
    response = api.client.post(
        "/api/v1/sites",
        headers=api.as_(A),
        json={"code": "North Campus", "name": "", "time_zone": "Mars/Olympus", "colour": "red"},
    )
    body = response.json()
    assert response.status_code == 422 and body["code"] == "invalid_input"
    fields = {error["field"]: error["message"] for error in body["fields"]}
    assert set(fields) == {"code", "name", "time_zone", "colour"}
    assert "unknown time zone 'Mars/Olympus'" in fields["time_zone"]
    assert fields["colour"] == "Extra inputs are not permitted"


def test_a_missing_reference_is_named(api: Api) -> None:
    response = api.client.post(
        "/api/v1/rooms",
        headers=api.as_(A),
        json={"building_id": 9999, "code": "r-x", "name": "X", "capacity": 3},
    )
    assert (
        response.status_code == 404
        and response.json()["message"] == "building_id 9999 does not exist"
    )


def test_a_duplicate_is_a_conflict(api: Api) -> None:
    response = api.client.post(
        "/api/v1/rooms",
        headers=api.as_(A),
        json={
            "building_id": api.campus.own.building.id,
            "code": "r-a",
            "name": "Again",
            "capacity": 3,
        },
    )
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_managers_are_scoped_to_buildings_given_by_an_admin(api: Api) -> None:
    created = api.client.post(
        "/api/v1/users",
        headers=api.as_(A),
        json={
            "email": "New.Manager@Campus.test",
            "full_name": "New Manager",
            "role": "manager",
            "building_ids": [api.campus.other.building.id],
        },
    )
    assert created.status_code == 201
    assert created.json()["email"] == "new.manager@campus.test"
    assert created.json()["building_ids"] == [api.campus.other.building.id]
    wrong = api.client.post(
        "/api/v1/users",
        headers=api.as_(A),
        json={
            "email": "s@campus.test",
            "full_name": "S",
            "role": "supervisor",
            "building_ids": [1],
        },
    )
    assert wrong.status_code == 409 and "only managers are scoped" in wrong.json()["message"]


def test_list_filters_and_pages(api: Api) -> None:
    sessions = api.client.get(
        "/api/v1/exam-sessions",
        headers=api.as_(A),
        params={"starts_after": (START + timedelta(hours=12)).isoformat(), "limit": 1},
    ).json()
    assert sessions["total"] == 1 and sessions["items"][0]["id"] == api.campus.other.session.id
    rooms = api.client.get(
        "/api/v1/rooms", headers=api.as_(A), params={"limit": 1, "offset": 1}
    ).json()
    assert (rooms["total"], len(rooms["items"])) == (2, 1)


def test_ids_beyond_the_database_range_are_refused_as_input(api: Api) -> None:
    """Found by schemathesis: 2**63 used to reach SQL and fail there with a 500."""
    too_big = 2**63
    for url, params in (
        (f"/api/v1/sites/{too_big}", {}),
        ("/api/v1/rooms", {"offset": too_big}),
        ("/api/v1/rooms", {"building_id": too_big}),
    ):
        response = api.client.get(url, params=params, headers=api.as_(A))
        assert response.status_code == 422, (url, response.text)


def test_moving_a_record_to_a_missing_reference_is_named(api: Api) -> None:
    """Found by schemathesis: an autoflush used to hit the foreign key before the check."""
    url = f"/api/v1/exam-sessions/{api.campus.own.session.id}"
    response = api.client.patch(url, json={"room_id": 9999}, headers=api.as_(A))
    assert (
        response.status_code == 404 and response.json()["message"] == "room_id 9999 does not exist"
    )


def test_emails_with_unusual_whitespace_are_refused_consistently(api: Api) -> None:
    """Found by schemathesis: Python's \\s and JSON Schema's \\s disagreed on U+0085."""
    response = api.client.post(
        "/api/v1/users",
        headers=api.as_(A),
        json={"email": "a\u0085b@campus.test", "full_name": "X", "role": "supervisor"},
    )
    assert response.status_code == 422 and response.json()["fields"][0]["field"] == "email"
