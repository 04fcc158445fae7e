"""A pass's life: application (draft, submitted, approved or rejected), then suspend, resume,
revoke, expire and reissue; who may do each; the audit trail; what the gates' bundles carry."""

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.deps import get_clock
from coordinator.db import models as m
from coordinator.db.enums import (
    DeviceStatus,
    GateDirection,
    PassApplicationStatus,
    PassStatus,
    Role,
)
from coordinator.errors import ConflictError
from coordinator.services import pass_applications
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope
from edge_agent.stations.gate_book import gate_book
from protocols import Direction
from protocols.bundle import Bundle
from tests.coordinator.campus import START, build_campus
from tests.coordinator.conftest import Api
from tests.coordinator.test_downlink import FakePublisher, _builder, _bundle_from, _register_key
from tests.coordinator.test_overlap_concurrency import WAIT_SECONDS, _waits_for_a_lock
from tests.coordinator.test_role_matrix import fresh_pass

A, M, T = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN
BERLIN = ZoneInfo("Europe/Berlin")
URL = "/api/v1"
WINDOW = {
    "valid_from": START.isoformat(),
    "valid_until": (START + timedelta(days=30)).isoformat(),
}


NOW = START + timedelta(days=1)


@pytest.fixture(autouse=True)
def _fixed_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """The API's clock stands at NOW, so the passes' fixed dates stay valid whenever this runs."""
    name = next((n for n in ("api", "sqlite_api") if n in request.fixturenames), None)
    if name is None:
        yield
        return
    app = request.getfixturevalue(name).client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    yield
    app.dependency_overrides.pop(get_clock, None)


def _call(api: Api, method: str, path: str, role: Role = M, **body: Any) -> Any:
    return api.client.request(method, URL + path, json=body or None, headers=api.as_(role))


def _application(api: Api, role: Role = M, **changes: Any) -> Any:
    body = {
        "student_id": api.campus.student.id,
        "building_id": api.campus.own.building.id,
        "zones": ["main"],
        **WINDOW,
        **changes,
    }
    return _call(api, "POST", "/pass-applications", role, **body)


def _audit(api: Api, entity: str, entity_id: object) -> list[str]:
    with api.sessions() as session:
        return list(
            session.scalars(
                select(m.AuditEntry.action)
                .where(m.AuditEntry.entity == entity, m.AuditEntry.entity_id == str(entity_id))
                .order_by(m.AuditEntry.id)
            )
        )


def _gate_device(api: Api, gate: m.Gate, device_id: str) -> str:
    with api.sessions() as session:
        session.add(
            m.Device(
                id=device_id,
                site_id=gate.site_id,
                gate_id=gate.id,
                profile="gate-station",
                status=DeviceStatus.ACTIVE,
            )
        )
        session.commit()
    return device_id


def _stale(api: Api, device_id: str) -> bool:
    with api.sessions() as session:
        sync = session.get(m.BundleSync, device_id)
        return sync is not None and sync.stale_since is not None


def test_an_application_is_drafted_submitted_approved_and_issues_the_pass(api: Api) -> None:
    gate = _gate_device(api, api.campus.own.gate, "gate-a")
    draft = _application(api)
    assert draft.status_code == 201, draft.text
    application = draft.json()
    assert (
        application["status"] == "draft" and application["created_by_id"] == api.campus.manager.id
    )
    edited = _call(api, "PATCH", f"/pass-applications/{application['id']}", zones=["main"])
    assert edited.status_code == 200, edited.text
    submitted = _call(api, "POST", f"/pass-applications/{application['id']}/submit")
    assert submitted.json()["status"] == "submitted"
    late_edit = _call(api, "PATCH", f"/pass-applications/{application['id']}", zones=["main"])
    assert late_edit.status_code == 409 and "only a draft" in late_edit.json()["message"]
    assert not _stale(api, gate)  # nothing a gate carries has changed yet

    approved = _call(api, "POST", f"/pass-applications/{application['id']}/approve")
    assert approved.status_code == 201, approved.text
    issued = approved.json()
    assert issued["status"] == "active" and issued["building_id"] == api.campus.own.building.id
    assert issued["student_id"] == api.campus.student.id and len(issued["pass_ref"]) == 32
    assert _stale(api, gate)  # the new pass was marked for the gates in the same transaction
    again = _call(api, "POST", f"/pass-applications/{application['id']}/approve")
    assert again.status_code == 409
    assert again.json()["message"] == (
        "this application is approved; only a submitted one can become approved"
    )
    shown = _call(api, "GET", f"/pass-applications/{application['id']}").json()
    assert shown["status"] == "approved" and shown["pass_id"] == issued["id"]
    assert shown["decided_by_id"] == api.campus.manager.id
    assert _audit(api, "pass application", application["id"]) == [
        "create",
        "submit",
        "approve",
    ]  # the PATCH changed nothing, so it left no entry
    assert _audit(api, "pass", issued["id"]) == ["create"]


