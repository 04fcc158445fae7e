"""The coordinator's downlink: stale on change, built and signed bundles, sync status, commands."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from coordinator.bundles import keys
from coordinator.bundles.builder import BundleBuilder, Senders, compile_due, record_builds
from coordinator.core.keys import KeyPurpose, card_uid_hash, derive_key
from coordinator.db import models as m
from coordinator.db.enums import CommandState, Role
from coordinator.services import downlink
from coordinator.services.commands import expire_overdue
from coordinator.services.downlink import behind_devices
from coordinator.services.events import RawMessage, ingest
from protocols import (
    BundleAck,
    BundleRefusal,
    BundleStatus,
    CommandResult,
    CommandStatus,
    OpenDoor,
    Sender,
    SignedBundle,
    decode,
    encode,
    topic_for,
)
from protocols.bundle import Bundle, card_key_context
from protocols.cards import card_uid_hash as device_hash
from protocols.sealing import open_box, public_key_text
from protocols.signing import check_bundle, content_hash, read_public_key
from tests.coordinator.campus import START
from tests.coordinator.conftest import Api

A, M, S, T = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.TECHNICIAN
DEVICE_KEY = X25519PrivateKey.generate()


@dataclass
class FakePublisher:
    sent: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def publish(self, topic: str, body: bytes, *, retain: bool) -> None:
        self.sent.append((topic, body, retain))


def _sync(api: Api, device_id: str) -> m.BundleSync | None:
    with api.sessions() as session:
        return session.get(m.BundleSync, device_id)


def _builder(api: Api, publisher: FakePublisher, now: datetime) -> BundleBuilder:
    settings = api.settings.model_copy(update={"bundle_debounce_s": 0.0})
    return BundleBuilder(settings, api.sessions, publisher, Senders(), clock=lambda: now)


def _register_key(api: Api, device_id: str) -> None:
    response = api.client.patch(
        f"/api/v1/devices/{device_id}",
        json={"public_key": public_key_text(DEVICE_KEY)},
        headers=api.as_(T),
    )
    assert response.status_code == 200, response.text


def _trusted(api: Api) -> dict[str, Ed25519PublicKey]:
    with api.sessions() as session:
        return {k.key_id: read_public_key(k.public_key) for k in keys.trusted_keys(session)}


def _bundle_from(api: Api, body: bytes, device_id: str) -> Bundle:
    payload = decode(body, max_bytes=api.settings.max_bundle_bytes).payload
    assert isinstance(payload, SignedBundle)
    return check_bundle(
        payload,
        trusted_keys=_trusted(api),
        device_id=device_id,
        held_version=None,
    )


def test_an_assignment_marks_the_rooms_device_stale_in_the_same_transaction(
    sqlite_api: Api,
) -> None:
    api = sqlite_api
    own = api.campus.own
    assert _sync(api, own.device.id) is None
    response = api.client.post(
        f"/api/v1/assignments/{own.assignment.id}/accept", headers=api.as_(S)
    )
    assert response.status_code == 200, response.text
    sync = _sync(api, own.device.id)
    assert sync is not None and sync.stale_since is not None
    assert _sync(api, api.campus.other.device.id) is None


def test_a_refused_change_marks_nothing(sqlite_api: Api) -> None:
    api = sqlite_api
    own = api.campus.own
    # the same supervisor at the same session again: a conflict, rolled back
    response = api.client.post(
        "/api/v1/assignments",
        json={"session_id": own.session.id, "supervisor_id": own.supervisor.id},
        headers=api.as_(A),
    )
    assert response.status_code == 409
    assert _sync(api, own.device.id) is None


def test_the_builder_signs_a_bundle_with_the_roster_and_publishes_it_retained(
    sqlite_api: Api,
) -> None:
    api = sqlite_api
    own = api.campus.own
    _register_key(api, own.device.id)
    publisher = FakePublisher()
    now = START - timedelta(hours=1)
    assert _builder(api, publisher, now).run_once() == 1
    [(topic, body, retain)] = publisher.sent
    assert retain and topic == f"campus/v1/main/{own.device.id}/cmd/bundle"
    bundle = _bundle_from(api, body, own.device.id)
    assert bundle.version == 1 and bundle.binding.room_ref == str(own.room.id)
    assert bundle.binding.geofence is not None and bundle.binding.geofence.radius_m == 25
    assert [s.session_ref for s in bundle.sessions] == [str(own.session.id)]
    [supervisor] = bundle.roster
    assert supervisor.person_ref == f"user-{own.supervisor.id}"
    assert supervisor.sessions[0].assignment_ref == str(own.assignment.id)
    assert bundle.card_key is not None
    card_key = open_box(bundle.card_key, DEVICE_KEY, card_key_context(own.device.id))
    assert card_key == derive_key(api.settings.secret_key, KeyPurpose.CARD_UIDS)
    sync = _sync(api, own.device.id)
    assert sync is not None and sync.built_version == 1 and sync.stale_since is None
    assert sync.built_bytes == len(body)
    # nothing changed: nothing more to build
    assert _builder(api, publisher, now).run_once() == 0


def test_a_card_tapped_on_the_device_hashes_as_the_coordinator_stored_it(sqlite_api: Api) -> None:
    api = sqlite_api
    own = api.campus.own
    created = api.client.post(
        "/api/v1/cards",
        json={"uid": "04:A1:B2:C3", "user_id": own.supervisor.id},
        headers=api.as_(A),
    )
    assert created.status_code == 201, created.text
    _register_key(api, own.device.id)
    publisher = FakePublisher()
    _builder(api, publisher, START - timedelta(hours=1)).run_once()
    bundle = _bundle_from(api, publisher.sent[-1][1], own.device.id)
    assert bundle.card_key is not None
    key = open_box(bundle.card_key, DEVICE_KEY, card_key_context(own.device.id))
    tapped = device_hash(key, "04a1b2c3")
    assert tapped == card_uid_hash(api.settings.secret_key, "04:A1:B2:C3")
    person = bundle.person_by_card(tapped)
    assert person is not None and person.person_ref == f"user-{own.supervisor.id}"


def test_a_device_without_a_key_gets_no_bundle_and_says_why(sqlite_api: Api) -> None:
    api = sqlite_api
    own = api.campus.own
    api.client.post(f"/api/v1/assignments/{own.assignment.id}/accept", headers=api.as_(S))
    publisher = FakePublisher()
    assert _builder(api, publisher, START - timedelta(hours=1)).run_once() == 0
    status = api.client.get(f"/api/v1/devices/{own.device.id}/sync", headers=api.as_(T)).json()
    assert "no registered key" in status["build_problem"]
    assert status["built_version"] == 0


def test_a_public_key_that_is_not_one_is_refused(sqlite_api: Api) -> None:
    response = sqlite_api.client.patch(
        f"/api/v1/devices/{sqlite_api.campus.own.device.id}",
        json={"public_key": "not-a-key\x00"},
        headers=sqlite_api.as_(T),
    )
    assert response.status_code == 422


def test_key_rotation_announces_then_signs_then_retires(sqlite_api: Api) -> None:
    api = sqlite_api
    device_id = api.campus.own.device.id
    _register_key(api, device_id)
    publisher = FakePublisher()
    now = START - timedelta(hours=1)
    _builder(api, publisher, now).run_once()
    first = _bundle_from(api, publisher.sent[-1][1], device_id)
    with api.sessions.begin() as session:
        new = keys.add_key(session, api.settings.secret_key)
        new_id = new.key_id
    _builder(api, publisher, now).run_once()
    announced = _bundle_from(api, publisher.sent[-1][1], device_id)
    assert announced.key_id == first.key_id  # still signed by the old key ...
    assert {k.key_id for k in announced.signing_keys} == {first.key_id, new_id}  # ... naming both
    with api.sessions.begin() as session:
        keys.activate_key(session, new_id)
        keys.retire_key(session, first.key_id)
    _builder(api, publisher, now).run_once()
    rotated = _bundle_from(api, publisher.sent[-1][1], device_id)
    assert rotated.key_id == new_id and [k.key_id for k in rotated.signing_keys] == [new_id]
    assert rotated.version == 3


def _reply(api: Api, device_id: str, payload: BundleAck | CommandResult) -> None:
    envelope = Sender(device_id).sequenced(payload)
    with api.sessions.begin() as session:
        ingest(session, [RawMessage(topic_for("main", envelope), encode(envelope))], site=None,
               max_bytes=65536)  # fmt: skip


def test_sync_status_shows_built_acknowledged_refused_and_behind(sqlite_api: Api) -> None:
    api = sqlite_api
    device_id = api.campus.own.device.id
    _register_key(api, device_id)
    publisher = FakePublisher()
    built_at = START - timedelta(hours=1)
    _builder(api, publisher, built_at).run_once()
    signed = decode(publisher.sent[-1][1], max_bytes=2**24).payload
    assert isinstance(signed, SignedBundle)
    refused = BundleAck(
        bundle_version=1,
        status=BundleStatus.REFUSED,
        refusal=BundleRefusal.TAMPERED,
        reason="bundle signature does not match",
    )
    _reply(api, device_id, refused)
    status = api.client.get(f"/api/v1/devices/{device_id}/sync", headers=api.as_(M)).json()
    assert status["refused_reason"].startswith("tampered") and status["acked_version"] is None
    # the session runs and the device still has not applied version 1
    with api.sessions() as session:
        during = START + timedelta(minutes=30)
        assert behind_devices(session, during, timedelta(minutes=5)) == {device_id}
    applied = BundleAck(
        bundle_version=1, status=BundleStatus.APPLIED, content_hash=content_hash(signed.body)
    )
    _reply(api, device_id, applied)
    status = api.client.get(f"/api/v1/devices/{device_id}/sync", headers=api.as_(M)).json()
    assert status["acked_version"] == 1 and status["refused_reason"] is None
    with api.sessions() as session:
        assert behind_devices(session, during, timedelta(minutes=5)) == set()
    listed = api.client.get("/api/v1/sync", headers=api.as_(M)).json()
    assert [row["device_id"] for row in listed] == [device_id]


def test_an_ack_from_another_device_changes_nothing(sqlite_api: Api) -> None:
    api = sqlite_api
    own, other = api.campus.own.device.id, api.campus.other.device.id
    _register_key(api, own)
    _builder(api, FakePublisher(), START - timedelta(hours=1)).run_once()
    _reply(api, other, BundleAck(bundle_version=1, status=BundleStatus.APPLIED))
    sync = _sync(api, own)
    assert sync is not None and sync.acked_version is None


def _command(api: Api, role: Role, device_id: str, **body: object) -> tuple[int, dict[str, object]]:
    response = api.client.post(
        f"/api/v1/devices/{device_id}/commands",
        json={"reason": "exam starts, door stuck"} | body,
        headers=api.as_(role),
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("role", "name", "own", "expected"),
    [
        (M, "open", True, 201),
        (M, "open", False, 404),
        (M, "reboot", True, 403),
        (M, "resync", True, 403),
        (T, "reboot", False, 201),
        (T, "resync", True, 201),
        (A, "open", False, 201),
        (S, "open", True, 403),
    ],
)
def test_commands_by_role(sqlite_api: Api, role: Role, name: str, own: bool, expected: int) -> None:
    side = sqlite_api.campus.own if own else sqlite_api.campus.other
    status, _ = _command(sqlite_api, role, side.device.id, name=name)
    assert status == expected


def test_a_command_is_audited_published_and_answered(sqlite_api: Api) -> None:
    api = sqlite_api
    publisher = FakePublisher()
    api.client.app.state.publisher = publisher  # type: ignore[attr-defined]
    device_id = api.campus.own.device.id
    status, command = _command(api, M, device_id, name="open", hold_s=4)
    assert status == 201 and command["status"] == "pending"
    [(topic, body, retain)] = publisher.sent
    payload = decode(body).payload
    assert topic.endswith(f"/{device_id}/cmd/open") and not retain
    assert isinstance(payload, OpenDoor) and payload.hold_s == 4
    assert payload.expires_at is not None and str(payload.command_id) == command["id"]
    with api.sessions() as session:
        entry = session.scalars(
            select(m.AuditEntry).where(m.AuditEntry.entity == "device_command")
        ).one()
        assert entry.actor == "manager@campus.test" and entry.after
        assert entry.after["reason"] == "exam starts, door stuck"
    _reply(api, device_id, CommandResult(command_id=payload.command_id, status=CommandStatus.DONE))
    listed = api.client.get(f"/api/v1/devices/{device_id}/commands", headers=api.as_(M)).json()
    assert [(c["id"], c["status"]) for c in listed] == [(command["id"], "done")]


def test_an_unanswered_command_expires_and_a_late_refusal_is_recorded(sqlite_api: Api) -> None:
    api = sqlite_api
    device_id = api.campus.own.device.id
    _, command = _command(api, T, device_id, name="reboot", expires_in_s=5)
    with api.sessions.begin() as session:
        assert expire_overdue(session, datetime.now(UTC) + timedelta(seconds=6)) == 1
    pending = api.client.get(
        f"/api/v1/devices/{device_id}/commands?status=expired", headers=api.as_(T)
    ).json()
    assert [c["id"] for c in pending] == [command["id"]]
    refusal = CommandResult(
        command_id=command["id"], status=CommandStatus.EXPIRED, detail="arrived after expiry"
    )
    _reply(api, device_id, refusal)
    listed = api.client.get(f"/api/v1/devices/{device_id}/commands", headers=api.as_(T)).json()
    assert listed[0]["status"] == CommandState.EXPIRED and listed[0]["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "config", "settings": {"no_such_setting": 1}},
        {"name": "config", "settings": {"face_distance_max": 99}},
        {"name": "config"},
        {"name": "open", "settings": {"liveness_min": 0.5}},
        {"name": "open", "hold_s": 1e9},
        {"name": "open", "reason": "x" * 501},
        {"name": "open", "expires_in_s": 10**12},
        {"name": "self-destruct"},
    ],
)
def test_bad_commands_are_refused_with_422(sqlite_api: Api, body: dict[str, object]) -> None:
    status, answer = _command(sqlite_api, A, sqlite_api.campus.own.device.id, **body)
    assert status == 422, answer


def test_a_config_change_within_the_thresholds_is_sent(sqlite_api: Api) -> None:
    status, command = _command(
        sqlite_api, T, sqlite_api.campus.own.device.id, name="config",
        settings={"face_distance_max": 0.5},
    )  # fmt: skip
    assert status == 201 and command["params"] == {"settings": {"face_distance_max": 0.5}}


def test_a_change_during_a_build_is_built_again(sqlite_api: Api) -> None:
    api = sqlite_api
    device_id = api.campus.own.device.id
    _register_key(api, device_id)
    settings = api.settings.model_copy(update={"bundle_debounce_s": 0.0})
    now = START - timedelta(hours=1)
    with api.sessions.begin() as session:
        builds = compile_due(session, settings, Senders(), now)
    with api.sessions.begin() as session:  # an edit lands while the bundle is being signed
        downlink.mark_stale(session, [device_id], now=now + timedelta(seconds=1))
    with api.sessions.begin() as session:
        assert len(record_builds(session, builds)) == 1
    sync = _sync(api, device_id)
    assert sync is not None and sync.built_version == 1 and sync.stale_since is not None
    publisher = FakePublisher()
    assert _builder(api, publisher, now + timedelta(seconds=2)).run_once() == 1
    assert _bundle_from(api, publisher.sent[-1][1], device_id).version == 2
