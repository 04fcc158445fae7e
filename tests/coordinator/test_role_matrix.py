"""Every route, every role, own building and other building: each gets the designed answer.

The table below is the design: who may call each route, and whether managers (by building) and
supervisors (by their own assignments) are limited to their side. A route missing from the table
fails the test, so a new route cannot ship without a decision about who may call it.
"""

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from coordinator.db import models as m
from coordinator.db.enums import (
    AssignmentStatus,
    DeviceStatus,
    GateDirection,
    PassApplicationStatus,
    PassStatus,
    Role,
    StudentStatus,
    ViolationStatus,
)
from coordinator.services.audit import SYSTEM, record_change
from coordinator.services.events import RawMessage, ingest
from protocols import Birth, Sender, Severity, ViolationType, encode, topic_for
from tests.coordinator.campus import START, Side
from tests.coordinator.conftest import Api
from tests.coordinator.test_faces_api import photos

A, M, S, T = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.TECHNICIAN
EVERY = (A, M, S, T)
PUBLIC = {  # answered without a token: signing in, and the health check
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/auth/sign-in"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/sign-out"),
    ("POST", "/api/v1/auth/totp/enrol"),
    ("POST", "/api/v1/auth/totp/confirm"),
    ("POST", "/api/v1/auth/password/set"),
    ("POST", "/api/v1/pass-links/{token}/claim"),  # the one-time link's token is the credential
}
_counter = itertools.count(1)

Payload = dict[str, Any] | str | list[Any] | None  # JSON, CSV text, or multipart files
Request = Callable[[Api, Side, Role], tuple[str, Payload]]


@dataclass(frozen=True)
class Cell:
    allowed: tuple[Role, ...]
    request: Request
    scoped: bool = False  # managers and supervisors see only their side
    listed: str | None = None  # for list routes: the attribute of Side that must (not) appear
    in_csv: bool = False  # for exports: the side's room must (not) appear in the text


def _store(api: Api, record: m.Base) -> Any:
    with api.sessions() as session:
        session.add(record)
        session.commit()
        identity = inspect(record).identity
        assert identity is not None
        return identity[0]


def _add(api: Api, record: m.Base) -> int:
    return int(_store(api, record))


def _n() -> int:
    return next(_counter)


def _printable_pass(api: Api, side: Side) -> int:
    """A signed-format pass (its ref a pass id) with an active signing key to print it."""
    from coordinator.bundles.keys import ensure_active_key

    with api.sessions() as session:
        ensure_active_key(session, api.settings.secret_key)
        session.commit()
    return fresh_pass(api, side)


def fresh_pass(api: Api, side: Side, status: PassStatus = PassStatus.ACTIVE) -> int:
    """A pass filed under the side's building, valid for a year from START."""
    student_pass = m.StudentPass(
        pass_ref=f"{_n():032x}",
        student_id=api.campus.student.id,
        building_id=side.building.id,
        zones=["main"],
        valid_from=START,
        valid_until=START + timedelta(days=365),
        status=status,
    )
    return _add(api, student_pass)


def fresh_application(api: Api, side: Side, status: PassApplicationStatus) -> int:
    return _add(
        api,
        m.PassApplication(
            student_id=api.campus.student.id,
            building_id=side.building.id,
            zones=["main"],
            valid_from=START,
            valid_until=START + timedelta(days=365),
            status=status,
        ),
    )


def fresh_time_rule(api: Api, side: Side) -> int:
    return _add(
        api, m.GateTimeRule(gate_id=side.gate.id, weekdays=[1], opens="08:00", closes="18:00")
    )


def fresh_session(api: Api, side: Side) -> int:
    starts = START + timedelta(days=10 + _n())
    return _add(
        api,
        m.ExamSession(
            exam_id=side.session.exam_id,
            room_id=side.room.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
        ),
    )


def fresh_assignment(api: Api, side: Side, status: AssignmentStatus, mine: bool) -> int:
    supervisor = (
        side.supervisor.id
        if mine
        else _add(
            api,
            m.User(
                email=f"s{_n()}@campus.test",
                full_name="S",
                role=Role.SUPERVISOR,
                is_active=True,
                totp_confirmed=False,
            ),
        )
    )
    return _add(
        api,
        m.Assignment(session_id=fresh_session(api, side), supervisor_id=supervisor, status=status),
    )