def test_a_rejection_needs_a_reason_and_is_final(sqlite_api: Api) -> None:
    api = sqlite_api
    application = _application(api).json()
    path = f"/pass-applications/{application['id']}"
    assert _call(api, "POST", f"{path}/reject", reason="too early").status_code == 409
    assert _call(api, "POST", f"{path}/submit").status_code == 200
    assert _call(api, "POST", f"{path}/reject").status_code == 422
    assert _call(api, "POST", f"{path}/reject", reason="\x00").status_code == 422
    rejected = _call(api, "POST", f"{path}/reject", reason="not enrolled this term")
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_reason"] == "not enrolled this term"
    refused = _call(api, "POST", f"{path}/approve")
    assert refused.status_code == 409 and "rejected" in refused.json()["message"]
    with api.sessions() as session:
        entry = session.scalars(
            select(m.AuditEntry).where(
                m.AuditEntry.entity == "pass application", m.AuditEntry.action == "reject"
            )
        ).one()
        assert entry.actor_id == api.campus.manager.id
        assert entry.after is not None
        assert entry.after["decision_reason"] == "not enrolled this term"


def test_a_manager_of_another_building_is_refused(api: Api) -> None:
    other = api.campus.other
    assert _application(api, building_id=other.building.id).status_code == 404
    for path in (
        f"/pass-applications/{other.pass_application.id}",
        f"/passes/{other.student_pass.id}",
        f"/gate-time-rules/{other.time_rule.id}",
    ):
        assert _call(api, "GET", path).status_code == 404, path
    assert (
        _call(
            api, "PATCH", f"/pass-applications/{other.pass_application.id}", zones=["main"]
        ).status_code
        == 404
    )
    assert (
        _call(api, "POST", f"/pass-applications/{other.pass_application.id}/submit").status_code
        == 404
    )
    for step in ("suspend", "revoke", "expire", "reissue"):
        response = _call(api, "POST", f"/passes/{other.student_pass.id}/{step}", reason="x")
        assert response.status_code == 404, step
    rule: dict[str, Any] = {
        "gate_id": other.gate.id,
        "weekdays": [1],
        "opens": "08:00",
        "closes": "09:00",
    }
    assert _call(api, "POST", "/gate-time-rules", **rule).status_code == 404
    assert _call(api, "DELETE", f"/gate-time-rules/{other.time_rule.id}").status_code == 404
    # nothing of the other building changed
    with api.sessions() as session:
        kept = session.get_one(m.StudentPass, other.student_pass.id)
        assert kept.status is PassStatus.ACTIVE and kept.revoked_at is None
    # an admin may act on either building
    assert _application(api, A, building_id=other.building.id).status_code == 201


def test_zones_must_be_opened_by_a_gate_of_the_building(sqlite_api: Api) -> None:
    api = sqlite_api
    refused = _application(api, zones=["library"])
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "zones"
    assert "its zones: main" in refused.json()["message"]
    assert _application(api, zones=["main", "main"]).status_code == 422


