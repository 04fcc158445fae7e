"""The door station reads its roster from a verified bundle, opened with its own key."""

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.stations.book import book_from_bundle
from tests.protocols.bundles import START, SUPERVISOR, door_bundle

DEVICE_KEY = X25519PrivateKey.generate()


def test_a_card_is_found_by_its_keyed_hash_in_any_spelling() -> None:
    book = book_from_bundle(door_bundle(DEVICE_KEY), DEVICE_KEY)
    for spelling in ("04:A1:B2:C3", "04a1b2c3", " 04 A1 B2 C3 "):
        person = book.find_card(spelling)
        assert person is not None and person.person_ref == SUPERVISOR
    assert book.find_card("DEADBEEF") is None
    assert book.find_card("\x00" * 3) is None  # not a UID: unknown, not a crash


def test_assignments_carry_the_session_window_and_geofence() -> None:
    book = book_from_bundle(door_bundle(DEVICE_KEY, version=4), DEVICE_KEY)
    person = book.find_card("04A1B2C3")
    assert person is not None
    (assignment,) = person.assignments
    assert assignment.assignment_ref == "91" and assignment.starts_at == START
    assert book.geofence is not None and book.geofence.radius_m == 100
    assert book.version == 4


def test_templates_open_in_memory_when_asked() -> None:
    book = book_from_bundle(door_bundle(DEVICE_KEY), DEVICE_KEY)
    person = book.find_card("04A1B2C3")
    assert person is not None
    templates = person.templates()
    assert len(templates) == 2
    assert np.allclose(templates[0], 0.1) and templates[0].dtype == np.float32


def test_templates_sealed_to_another_device_open_as_none() -> None:
    other = X25519PrivateKey.generate()
    bundle = door_bundle(other)
    # The card key is sealed to the other device too, so no card is known either.
    book = book_from_bundle(bundle.model_copy(update={"card_key": None}), DEVICE_KEY)
    assert book.find_card("04A1B2C3") is None
    for person in book.people.values():
        assert person.templates() == ()
