"""Sample bundles for tests: a door station's bundle with one supervisor, sealed to a device key."""

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocols import Station
from protocols.bundle import (
    Bundle,
    BundleSession,
    DeviceBinding,
    Geofence,
    PersonKind,
    RosterEntry,
    RosterRole,
    RosterSession,
    SealedTemplates,
    card_key_context,
    person_ref,
    templates_context,
)
from protocols.cards import card_uid_hash
from protocols.sealing import seal
from protocols.templates import pack_templates

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CARD_KEY = bytes(range(32))
SUPERVISOR = person_ref(PersonKind.USER, 7)


def door_bundle(
    device_key: X25519PrivateKey,
    *,
    device_id: str = "door-01",
    version: int = 1,
    key_id: str = "k1",
    card_uid: str = "04:A1:B2:C3",
    descriptors: list[list[float]] | None = None,
) -> Bundle:
    public = device_key.public_key()
    templates = pack_templates(descriptors or [[0.1] * 128, [0.2] * 128])
    session = BundleSession(
        session_ref="31",
        exam_code="MATH-101",
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        check_in_opens_at=START - timedelta(minutes=30),
        check_in_closes_at=START + timedelta(minutes=15),
    )
    supervisor = RosterEntry(
        person_ref=SUPERVISOR,
        role=RosterRole.SUPERVISOR,
        name="Ada Supervisor",
        card_hashes=[card_uid_hash(CARD_KEY, card_uid)],
        templates=SealedTemplates(
            model="facenet-128",
            sealed=seal(templates, public, templates_context(device_id, SUPERVISOR)),
        ),
        sessions=[RosterSession(session_ref="31", assignment_ref="91")],
    )
    return Bundle(
        device_id=device_id,
        version=version,
        issued_at=START - timedelta(hours=1),
        valid_until=START + timedelta(hours=24),
        key_id=key_id,
        binding=DeviceBinding(
            station=Station.DOOR,
            site="north",
            room_ref="5",
            place_name="Room 101",
            geofence=Geofence(latitude=52.2, longitude=0.12, radius_m=100),
        ),
        sessions=[session],
        roster=[supervisor],
        card_key=seal(CARD_KEY, public, card_key_context(device_id)),
    )