# the pass's life cycle: (status before, step, expected answer)
STEPS = [
    (PassStatus.ACTIVE, "suspend", 200, PassStatus.SUSPENDED),
    (PassStatus.ACTIVE, "resume", 409, PassStatus.ACTIVE),
    (PassStatus.ACTIVE, "revoke", 200, PassStatus.REVOKED),
    (PassStatus.ACTIVE, "expire", 200, PassStatus.EXPIRED),
    (PassStatus.ACTIVE, "reissue", 201, PassStatus.REVOKED),
    (PassStatus.SUSPENDED, "resume", 200, PassStatus.ACTIVE),
    (PassStatus.SUSPENDED, "suspend", 409, PassStatus.SUSPENDED),
    (PassStatus.SUSPENDED, "revoke", 200, PassStatus.REVOKED),
    (PassStatus.SUSPENDED, "expire", 200, PassStatus.EXPIRED),
    (PassStatus.REVOKED, "resume", 409, PassStatus.REVOKED),
    (PassStatus.REVOKED, "suspend", 409, PassStatus.REVOKED),
    (PassStatus.REVOKED, "reissue", 409, PassStatus.REVOKED),
    (PassStatus.EXPIRED, "resume", 409, PassStatus.EXPIRED),
    (PassStatus.EXPIRED, "revoke", 409, PassStatus.EXPIRED),
]


@pytest.mark.parametrize(("before", "step", "code", "after"), STEPS)
def test_pass_steps_follow_the_life_cycle(
    sqlite_api: Api, before: PassStatus, step: str, code: int, after: PassStatus
) -> None:
    api = sqlite_api
    pass_id = fresh_pass(api, api.campus.own, before)
    response = _call(api, "POST", f"/passes/{pass_id}/{step}", reason="checked at the desk")
    assert response.status_code == code, response.text
    with api.sessions() as session:
        assert session.get_one(m.StudentPass, pass_id).status is after
    actions = _audit(api, "pass", pass_id)
    if code == 409:
        assert actions == [] and response.json()["code"] == "conflict"
        assert "this pass" in response.json()["message"]
    else:
        assert actions == [{"reissue": "revoke"}.get(step, step)]
    if step == "reissue" and code == 201:
        new = response.json()
        assert new["replaces_id"] == pass_id and new["status"] == "active"
        assert new["zones"] == ["main"] and new["building_id"] == api.campus.own.building.id
        with api.sessions() as session:
            old = session.get_one(m.StudentPass, pass_id)
            assert old.revoked_reason == "reissued: checked at the desk"
            assert new["pass_ref"] != old.pass_ref


def test_a_pass_past_its_date_is_expired_whatever_its_status(sqlite_api: Api) -> None:
    api = sqlite_api
    pass_id = fresh_pass(api, api.campus.own)
    app = api.client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_clock] = lambda: lambda: START + timedelta(days=400)
    response = _call(api, "POST", f"/passes/{pass_id}/suspend", reason="late")
    assert response.status_code == 409
    assert response.json()["message"].startswith("this pass expired (2027-12-01")


