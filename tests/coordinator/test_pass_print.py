"""Printed and shown passes: the QR code a gate reads back and verifies with the bundle's keys,
through a key rotation; the printable PDF; refusals for revoked passes, no key, unknown zones."""

import io
from datetime import timedelta
from uuid import UUID

import numpy as np
import pytest
import uuid6
from PIL import Image

from coordinator.bundles import keys
from coordinator.db import models as m
from coordinator.db.enums import Role
from edge_agent.hardware.qr_camera import decode_qr
from protocols import ReasonCode
from protocols.passes import PassRefusedError, VerifiedPass, read_pass
from protocols.signing import read_public_key
from tests.coordinator.campus import START
from tests.coordinator.conftest import Api

NOW = START + timedelta(days=1)


def _printable(api: Api, zones: list[str] | None = None) -> int:
    """A pass for the campus student (zone `main`, at site `main`), filed under building A."""
    with api.sessions() as session:
        student_pass = m.StudentPass(
            pass_ref=uuid6.uuid7().hex,
            student_id=api.campus.student.id,
            building_id=api.campus.own.building.id,
            zones=zones or ["main"],
            valid_from=START,
            valid_until=START + timedelta(days=30),
        )
        session.add(student_pass)
        session.commit()
        return student_pass.id


def _key(api: Api, *, activate: bool = True) -> str:
    with api.sessions() as session:
        key = keys.add_key(session, api.settings.secret_key)
        if activate:
            keys.activate_key(session, key.key_id)
        session.commit()
        return key.key_id


def _gate_reads(api: Api, text: str) -> VerifiedPass:
    """What a gate of site `main` makes of the text, trusting the keys its bundle lists."""
    with api.sessions() as session:
        trusted = {k.key_id: read_public_key(k.public_key) for k in keys.trusted_keys(session)}
    return read_pass(text, trusted_keys=trusted, site="main", now=NOW)


