"""A gate's book from its bundle: keys by their real id, its zone's hours, students by card."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.stations.gate_book import gate_book
from protocols import ProtocolError, Station
from protocols.bundle import (
    Bundle,
    DeviceBinding,
    GateRules,
    PublicKey,
    RosterEntry,
    RosterRole,
    TimeRule,
)
from protocols.cards import card_uid_hash
from protocols.passes import pass_key_id
from protocols.signing import public_key_text
from tests.edge_agent.stations.gate_kit import CARD_UID, NOW, SITE, SITE_KEY, ZONE

CARD_KEY = bytes(range(32))


def gate_bundle(**rules: object) -> Bundle:
    fields: dict[str, object] = {
        "zone": ZONE,
        "time_zone": "Europe/London",
        "time_rules": [
            TimeRule(zone=ZONE, weekdays=[1, 2, 3, 4, 5], opens="07:00", closes="22:00"),
            TimeRule(zone="library", weekdays=[6], opens="10:00", closes="11:00"),
        ],
        "pass_keys": [PublicKey(key_id="mislabelled", public_key=public_key_text(SITE_KEY))],
        "revoked_passes": ["p-1"],
        "suspended_passes": ["p-2"],
    }
    return Bundle(
        device_id="gate-01",
        version=3,
        issued_at=NOW,
        valid_until=NOW + timedelta(days=1),
        key_id="k1",
        binding=DeviceBinding(station=Station.GATE, site=SITE, gate_ref="4", place_name="Main"),
        roster=[
            RosterEntry(
                person_ref="student-12",
                role=RosterRole.STUDENT,
                name="Sam Student",
                card_hashes=[card_uid_hash(CARD_KEY, CARD_UID)],
            ),
            RosterEntry(person_ref="user-3", role=RosterRole.SUPERVISOR, name="Ada"),
        ],
        gate=GateRules.model_validate(fields | rules),
    )


def test_the_book_holds_what_the_gate_decides_with() -> None:
    book = gate_book(gate_bundle(), lambda uid: card_uid_hash(CARD_KEY, uid))
    assert (book.site, book.zone, book.version) == (SITE, ZONE, 3)
    assert list(book.pass_keys) == [pass_key_id(SITE_KEY.public_key())]
    assert (book.revoked, book.suspended) == (frozenset({"p-1"}), frozenset({"p-2"}))
    assert book.find_card(CARD_UID) == "student-12"
    assert book.find_card("DEADBEEF") is None
    assert len(book.hours) == 1  # the library's rule is another zone's
    assert book.is_open(NOW)  # Wednesday 10:00
    assert not book.is_open(NOW.replace(hour=23))


def test_without_the_card_key_cards_are_unknown() -> None:
    assert gate_book(gate_bundle()).find_card(CARD_UID) is None


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ProtocolError, match="time zone"):
        gate_book(gate_bundle(time_zone="Mars/Olympus"))


def test_a_door_bundle_is_not_a_gate_book() -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from tests.protocols.bundles import door_bundle

    with pytest.raises(ProtocolError, match="not for a gate"):
        gate_book(door_bundle(X25519PrivateKey.generate()))


def test_another_key_is_not_trusted() -> None:
    other = Ed25519PrivateKey.generate()
    assert pass_key_id(other.public_key()) not in gate_book(gate_bundle()).pass_keys