def fresh_room(api: Api, side: Side) -> int:
    return _add(api, m.Room(building_id=side.building.id, code=f"tmp-{_n()}", name="T", capacity=5))


def fresh_gate(api: Api, side: Side) -> int:
    return _add(
        api,
        m.Gate(
            site_id=side.gate.site_id,
            building_id=side.building.id,
            code=f"tmp-{_n()}",
            name="T",
            zone="z",
            direction=GateDirection.IN,
        ),
    )


def fresh_device(api: Api, side: Side) -> str:
    device_id = f"tmp-{_n()}"
    _store(
        api,
        m.Device(
            id=device_id,
            site_id=side.device.site_id,
            room_id=side.room.id,
            profile="door-station",
            status=DeviceStatus.REGISTERED,
        ),
    )
    return device_id


def fresh_student(api: Api) -> int:
    return _add(
        api, m.Student(student_number=f"T-{_n()}", full_name="T", status=StudentStatus.ACTIVE)
    )


def _url(path: str) -> str:
    return f"/api/v1{path}"


def item(path: str, pick: Callable[[Api, Side], Any]) -> Request:
    return lambda api, side, role: (_url(path.format(pick(api, side))), None)


def body(
    path: str,
    make: Callable[[Api, Side], dict[str, Any]],
    pick: Callable[[Api, Side], Any] | None = None,
) -> Request:
    def request(api: Api, side: Side, role: Role) -> tuple[str, dict[str, Any] | None]:
        target = path.format(pick(api, side)) if pick else path
        return _url(target), make(api, side)

    return request


def listing(path: str) -> Request:
    return lambda api, side, role: (_url(path), None)


def no_building(api: Api, side: Side) -> None:
    return None


def _enrolled(api: Api, side: Side) -> str:
    student = fresh_student(api)
    with api.sessions() as session:
        session.add(m.SessionEnrolment(session_id=side.session.id, student_id=student))
        session.commit()
    return f"{side.session.id}/students/{student}"


def _event(api: Api) -> int:
    sender = Sender("door-a")
    envelope = sender.state(Birth(agent_version="1", profile="door-station"))
    with api.sessions.begin() as session:
        ingest(
            session,
            [RawMessage(topic_for("main", envelope), encode(envelope))],
            site=None,
            max_bytes=65536,
        )
    with api.sessions() as session:
        return int(session.scalars(select(m.Event.id).order_by(m.Event.id.desc())).first() or 0)


def _with_templates(api: Api, side: Side) -> int:
    _add(
        api,
        m.FaceTemplate(user_id=side.supervisor.id, model="face_embedder_fp32", sealed=b"x" * 40),
    )
    return side.supervisor.id


def _rooms_csv(side: Side) -> str:
    header = "site_code,building_code,room_code,name,capacity,latitude,longitude,geofence_radius_m"
    return f"{header}\nmain,{side.building.code},new-{_n()},New room,10,,,\n"


def _open_violation(api: Api, side: Side) -> int:
    return _add(
        api,
        m.ViolationRecord(
            type=ViolationType.TAMPER,
            severity=Severity.LOW,
            status=ViolationStatus.OPEN,
            session_id=side.session.id,
            confidence=1.0,
        ),
    )


def _audit_entry(api: Api) -> int:
    with api.sessions() as session:
        entry = record_change(
            session,
            SYSTEM,
            action="test",
            entity="site",
            entity_id=1,
            before=None,
            after={"seen": True},
        )
        session.commit()
        return entry.id


