"""One-time links to a phone pass: made by a manager and audited, claimed once by the phone with
its public key, refused when spent, expired, revoked, hostile or foreign; the claimed pass is the
phone form a gate accepts only as rotating codes signed by that phone."""

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import UUID

import pytest
import uuid6
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from coordinator.api.deps import get_clock
from coordinator.bundles import keys
from coordinator.db import models as m
from coordinator.db.enums import Role
from protocols import ReasonCode
from protocols.base45 import b45encode
from protocols.passes import STATIC_PREFIX, PassRefusedError, read_pass, rotating_code
from protocols.signing import read_public_key
from tests.coordinator.campus import START
from tests.coordinator.conftest import Api

NOW = START + timedelta(days=1)


class Clock:
    """The time the link routes see; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(api: Api) -> Iterator[Clock]:
    clock = Clock(NOW)
    app = api.client.app
    app.dependency_overrides[get_clock] = lambda: clock  # type: ignore[attr-defined]
    yield clock
    app.dependency_overrides.pop(get_clock)  # type: ignore[attr-defined]


def _pass(api: Api, *, days: int = 30) -> int:
    """A signed-format pass for the campus student at site `main`, with an active key."""
    with api.sessions() as session:
        keys.ensure_active_key(session, api.settings.secret_key)
        student_pass = m.StudentPass(
            pass_ref=uuid6.uuid7().hex,
            student_id=api.campus.student.id,
            building_id=api.campus.own.building.id,  # the manager's building
            zones=["main"],
            valid_from=START,
            valid_until=START + timedelta(days=days),
        )
        session.add(student_pass)
        session.commit()
        return student_pass.id


def _link(api: Api, pass_id: int, role: Role = Role.MANAGER) -> str:
    response = api.client.post(f"/api/v1/passes/{pass_id}/link", headers=api.as_(role))
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert url.startswith(api.settings.public_url + "/p/#t=")
    return url.split("#t=", 1)[1]


def _phone() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def _claim(api: Api, token: str, holder_key: str | None = None) -> tuple[int, dict[str, object]]:
    holder_key = _phone()[1] if holder_key is None else holder_key
    response = api.client.post(f"/api/v1/pass-links/{token}/claim", json={"holder_key": holder_key})
    return response.status_code, response.json()


def _gate_reads(api: Api, text: str, now: datetime) -> UUID:
    with api.sessions() as session:
        trusted = {k.key_id: read_public_key(k.public_key) for k in keys.trusted_keys(session)}
    return read_pass(text, trusted_keys=trusted, site="main", now=now).body.pass_id


def test_a_claimed_link_gives_the_phone_form_that_only_that_phone_can_show(
    api: Api, clock: Clock
) -> None:
    pass_id = _pass(api)
    token = _link(api, pass_id)
    phone, public = _phone()
    status, body = _claim(api, token, public)
    assert status == 200, body
    assert body["student_name"] == "Ada Student" and body["zones"] == ["main"]
    signed = base64.b64decode(str(body["signed_pass"]))
    static = STATIC_PREFIX + b45encode(signed)
    with api.sessions() as session:
        ref = session.get_one(m.StudentPass, pass_id).pass_ref
    assert body["pass_id"] == str(UUID(hex=ref))
    assert b"Ada" not in signed and b"S-0001" not in signed

    assert _gate_reads(api, rotating_code(static, phone, NOW), NOW) == UUID(hex=ref)
    with pytest.raises(PassRefusedError) as copied:  # the static form of a phone pass
        _gate_reads(api, static, NOW)
    assert copied.value.reason is ReasonCode.PASS_NEEDS_ROTATING_CODE
    with pytest.raises(PassRefusedError) as other_phone:
        _gate_reads(api, rotating_code(static, Ed25519PrivateKey.generate(), NOW), NOW)
    assert other_phone.value.reason is ReasonCode.PASS_FORGED


def test_a_link_works_once(api: Api, clock: Clock) -> None:
    token = _link(api, _pass(api))
    assert _claim(api, token)[0] == 200
    status, body = _claim(api, token)
    assert status == 410 and body["code"] == "link_spent"
    assert "already used" in str(body["message"])


def test_a_newer_link_voids_the_older_one(api: Api, clock: Clock) -> None:
    pass_id = _pass(api)
    older, newer = _link(api, pass_id), _link(api, pass_id)
    assert _claim(api, older)[0] == 410
    assert _claim(api, newer)[0] == 200


def test_a_link_expires_after_the_configured_hours(api: Api, clock: Clock) -> None:
    assert api.settings.pass_link_hours == 72
    token, fresh = _link(api, _pass(api)), _link(api, _pass(api))
    clock.now = NOW + timedelta(hours=72)
    status, body = _claim(api, token)
    assert status == 410 and "expired" in str(body["message"])
    clock.now = NOW + timedelta(hours=71, minutes=59)
    assert _claim(api, fresh)[0] == 200


def test_revoked_and_expired_passes_get_no_link_and_cannot_be_claimed(
    api: Api, clock: Clock
) -> None:
    admin = api.as_(Role.ADMIN)
    pass_id = _pass(api)
    token = _link(api, pass_id)
    revoke = api.client.post(
        f"/api/v1/passes/{pass_id}/revoke", json={"reason": "lost"}, headers=admin
    )
    assert revoke.status_code == 200, revoke.text
    status, body = _claim(api, token)
    assert status == 409 and "revoked" in str(body["message"])
    again = api.client.post(f"/api/v1/passes/{pass_id}/link", headers=admin)
    assert again.status_code == 409 and "revoked" in again.json()["message"]

    ending = _pass(api, days=2)
    late = _link(api, ending)
    clock.now = START + timedelta(days=2)
    assert _claim(api, late)[0] == 409
    expired = api.client.post(f"/api/v1/passes/{ending}/link", headers=admin)
    assert expired.status_code == 409 and "expired" in expired.json()["message"]


def test_a_suspended_pass_gets_no_link_until_it_is_resumed(api: Api, clock: Clock) -> None:
    admin = api.as_(Role.ADMIN)
    pass_id = _pass(api)
    token = _link(api, pass_id)
    suspend = api.client.post(
        f"/api/v1/passes/{pass_id}/suspend", json={"reason": "fees unpaid"}, headers=admin
    )
    assert suspend.status_code == 200, suspend.text
    status, body = _claim(api, token)
    assert status == 409 and "suspended" in str(body["message"])
    refused = api.client.post(f"/api/v1/passes/{pass_id}/link", headers=admin)
    assert refused.status_code == 409 and "resume it first" in refused.json()["message"]
    resume = api.client.post(
        f"/api/v1/passes/{pass_id}/resume", json={"reason": "fees paid"}, headers=admin
    )
    assert resume.status_code == 200, resume.text
    assert _claim(api, token)[0] == 200  # the refused claim spent nothing


def test_making_and_claiming_a_link_is_audited(api: Api, clock: Clock) -> None:
    pass_id = _pass(api)
    token = _link(api, pass_id, Role.MANAGER)
    _, public = _phone()
    assert _claim(api, token, public)[0] == 200
    with api.sessions() as session:
        entries = session.scalars(
            select(m.AuditEntry).where(m.AuditEntry.entity == "pass_link").order_by(m.AuditEntry.id)
        ).all()
        link = session.scalars(select(m.PassLink).where(m.PassLink.pass_id == pass_id)).one()
    made, claimed = entries
    assert (made.action, made.actor_id) == ("create", api.campus.user(Role.MANAGER).id)
    assert made.after is not None and made.after["pass_id"] == pass_id
    assert (claimed.action, claimed.actor_id) == ("claim", None)
    assert claimed.after is not None
    assert claimed.after["holder_key"] == base64.b64decode(public).hex()
    assert link.token_hash != token and token not in str(made.after)


@pytest.mark.parametrize(
    "token",
    [
        "x" * 43,  # the right shape, no such link
        "a\x00b",
        "\x00" * 43,
        "A" * 10_000,
        "../../etc/passwd",
        "%",
        "' OR 1=1 --",
    ],
)
def test_wrong_and_hostile_tokens_are_refused_plainly(sqlite_api: Api, token: str) -> None:
    from urllib.parse import quote

    response = sqlite_api.client.post(
        f"/api/v1/pass-links/{quote(token, safe='')}/claim", json={"holder_key": _phone()[1]}
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["code"] in ("not_found", "invalid_input")


@pytest.mark.parametrize(
    ("holder_key", "problem"),
    [
        (base64.b64encode(b"\x01" * 31).decode(), "32 bytes"),
        (base64.b64encode(b"\x01" * 33).decode(), "32 bytes"),
        ("not base64!", "base64"),
        ("", "32 bytes"),
        ("A" * 10_000, "64"),
        ("AAAA\x00AAAA", "base64"),
    ],
)
def test_a_public_key_that_is_not_an_ed25519_key_is_422(
    sqlite_api: Api, holder_key: str, problem: str
) -> None:
    api = sqlite_api
    token = _link(api, _pass(api))
    status, body = _claim(api, token, holder_key)
    assert status == 422, body
    assert problem in str(body["fields"])
    assert _claim(api, token)[0] == 200  # a refused claim spends nothing


def test_claims_take_only_the_key(sqlite_api: Api) -> None:
    token = _link(sqlite_api, _pass(sqlite_api))
    response = sqlite_api.client.post(
        f"/api/v1/pass-links/{token}/claim",
        json={"holder_key": _phone()[1], "pass_id": 1},
    )
    assert response.status_code == 422


def test_without_a_signing_key_the_claim_spends_nothing(sqlite_api: Api) -> None:
    api = sqlite_api
    pass_id = _pass(api)
    token = _link(api, pass_id)
    with api.sessions() as session:
        for key in session.scalars(select(m.SigningKey)):
            key.activated_at = None
        session.commit()
    status, body = _claim(api, token)
    assert status == 409 and "no signing key" in str(body["message"])
    with api.sessions() as session:
        keys.ensure_active_key(session, api.settings.secret_key)
        session.commit()
    assert _claim(api, token)[0] == 200


def test_only_admins_and_managers_make_links_and_managers_see_only_their_passes(
    sqlite_api: Api,
) -> None:
    pass_id = _pass(sqlite_api)
    for role, expected in ((Role.SUPERVISOR, 403), (Role.TECHNICIAN, 403)):
        response = sqlite_api.client.post(
            f"/api/v1/passes/{pass_id}/link", headers=sqlite_api.as_(role)
        )
        assert response.status_code == expected
    anonymous = sqlite_api.client.post(f"/api/v1/passes/{pass_id}/link")
    assert anonymous.status_code == 401
    missing = sqlite_api.client.post(
        "/api/v1/passes/999999/link", headers=sqlite_api.as_(Role.ADMIN)
    )
    assert missing.status_code == 404


def test_the_page_and_its_files_are_served_from_the_coordinator(sqlite_api: Api) -> None:
    client = sqlite_api.client
    page = client.get("/p/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("phone-pass.js", "qrcode.js", "style.css"):
        assert f'"/p/{name}"' in page.text
    for name in ("phone-pass.js", "qrcode.js", "sw.js", "style.css"):
        assert client.get(f"/p/{name}").status_code == 200, name
    assert "https://" not in page.text  # no CDN
    for hostile in ("../app.py", "%2e%2e%2fapp.py", "index.html", "x" * 5000):
        assert client.get(f"/p/{hostile}").status_code == 404, hostile


def test_the_vendored_qr_encoder_is_the_one_recorded_in_the_dependencies() -> None:
    import hashlib
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    vendored = repo / "coordinator" / "static" / "vendor" / "qrcode-generator-2.0.4.js"
    digest = hashlib.sha256(vendored.read_bytes()).hexdigest()
    assert digest in (repo / "docs" / "dependencies.md").read_text(encoding="utf-8")
    assert (vendored.parent / "LICENCE-qrcode-generator.txt").exists()


def test_of_two_phones_claiming_one_link_at_once_exactly_one_gets_the_pass(
    api: Api, clock: Clock
) -> None:
    """Deterministic interleaving on PostgreSQL: the second claim runs while the first is
    uncommitted, waits for its row, and is then refused; without the conditional update both
    phones would hold the pass."""
    import threading

    from coordinator.services.pass_links import LinkSpentError, claim_link
    from tests.coordinator.test_overlap_concurrency import _waits_for_a_lock

    if api.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: the race is PostgreSQL's")
    token = _link(api, _pass(api))
    outcome: list[str] = []
    with api.sessions() as first:
        claim_link(first, token=token, holder_key=b"\x01" * 32, now=NOW)  # uncommitted

        def second() -> None:
            with api.sessions() as session:
                try:
                    claim_link(session, token=token, holder_key=b"\x02" * 32, now=NOW)
                    session.commit()
                    outcome.append("claimed")
                except LinkSpentError as error:
                    outcome.append(str(error))

        racer = threading.Thread(target=second)
        racer.start()
        assert _waits_for_a_lock(api.sessions, racer), "the second claim did not wait"
        first.commit()
    racer.join(10)
    assert len(outcome) == 1 and "a moment ago" in outcome[0]
    with api.sessions() as session:
        link = session.scalars(select(m.PassLink)).one()
        assert link.holder_key == "01" * 32