def _scan(api: Api, pass_id: int) -> str:
    """The QR code as the API serves it, read back by the gate's decoder."""
    response = api.client.get(f"/api/v1/passes/{pass_id}/qr.png", headers=api.as_(Role.ADMIN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"), dtype=np.uint8)
    (text,) = decode_qr(image)
    return text


def test_a_shown_pass_is_read_and_verified_by_a_gate_across_a_key_rotation(api: Api) -> None:
    first = _key(api)
    pass_id = _printable(api)
    old_text = _scan(api, pass_id)
    verified = _gate_reads(api, old_text)
    with api.sessions() as session:
        student_pass = session.get_one(m.StudentPass, pass_id)
        assert verified.body.pass_id == UUID(hex=student_pass.pass_ref)
    assert verified.body.holder_ref == f"student-{api.campus.student.id}"
    assert verified.body.zones == ("main",) and verified.body.key_id == first
    assert "Ada" not in old_text and "S-0001" not in old_text

    second = _key(api)  # rotation: new passes use the new key, old ones still verify
    new_text = _scan(api, pass_id)
    assert _gate_reads(api, new_text).body.key_id == second
    assert _gate_reads(api, old_text)

    with api.sessions() as session:
        keys.retire_key(session, first)
        session.commit()
    with pytest.raises(PassRefusedError) as refused:
        _gate_reads(api, old_text)
    assert refused.value.reason is ReasonCode.PASS_UNKNOWN_KEY


def test_the_printable_pass_is_a_pdf(api: Api) -> None:
    _key(api)
    pass_id = _printable(api)
    response = api.client.get(f"/api/v1/passes/{pass_id}/print.pdf", headers=api.as_(Role.MANAGER))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_passes_that_cannot_be_printed_say_why(api: Api) -> None:
    pass_id = _printable(api)
    admin = api.as_(Role.ADMIN)
    no_key = api.client.get(f"/api/v1/passes/{pass_id}/qr.png", headers=admin)
    assert no_key.status_code == 409 and "no signing key" in no_key.json()["message"]
    _key(api)
    nowhere = api.client.get(f"/api/v1/passes/{_printable(api, ['moon'])}/qr.png", headers=admin)
    assert nowhere.status_code == 409 and "one site" in nowhere.json()["message"]
    revoke = api.client.post(
        f"/api/v1/passes/{pass_id}/revoke", json={"reason": "lost"}, headers=admin
    )
    assert revoke.status_code == 200, revoke.text
    revoked = api.client.get(f"/api/v1/passes/{pass_id}/print.pdf", headers=admin)
    assert revoked.status_code == 409 and "revoked" in revoked.json()["message"]


def test_a_pass_without_a_pass_id_asks_to_be_reissued(api: Api) -> None:
    _key(api)
    old_style = api.campus.student_pass.id  # made before passes were signed: a random ref
    response = api.client.get(f"/api/v1/passes/{old_style}/qr.png", headers=api.as_(Role.ADMIN))
    assert response.status_code == 409 and "reissue" in response.json()["message"]


def test_a_security_officer_rotates_keys_from_the_command_line(sqlite_url: str) -> None:
    from typer.testing import CliRunner

    from coordinator.cli import app
    from coordinator.db.migrate import upgrade

    upgrade(sqlite_url)
    cli = CliRunner()

    def run(*args: str) -> str:
        result = cli.invoke(app, ["keys", *args, "--database-url", sqlite_url])
        assert result.exit_code == 0, result.output
        return result.output

    first = run("add").split()[1].rstrip(";")
    run("activate", first)
    second = run("add").split()[1].rstrip(";")
    assert [line.split()[0] for line in run("list").splitlines()] == [first, second]  # oldest first
    refused = cli.invoke(app, ["keys", "retire", first, "--database-url", sqlite_url])
    assert refused.exit_code == 1 and "activate another key first" in refused.output
    run("activate", second)
    run("retire", first)
    states = dict(line.split()[:2] for line in run("list").splitlines())
    assert states == {first: "retired", second: "active"}
    unknown = cli.invoke(app, ["keys", "activate", "nope", "--database-url", sqlite_url])
    assert unknown.exit_code == 1 and "no signing key" in unknown.output


def test_a_printed_pass_opens_the_gate_whose_bundle_the_builder_signed(sqlite_api: Api) -> None:
    """Coordinator to gate without the broker: print, build the gate's bundle, decide."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from coordinator.bundles.builder import BundleBuilder, Senders
    from coordinator.db.enums import DeviceStatus
    from coordinator.services.downlink import mark_stale
    from edge_agent.stations.gate_book import open_gate_book
    from protocols import SignedBundle, decode
    from protocols.sealing import public_key_text
    from protocols.signing import check_bundle
    from tests.coordinator.test_downlink import FakePublisher
    from tests.edge_agent.stations.gate_kit import HandClock, make_gate

    api, device_key = sqlite_api, X25519PrivateKey.generate()
    with api.sessions() as session:
        gate = session.get_one(m.Gate, api.campus.own.gate.id)
        session.add(
            m.Device(
                id="gate-a",
                site_id=gate.site_id,
                gate_id=gate.id,
                profile="gate-station",
                status=DeviceStatus.ACTIVE,
                public_key=public_key_text(device_key),
            )
        )
        session.flush()
        mark_stale(session, ["gate-a"])
        session.commit()
    publisher = FakePublisher()
    settings = api.settings.model_copy(update={"bundle_debounce_s": 0.0})
    builder = BundleBuilder(settings, api.sessions, publisher, Senders(), clock=lambda: NOW)
    assert builder.run_once() >= 1
    body = next(body for topic, body, _ in publisher.sent if "/gate-a/" in topic)
    signed = decode(body, max_bytes=settings.max_bundle_bytes).payload
    assert isinstance(signed, SignedBundle)
    with api.sessions() as session:
        trusted = {k.key_id: read_public_key(k.public_key) for k in keys.trusted_keys(session)}
    bundle = check_bundle(signed, trusted_keys=trusted, device_id="gate-a", held_version=None)
    assert bundle.gate is not None
    assert [k.key_id for k in bundle.gate.pass_keys] == list(trusted)

    station = make_gate(open_gate_book(bundle, device_key), clock=HandClock(now=NOW)).station
    decision = station.present_code(_scan(api, _printable(api)))
    assert decision is not None and decision.reason is ReasonCode.OK
    assert decision.subject_ref == f"student-{api.campus.student.id}"