DESIGN: dict[tuple[str, str], Cell] = {
    ("GET", "/api/v1/me"): Cell(EVERY, listing("/me")),
    ("GET", "/api/v1/events"): Cell((A, T), listing("/events")),
    ("GET", "/api/v1/events/{record_id}"): Cell((A, T), item("/events/{}", lambda a, s: _event(a))),
    ("GET", "/api/v1/dead-letters"): Cell((A, T), listing("/dead-letters")),
    ("GET", "/api/v1/dead-letters/{record_id}"): Cell((A, T), item("/dead-letters/{}", lambda a, s: _add(a, m.DeadLetter(topic="t", body=b"\xff", size=1, reason="r")))),
    ("GET", "/api/v1/sequence-gaps"): Cell((A, T), listing("/sequence-gaps")),
    ("GET", "/api/v1/sequence-gaps/{record_id}"): Cell((A, T), item("/sequence-gaps/{}", lambda a, s: _add(a, m.SequenceGap(device_id="door-1", boot_id=uuid.uuid4(), first_seq=2, last_seq=3, opened_at=START)))),
    ("GET", "/api/v1/device-presence"): Cell((A, T), listing("/device-presence")),
    ("GET", "/api/v1/device-presence/{record_id}"): Cell((A, T), item("/device-presence/{}", lambda a, s: _store(a, m.DevicePresence(device_id=f"p-{_n()}", is_online=True, changed_at=START, last_seen_at=START)))),
    # places
    ("GET", "/api/v1/sites"): Cell((A, M, T), listing("/sites")),
    ("POST", "/api/v1/sites"): Cell((A,), body("/sites", lambda a, s: {"code": f"s-{_n()}", "name": "S", "time_zone": "UTC"})),
    ("GET", "/api/v1/sites/{record_id}"): Cell((A, M, T), item("/sites/{}", lambda a, s: a.campus.site.id)),
    ("PATCH", "/api/v1/sites/{record_id}"): Cell((A,), body("/sites/{}", lambda a, s: {"name": "Renamed"}, lambda a, s: a.campus.site.id)),
    ("DELETE", "/api/v1/sites/{record_id}"): Cell((A,), item("/sites/{}", lambda a, s: _add(a, m.Site(code=f"d-{_n()}", name="D", time_zone="UTC")))),
    ("GET", "/api/v1/buildings"): Cell((A, M, T), listing("/buildings"), scoped=True, listed="building"),
    ("POST", "/api/v1/buildings"): Cell((A,), body("/buildings", lambda a, s: {"site_id": a.campus.site.id, "code": f"b-{_n()}", "name": "B"})),
    ("GET", "/api/v1/buildings/{record_id}"): Cell((A, M, T), item("/buildings/{}", lambda a, s: s.building.id), scoped=True),
    ("PATCH", "/api/v1/buildings/{record_id}"): Cell((A,), body("/buildings/{}", lambda a, s: {"name": "B2"}, lambda a, s: s.building.id)),
    ("DELETE", "/api/v1/buildings/{record_id}"): Cell((A,), item("/buildings/{}", lambda a, s: _add(a, m.Building(site_id=a.campus.site.id, code=f"d-{_n()}", name="D")))),
    ("GET", "/api/v1/rooms"): Cell((A, M, T), listing("/rooms"), scoped=True, listed="room"),
    ("POST", "/api/v1/rooms"): Cell((A, M), body("/rooms", lambda a, s: {"building_id": s.building.id, "code": f"r-{_n()}", "name": "R", "capacity": 9}), scoped=True),
    ("GET", "/api/v1/rooms/{record_id}"): Cell((A, M, T), item("/rooms/{}", lambda a, s: s.room.id), scoped=True),
    ("PATCH", "/api/v1/rooms/{record_id}"): Cell((A, M), body("/rooms/{}", lambda a, s: {"capacity": 31}, lambda a, s: s.room.id), scoped=True),
    ("DELETE", "/api/v1/rooms/{record_id}"): Cell((A, M), item("/rooms/{}", fresh_room), scoped=True),
    ("GET", "/api/v1/gates"): Cell((A, M, T), listing("/gates"), scoped=True, listed="gate"),
    ("POST", "/api/v1/gates"): Cell((A,), body("/gates", lambda a, s: {"site_id": a.campus.site.id, "building_id": s.building.id, "code": f"g-{_n()}", "name": "G", "zone": "z", "direction": "in"})),
    ("GET", "/api/v1/gates/{record_id}"): Cell((A, M, T), item("/gates/{}", lambda a, s: s.gate.id), scoped=True),
    ("PATCH", "/api/v1/gates/{record_id}"): Cell((A,), body("/gates/{}", lambda a, s: {"zone": "y"}, lambda a, s: s.gate.id)),
    ("DELETE", "/api/v1/gates/{record_id}"): Cell((A,), item("/gates/{}", fresh_gate)),
    ("GET", "/api/v1/devices"): Cell((A, M, T), listing("/devices"), scoped=True, listed="device"),
    ("POST", "/api/v1/devices"): Cell((A, T), body("/devices", lambda a, s: {"id": f"new-{_n()}", "site_id": a.campus.site.id, "room_id": s.room.id, "profile": "door-station"})),
    ("GET", "/api/v1/devices/{record_id}"): Cell((A, M, T), item("/devices/{}", lambda a, s: s.device.id), scoped=True),
    ("PATCH", "/api/v1/devices/{record_id}"): Cell((A, T), body("/devices/{}", lambda a, s: {"status": "active"}, lambda a, s: s.device.id)),
    ("DELETE", "/api/v1/devices/{record_id}"): Cell((A, T), item("/devices/{}", fresh_device)),
    # people
    ("GET", "/api/v1/users"): Cell((A, M), listing("/users")),
    ("POST", "/api/v1/users"): Cell((A,), body("/users", lambda a, s: {"email": f"u{_n()}@campus.test", "full_name": "U", "role": "supervisor"})),
    ("GET", "/api/v1/users/{record_id}"): Cell((A, M), item("/users/{}", lambda a, s: s.supervisor.id)),
    ("PATCH", "/api/v1/users/{record_id}"): Cell((A,), body("/users/{}", lambda a, s: {"full_name": "Renamed"}, lambda a, s: s.supervisor.id)),
    ("POST", "/api/v1/users/{user_id}/invite"): Cell((A, M), item("/users/{}/invite", lambda a, s: s.supervisor.id), scoped=True),
    ("POST", "/api/v1/users/{user_id}/reset-password"): Cell((A,), item("/users/{}/reset-password", lambda a, s: s.supervisor.id)),
    ("POST", "/api/v1/users/{user_id}/reset-second-factor"): Cell((A,), item("/users/{}/reset-second-factor", lambda a, s: s.supervisor.id)),
    ("GET", "/api/v1/students"): Cell((A, M), listing("/students")),
    ("POST", "/api/v1/students"): Cell((A, M), body("/students", lambda a, s: {"student_number": f"N-{_n()}", "full_name": "N"})),
    ("GET", "/api/v1/students/{record_id}"): Cell((A, M), item("/students/{}", lambda a, s: a.campus.student.id)),
    ("PATCH", "/api/v1/students/{record_id}"): Cell((A, M), body("/students/{}", lambda a, s: {"full_name": "Ada S."}, lambda a, s: a.campus.student.id)),
    ("DELETE", "/api/v1/students/{record_id}"): Cell((A, M), item("/students/{}", lambda a, s: fresh_student(a))),
    ("GET", "/api/v1/cards"): Cell((A,), listing("/cards")),
    ("POST", "/api/v1/cards"): Cell((A,), body("/cards", lambda a, s: {"uid": f"04:{_n():06X}", "student_id": a.campus.student.id})),
    ("GET", "/api/v1/cards/{record_id}"): Cell((A,), item("/cards/{}", lambda a, s: a.campus.card.id)),
    ("PATCH", "/api/v1/cards/{record_id}"): Cell((A,), body("/cards/{}", lambda a, s: {"label": "blue"}, lambda a, s: a.campus.card.id)),
    ("DELETE", "/api/v1/cards/{record_id}"): Cell((A,), item("/cards/{}", lambda a, s: _add(a, m.CardCredential(uid_hash=f"{_n():064d}", student_id=a.campus.student.id, is_active=True)))),
    # exams
    ("GET", "/api/v1/exams"): Cell((A, M), listing("/exams")),
    ("POST", "/api/v1/exams"): Cell((A, M), body("/exams", lambda a, s: {"code": f"e-{_n()}", "title": "E"})),
    ("GET", "/api/v1/exams/{record_id}"): Cell((A, M), item("/exams/{}", lambda a, s: a.campus.exam.id)),
    ("PATCH", "/api/v1/exams/{record_id}"): Cell((A, M), body("/exams/{}", lambda a, s: {"title": "Maths"}, lambda a, s: _add(a, m.Exam(code=f"p-{_n()}", title="P")))),
    ("DELETE", "/api/v1/exams/{record_id}"): Cell((A, M), item("/exams/{}", lambda a, s: _add(a, m.Exam(code=f"d-{_n()}", title="D")))),
    ("GET", "/api/v1/exam-sessions"): Cell((A, M, S), listing("/exam-sessions"), scoped=True, listed="session"),
    ("POST", "/api/v1/exam-sessions"): Cell((A, M), body("/exam-sessions", lambda a, s: {"exam_id": a.campus.exam.id, "room_id": s.room.id, "starts_at": (START + timedelta(days=400 + _n())).isoformat(), "ends_at": (START + timedelta(days=401 + _n())).isoformat()}), scoped=True),
    ("GET", "/api/v1/exam-sessions/{record_id}"): Cell((A, M, S), item("/exam-sessions/{}", lambda a, s: s.session.id), scoped=True),
    ("PATCH", "/api/v1/exam-sessions/{record_id}"): Cell((A, M), body("/exam-sessions/{}", lambda a, s: {"room_id": s.room.id}, lambda a, s: s.session.id), scoped=True),
    ("DELETE", "/api/v1/exam-sessions/{record_id}"): Cell((A, M), item("/exam-sessions/{}", fresh_session), scoped=True),
    ("GET", "/api/v1/exam-sessions/{session_id}/students"): Cell((A, M), item("/exam-sessions/{}/students", lambda a, s: s.session.id), scoped=True),
    ("POST", "/api/v1/exam-sessions/{session_id}/students"): Cell((A, M), body("/exam-sessions/{}/students", lambda a, s: {"student_id": fresh_student(a)}, lambda a, s: s.session.id), scoped=True),
    ("DELETE", "/api/v1/exam-sessions/{session_id}/students/{student_id}"): Cell((A, M), item("/exam-sessions/{}", _enrolled), scoped=True),
    ("GET", "/api/v1/assignments"): Cell((A, M, S), listing("/assignments"), scoped=True, listed="assignment"),
    ("POST", "/api/v1/assignments"): Cell((A, M), body("/assignments", lambda a, s: {"session_id": fresh_session(a, s), "supervisor_id": s.supervisor.id}), scoped=True),
    ("GET", "/api/v1/assignments/{record_id}"): Cell((A, M, S), item("/assignments/{}", lambda a, s: s.assignment.id), scoped=True),
    ("PATCH", "/api/v1/assignments/{assignment_id}"): Cell((A, M), body("/assignments/{}", lambda a, s: {"status": "absent"}, lambda a, s: fresh_assignment(a, s, AssignmentStatus.PROPOSED, mine=False)), scoped=True),
    ("DELETE", "/api/v1/assignments/{record_id}"): Cell((A, M), item("/assignments/{}", lambda a, s: fresh_assignment(a, s, AssignmentStatus.PROPOSED, mine=False)), scoped=True),
    ("POST", "/api/v1/assignments/{assignment_id}/attendance"): Cell((A, M), body("/assignments/{}/attendance", lambda a, s: {"action": "check_in", "at": "2026-12-01T09:00:00Z", "reason": "reader broken"}, lambda a, s: fresh_assignment(a, s, AssignmentStatus.ACCEPTED, mine=False)), scoped=True),
    ("POST", "/api/v1/assignments/{assignment_id}/accept"): Cell((S,), item("/assignments/{}/accept", lambda a, s: fresh_assignment(a, s, AssignmentStatus.PROPOSED, mine=True)), scoped=True),
    ("POST", "/api/v1/assignments/{assignment_id}/decline"): Cell((S,), item("/assignments/{}/decline", lambda a, s: fresh_assignment(a, s, AssignmentStatus.PROPOSED, mine=True)), scoped=True),
    # what happened
    ("GET", "/api/v1/violations"): Cell((A, M, S), listing("/violations"), scoped=True, listed="violation"),
    ("POST", "/api/v1/violations"): Cell((A, M, S), body("/violations", lambda a, s: {"type": "tamper", "severity": "low", "session_id": s.session.id, "detail": "x"}), scoped=True),
    ("GET", "/api/v1/violations/{record_id}"): Cell((A, M, S), item("/violations/{}", lambda a, s: s.violation.id), scoped=True),
    ("POST", "/api/v1/violations/{violation_id}/review"): Cell((A, M), body("/violations/{}/review", lambda a, s: {"status": "acknowledged"}, _open_violation), scoped=True),
    ("GET", "/api/v1/attendance"): Cell((A, M, S), listing("/attendance"), scoped=True, listed="attendance"),
    ("GET", "/api/v1/attendance/{record_id}"): Cell((A, M, S), item("/attendance/{}", lambda a, s: s.attendance.id), scoped=True),
    ("GET", "/api/v1/attempts"): Cell((A, M, T), listing("/attempts"), scoped=True, listed="attempt"),
    ("GET", "/api/v1/attempts/{record_id}"): Cell((A, M, T), item("/attempts/{}", lambda a, s: s.attempt.id), scoped=True),
    ("GET", "/api/v1/access-logs"): Cell((A, M), listing("/access-logs"), scoped=True, listed="access_log"),
    ("GET", "/api/v1/access-logs/{record_id}"): Cell((A, M), item("/access-logs/{}", lambda a, s: s.access_log.id), scoped=True),
    ("GET", "/api/v1/passes"): Cell((A, M), listing("/passes"), scoped=True, listed="student_pass"),
    ("POST", "/api/v1/passes"): Cell((A,), body("/passes", lambda a, s: {"student_id": a.campus.student.id, "zones": ["main"], "valid_from": START.isoformat(), "valid_until": (START + timedelta(days=1)).isoformat()})),
    ("GET", "/api/v1/passes/{record_id}"): Cell((A, M), item("/passes/{}", fresh_pass), scoped=True),
    ("GET", "/api/v1/passes/{pass_id}/qr.png"): Cell((A, M), item("/passes/{}/qr.png", _printable_pass), scoped=True),
    ("GET", "/api/v1/passes/{pass_id}/print.pdf"): Cell((A, M), item("/passes/{}/print.pdf", _printable_pass), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/link"): Cell((A, M), body("/passes/{}/link", lambda a, s: {}, _printable_pass), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/revoke"): Cell((A, M), body("/passes/{}/revoke", lambda a, s: {"reason": "lost"}, fresh_pass), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/suspend"): Cell((A, M), body("/passes/{}/suspend", lambda a, s: {"reason": "fees unpaid"}, fresh_pass), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/resume"): Cell((A, M), body("/passes/{}/resume", lambda a, s: {"reason": "fees paid"}, lambda a, s: fresh_pass(a, s, PassStatus.SUSPENDED)), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/expire"): Cell((A, M), body("/passes/{}/expire", lambda a, s: {"reason": "left the course"}, fresh_pass), scoped=True),
    ("POST", "/api/v1/passes/{pass_id}/reissue"): Cell((A, M), body("/passes/{}/reissue", lambda a, s: {"reason": "lost"}, fresh_pass), scoped=True),
    ("GET", "/api/v1/pass-applications"): Cell((A, M), listing("/pass-applications"), scoped=True, listed="pass_application"),
    ("POST", "/api/v1/pass-applications"): Cell((A, M), body("/pass-applications", lambda a, s: {"student_id": a.campus.student.id, "building_id": s.building.id, "zones": ["main"], "valid_from": START.isoformat(), "valid_until": (START + timedelta(days=30)).isoformat()}), scoped=True),
    ("GET", "/api/v1/pass-applications/{record_id}"): Cell((A, M), item("/pass-applications/{}", lambda a, s: fresh_application(a, s, PassApplicationStatus.DRAFT)), scoped=True),
    ("PATCH", "/api/v1/pass-applications/{record_id}"): Cell((A, M), body("/pass-applications/{}", lambda a, s: {"zones": ["main"]}, lambda a, s: fresh_application(a, s, PassApplicationStatus.DRAFT)), scoped=True),
    ("POST", "/api/v1/pass-applications/{application_id}/submit"): Cell((A, M), item("/pass-applications/{}/submit", lambda a, s: fresh_application(a, s, PassApplicationStatus.DRAFT)), scoped=True),
    ("POST", "/api/v1/pass-applications/{application_id}/approve"): Cell((A, M), item("/pass-applications/{}/approve", lambda a, s: fresh_application(a, s, PassApplicationStatus.SUBMITTED)), scoped=True),
    ("POST", "/api/v1/pass-applications/{application_id}/reject"): Cell((A, M), body("/pass-applications/{}/reject", lambda a, s: {"reason": "not enrolled"}, lambda a, s: fresh_application(a, s, PassApplicationStatus.SUBMITTED)), scoped=True),
    ("GET", "/api/v1/gate-time-rules"): Cell((A, M, T), listing("/gate-time-rules"), scoped=True, listed="time_rule"),
    ("POST", "/api/v1/gate-time-rules"): Cell((A, M), body("/gate-time-rules", lambda a, s: {"gate_id": s.gate.id, "weekdays": [1, 2], "opens": "07:00", "closes": "19:00"}), scoped=True),
    ("GET", "/api/v1/gate-time-rules/{record_id}"): Cell((A, M, T), item("/gate-time-rules/{}", fresh_time_rule), scoped=True),
    ("PATCH", "/api/v1/gate-time-rules/{record_id}"): Cell((A, M), body("/gate-time-rules/{}", lambda a, s: {"closes": "20:00"}, fresh_time_rule), scoped=True),
    ("DELETE", "/api/v1/gate-time-rules/{record_id}"): Cell((A, M), item("/gate-time-rules/{}", fresh_time_rule), scoped=True),
    ("GET", "/api/v1/audit"): Cell((A,), listing("/audit")),
    ("POST", "/api/v1/users/{user_id}/face-templates"): Cell((A,), lambda a, s, r: (f"/api/v1/users/{s.supervisor.id}/face-templates", photos((0, 0), (12, 8), (6, 20)))),
    ("GET", "/api/v1/users/{user_id}/face-templates"): Cell((A,), item("/users/{}/face-templates", _with_templates)),
    ("DELETE", "/api/v1/users/{user_id}/face-templates"): Cell((A,), item("/users/{}/face-templates", lambda a, s: s.supervisor.id)),
    ("GET", "/api/v1/face-templates/re-enrol"): Cell((A,), listing("/face-templates/re-enrol")),
    ("POST", "/api/v1/import/{kind}"): Cell((A, M), lambda a, s, r: ("/api/v1/import/rooms?dry_run=true", _rooms_csv(s)), scoped=True),
    ("GET", "/api/v1/export/{kind}"): Cell((A, M), listing("/export/rooms"), scoped=True, in_csv=True),
    ("GET", "/api/v1/audit/{record_id}"): Cell((A,), item("/audit/{}", lambda a, s: _audit_entry(a))),
    ("GET", "/api/v1/sync"): Cell((A, M, T), listing("/sync")),
    ("GET", "/api/v1/devices/{device_id}/sync"): Cell((A, M, T), item("/devices/{}/sync", lambda a, s: s.device.id), scoped=True),
    ("POST", "/api/v1/devices/{device_id}/commands"): Cell((A, M, T), body("/devices/{}/commands", lambda a, s: {"name": "open", "reason": "let the cleaner in"}, lambda a, s: s.device.id), scoped=True),
    ("GET", "/api/v1/devices/{device_id}/commands"): Cell((A, M, T), item("/devices/{}/commands", lambda a, s: s.device.id), scoped=True),
}  # fmt: skip
SELF_SCOPED = {  # everyone may call these, and each person sees only their own
    ("GET", "/api/v1/notifications"),
    ("POST", "/api/v1/notifications/{notification_id}/read"),
    ("POST", "/api/v1/auth/password"),
}


def _routes(api: Api) -> set[tuple[str, str]]:
    spec = api.client.get("/api/v1/openapi.json").json()
    return {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }


def test_every_route_has_a_designed_answer(sqlite_api: Api) -> None:
    undecided = _routes(sqlite_api) - set(DESIGN) - PUBLIC - SELF_SCOPED
    assert undecided == set(), f"add these routes to the role matrix: {sorted(undecided)}"
    assert set(DESIGN) <= _routes(sqlite_api), "the matrix names routes that do not exist"


def _expected(cell: Cell, role: Role, own: bool) -> int | str:
    if role not in cell.allowed:
        return 403
    if cell.scoped and not own and role in (M, S):
        return "hidden"
    return "ok"


@pytest.mark.parametrize(("method", "path"), sorted(DESIGN))
def test_role_matrix(sqlite_api: Api, method: str, path: str) -> None:
    cell = DESIGN[(method, path)]
    api = sqlite_api
    answers = {}
    for role, own in itertools.product(EVERY, (True, False)):
        # Supervisors' "own side" is their building's side too: supervisor-a works in building A.
        side = api.campus.own if own else api.campus.other
        url, payload = cell.request(api, side, role)
        if isinstance(payload, str):
            headers = api.as_(role) | {"Content-Type": "text/csv"}
            response = api.client.request(method, url, content=payload, headers=headers)
        elif isinstance(payload, list):
            response = api.client.request(method, url, files=payload, headers=api.as_(role))
        else:
            response = api.client.request(method, url, json=payload, headers=api.as_(role))
        answers[(role.value, "own" if own else "other")] = _judge(cell, side, response)
        expected = _expected(cell, role, own)
        assert answers[(role.value, "own" if own else "other")] == expected, (
            f"{method} {path} as {role.value} ({'own' if own else 'other'} building): "
            f"{response.status_code} {response.text[:300]}"
        )


def _judge(cell: Cell, side: Side, response: Any) -> int | str:
    if response.status_code in (401, 403):
        return int(response.status_code)
    if response.status_code == 404 or (
        response.status_code == 422 and response.json().get("code") == "csv_rejected"
    ):
        return "hidden"  # a CSV row outside one's buildings is refused like a missing one
    assert response.status_code in (200, 201, 204), response.text[:300]
    if cell.in_csv:
        return "ok" if f",{side.room.code}," in response.text else "hidden"
    if cell.listed and response.status_code == 200:
        ids = {item["id"] for item in response.json()["items"]}
        return "ok" if getattr(side, cell.listed).id in ids else "hidden"
    return "ok"


def test_self_scoped_routes_show_only_ones_own(sqlite_api: Api) -> None:
    api = sqlite_api
    for role in EVERY:
        mine = _add(api, m.Notification(user_id=api.campus.user(role).id, message="yours"))
        theirs = _add(
            api, m.Notification(user_id=api.campus.other.supervisor.id, message="not yours")
        )
        listed = api.client.get("/api/v1/notifications", headers=api.as_(role)).json()["items"]
        assert mine in {n["id"] for n in listed} and theirs not in {n["id"] for n in listed}
        read = api.client.post(f"/api/v1/notifications/{mine}/read", headers=api.as_(role))
        assert read.status_code == 200 and read.json()["read_at"]
        hidden = api.client.post(f"/api/v1/notifications/{theirs}/read", headers=api.as_(role))
        assert hidden.status_code == 404


def test_without_a_token_every_private_route_is_401(sqlite_api: Api) -> None:
    for method, path in sorted(DESIGN) + sorted(SELF_SCOPED):
        url = "/" + path.strip("/").replace("{record_id}", "1").replace("{session_id}", "1")
        for name in (
            "assignment_id",
            "violation_id",
            "pass_id",
            "notification_id",
            "student_id",
            "application_id",
        ):
            url = url.replace("{" + name + "}", "1")
        response = sqlite_api.client.request(method, url, json={})
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.json()["code"] == "not_authenticated"


MATRIX_DOC = Path(__file__).resolve().parents[2] / "docs" / "role-matrix.md"
MATRIX_INTRO = """# Who may do what

Generated from the design table in `tests/coordinator/test_role_matrix.py`, which the tests
enforce route by route (`python -m tests.coordinator.test_role_matrix` rewrites this page).

- **yes**: allowed everywhere. **own**: managers only for their buildings, supervisors only for
  their own assignments and exam sessions; anything else answers 404, exactly as for an object
  that does not exist, so nobody learns what other buildings hold. **—**: 403.
- Everyone may read and mark their own notifications, `GET /me` and change their own
  password (`POST /auth/password`). Sign-in routes, setting a password through an invite or
  reset link, claiming a phone pass through its one-time link (`POST /pass-links/{token}/claim`)
  and `GET /health` need no token. Without a token every other route answers 401.

"""


def render_matrix() -> str:
    lines = ["| route | admin | manager | supervisor | technician |", "|---|---|---|---|---|"]
    for (method, path), cell in sorted(DESIGN.items(), key=lambda item: (item[0][1], item[0][0])):
        answers = []
        for role in EVERY:
            if role not in cell.allowed:
                answers.append("—")
            elif cell.scoped and role in (M, S):
                answers.append("own")
            else:
                answers.append("yes")
        lines.append(f"| `{method} {path.removeprefix('/api/v1')}` | " + " | ".join(answers) + " |")
    return MATRIX_INTRO + "\n".join(lines) + "\n"


def test_the_role_matrix_page_matches_the_design() -> None:
    assert MATRIX_DOC.read_text(encoding="utf-8") == render_matrix(), (
        "run `python -m tests.coordinator.test_role_matrix`"
    )


if __name__ == "__main__":
    MATRIX_DOC.write_text(render_matrix(), encoding="utf-8")