def test_gates_bundles_carry_suspended_revoked_hours_and_direction(sqlite_api: Api) -> None:
    api = sqlite_api
    own = api.campus.own
    with api.sessions() as session:
        session.get_one(m.Gate, own.gate.id).direction = GateDirection.OUT
        session.commit()
    device = _gate_device(api, own.gate, "gate-a")
    _register_key(api, device)
    publisher, now = FakePublisher(), NOW

    def build() -> Bundle:
        assert _stale(api, device)
        assert _builder(api, publisher, now).run_once() == 1
        return _bundle_from(api, publisher.sent[-1][1], device)

    bundle = build()
    assert bundle.gate is not None and bundle.gate.direction is Direction.OUT
    assert [(r.weekdays, r.opens, r.closes) for r in bundle.gate.time_rules] == [
        ([1, 2, 3, 4, 5], "06:00", "23:00")
    ]
    assert bundle.gate.time_rules[0].zone == "main" and bundle.gate.time_zone == "Europe/Berlin"
    suspended, revoked, expired = (fresh_pass(api, own) for _ in range(3))
    refs = _refs(api)
    for pass_id, step in ((suspended, "suspend"), (revoked, "revoke"), (expired, "expire")):
        assert _call(api, "POST", f"/passes/{pass_id}/{step}", reason="desk").status_code == 200
    reissued = _call(api, "POST", f"/passes/{own.student_pass.id}/reissue", reason="lost")
    rule: dict[str, Any] = {
        "gate_id": own.gate.id,
        "weekdays": [6, 7],
        "opens": "22:00",
        "closes": "02:00",
    }
    assert _call(api, "POST", "/gate-time-rules", **rule, past_midnight=True).status_code == 201

    bundle = build()
    assert bundle.gate is not None
    assert bundle.gate.suspended_passes == [refs[suspended]]
    assert {refs[revoked], refs[expired], refs[own.student_pass.id]} <= set(
        bundle.gate.revoked_passes
    )
    assert reissued.json()["pass_ref"] not in bundle.gate.revoked_passes
    assert refs[suspended] not in bundle.gate.revoked_passes
    assert [(r.weekdays, r.opens, r.closes) for r in bundle.gate.time_rules][-1] == (
        [6, 7],
        "22:00",
        "02:00",
    )

    book = gate_book(bundle)  # what the gate station makes of it
    assert book.suspended == {refs[suspended]} and refs[revoked] in book.revoked
    assert book.is_open(datetime(2026, 12, 6, 23, 30, tzinfo=BERLIN))  # Sunday night
    assert book.is_open(datetime(2026, 12, 7, 1, 30, tzinfo=BERLIN))  # ... past midnight
    assert not book.is_open(datetime(2026, 12, 7, 3, 0, tzinfo=BERLIN))  # Monday, 03:00
    assert not book.is_open(datetime(2026, 12, 7, 23, 30, tzinfo=BERLIN))  # Monday, after 23:00

    assert _call(api, "POST", f"/passes/{suspended}/resume").status_code == 200
    assert _call(api, "DELETE", f"/gate-time-rules/{own.time_rule.id}").status_code == 204
    bundle = build()
    assert bundle.gate is not None and bundle.gate.suspended_passes == []
    assert [r.opens for r in bundle.gate.time_rules] == ["22:00"]


def _refs(api: Api) -> dict[int, str]:
    with api.sessions() as session:
        return {p.id: p.pass_ref for p in session.scalars(select(m.StudentPass))}


def test_a_time_rule_marks_only_its_gates_devices_stale(api: Api) -> None:
    mine = _gate_device(api, api.campus.own.gate, "gate-a")
    theirs = _gate_device(api, api.campus.other.gate, "gate-b")
    changed = _call(api, "PATCH", f"/gate-time-rules/{api.campus.own.time_rule.id}", closes="22:00")
    assert changed.status_code == 200 and changed.json()["closes"] == "22:00"
    assert _stale(api, mine) and not _stale(api, theirs)
    assert _audit(api, "gate time rule", api.campus.own.time_rule.id) == ["update"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"opens": "18:00", "closes": "08:00"}, "closes"),
        ({"opens": "08:00", "closes": "08:00"}, "closes"),
        ({"opens": "08:00", "closes": "18:00", "past_midnight": True}, "closes"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"weekdays": [0]}, "weekdays"),
        ({"weekdays": [8]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [1, 2, 3, 4, 5, 6, 7, 1]}, "weekdays"),
        ({"opens": "24:00"}, "opens"),
        ({"opens": "8:00"}, "opens"),
        ({"opens": "08:00\x00"}, "opens"),
        ({"closes": "9" * 100_000}, "closes"),
        ({"gate_id": 2**40}, "gate_id"),
        ({"gate_id": -1}, "gate_id"),
    ],
)
def test_bad_time_rules_are_refused_with_the_field(
    sqlite_api: Api, body: dict[str, Any], field: str
) -> None:
    api = sqlite_api
    rule: dict[str, Any] = {
        "gate_id": api.campus.own.gate.id,
        "weekdays": [1],
        "opens": "08:00",
        "closes": "18:00",
    }
    response = _call(api, "POST", "/gate-time-rules", **(rule | body))
    assert response.status_code == 422, response.text
    assert field in {f["field"].split(".")[-1] for f in response.json()["fields"]} | {
        f["field"].split(".")[0] for f in response.json()["fields"]
    }, response.json()


@pytest.mark.parametrize(
    "changes",
    [
        {"valid_from": "0001-01-01T00:00:00+14:00"},
        {"valid_until": "9999-12-31T23:59:59-14:00"},
        {"valid_until": "2150-01-01T00:00:00Z"},  # beyond what a pass's code can hold (2106)
        {"valid_until": (START - timedelta(days=1)).isoformat()},
        {"valid_from": "2026-12-01T09:00:00"},  # no time zone
        {"zones": ["main\x00"]},
        {"zones": ["x" * 100_000]},
        {"zones": [f"z{i}" for i in range(17)]},
        {"zones": []},
        {"student_id": 2**63},
        {"building_id": 0},
        {"unexpected": "field"},
    ],
)
def test_hostile_applications_are_422_never_500(sqlite_api: Api, changes: dict[str, Any]) -> None:
    response = _application(sqlite_api, **changes)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] or response.json()["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/passes/{}/suspend", {"reason": "\x00"}),
        ("/passes/{}/suspend", {"reason": "r" * 100_000}),
        ("/passes/{}/revoke", {}),
        ("/passes/{}/reissue", {"reason": ""}),
        ("/passes/{}/expire", {"reason": ["a"]}),
    ],
)
def test_hostile_pass_steps_are_422(sqlite_api: Api, path: str, body: dict[str, Any]) -> None:
    api = sqlite_api
    response = api.client.post(
        URL + path.format(api.campus.own.student_pass.id), json=body, headers=api.as_(M)
    )
    assert response.status_code == 422, response.text


def test_an_inactive_student_gets_no_pass(sqlite_api: Api) -> None:
    api = sqlite_api
    application = _application(api).json()
    assert _call(api, "POST", f"/pass-applications/{application['id']}/submit").status_code == 200
    assert (
        _call(api, "PATCH", f"/students/{api.campus.student.id}", status="graduated").status_code
        == 200
    )
    refused = _call(api, "POST", f"/pass-applications/{application['id']}/approve")
    assert refused.status_code == 409 and "graduated" in refused.json()["message"]
    assert (
        _call(api, "GET", f"/pass-applications/{application['id']}").json()["status"] == "submitted"
    )


def test_two_approvals_at_once_issue_one_pass(pg_sessions: sessionmaker[Session]) -> None:
    """Deterministic interleaving on PostgreSQL: the second approval runs while the first is
    uncommitted. Without the row lock it would still see `submitted` and issue a second pass."""
    with pg_sessions() as session:
        campus = build_campus(session)
        application_id = campus.own.pass_application.id
        session.get_one(m.PassApplication, application_id).status = PassApplicationStatus.SUBMITTED
        session.commit()
    actor = Actor(campus.admin.id, campus.admin.email)
    scope = Scope(campus.admin.id, Role.ADMIN, None)

    def approve(session: Session) -> None:
        application = pass_applications.find_application(session, application_id, scope=scope)
        pass_applications.approve(session, application, actor=actor, scope=scope, now=START)

    outcome: list[str] = []
    with pg_sessions() as first:
        approve(first)  # holds the application's row lock, uncommitted

        def second() -> None:
            with pg_sessions() as session:
                try:
                    approve(session)
                    session.commit()
                    outcome.append("approved")
                except ConflictError as error:
                    outcome.append(str(error))

        racer = threading.Thread(target=second)
        racer.start()
        assert _waits_for_a_lock(pg_sessions, racer), "the second approval did not wait"
        first.commit()
    racer.join(WAIT_SECONDS)
    assert outcome == ["this application is approved; only a submitted one can become approved"]
    with pg_sessions() as session:
        issued = session.scalars(select(m.StudentPass).where(m.StudentPass.replaces_id.is_(None)))
        assert (
            len([p for p in issued if p.building_id == campus.own.building.id]) == 2
        )  # campus + 1
