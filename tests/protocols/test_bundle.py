"""Bundles: signed over their exact bytes, refused with a reason, secrets sealed to one device."""

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import ValidationError

from protocols import BundleRefusal, CommandName, Station, decode_on_topic, encode, parse_topic
from protocols.bundle import (
    Bundle,
    DeviceBinding,
    card_key_context,
    parse_person_ref,
    templates_context,
)
from protocols.cards import card_uid_hash
from protocols.errors import ProtocolError
from protocols.messages import SignedBundle
from protocols.sealing import SealError, open_box, seal
from protocols.sender import Sender
from protocols.signing import (
    BundleRefusedError,
    check_bundle,
    content_hash,
    load_bundle_file,
    new_signing_key,
    sign_bundle,
    unsigned_bundle,
)
from protocols.templates import pack_templates, unpack_templates
from protocols.topics import command_topic
from tests.protocols.bundles import CARD_KEY, SUPERVISOR, door_bundle

DEVICE_KEY = X25519PrivateKey.generate()
SIGNING_KEY = new_signing_key()
TRUSTED = {"k1": SIGNING_KEY.public_key()}


def _refusal(
    signed: SignedBundle,
    *,
    held: int | None = None,
    held_hash: str | None = None,
    device_id: str = "door-01",
) -> BundleRefusal:
    with pytest.raises(BundleRefusedError) as caught:
        check_bundle(
            signed,
            trusted_keys=TRUSTED,
            device_id=device_id,
            held_version=held,
            held_hash=held_hash,
        )
    return caught.value.refusal


def test_a_signed_bundle_checks_out_and_round_trips_on_the_bundle_topic() -> None:
    bundle = door_bundle(DEVICE_KEY, version=3)
    signed = sign_bundle(bundle, SIGNING_KEY)
    envelope = Sender("door-01").sequenced(signed)
    topic = parse_topic(command_topic("north", "door-01", CommandName.BUNDLE))
    received = decode_on_topic(topic, encode(envelope, max_bytes=2**24), max_bytes=2**24)
    assert isinstance(received.payload, SignedBundle)
    checked = check_bundle(
        received.payload, trusted_keys=TRUSTED, device_id="door-01", held_version=2
    )
    assert checked == bundle


def test_tampered_body_is_refused() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY), SIGNING_KEY)
    body = json.loads(signed.body)
    body["roster"][0]["name"] = "Mallory"
    forged = signed.model_copy(update={"body": json.dumps(body)})
    assert _refusal(forged) is BundleRefusal.TAMPERED


def test_swapped_key_id_is_refused_even_when_both_keys_are_trusted() -> None:
    other = new_signing_key()
    signed = sign_bundle(door_bundle(DEVICE_KEY, key_id="k2"), other)
    relabelled = signed.model_copy(update={"key_id": "k1"})
    assert _refusal(relabelled) is BundleRefusal.TAMPERED


def test_older_bundle_is_refused() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY, version=4), SIGNING_KEY)
    assert _refusal(signed, held=5) is BundleRefusal.OLDER


def test_same_version_with_other_bytes_is_refused_as_replayed() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY, version=5), SIGNING_KEY)
    assert _refusal(signed, held=5, held_hash="0" * 64) is BundleRefusal.REPLAYED


def test_the_bundle_in_force_arriving_again_is_accepted_for_a_new_ack() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY, version=5), SIGNING_KEY)
    again = check_bundle(
        signed,
        trusted_keys=TRUSTED,
        device_id="door-01",
        held_version=5,
        held_hash=content_hash(signed.body),
    )
    assert again.version == 5


def test_bundle_for_another_device_is_refused_as_foreign() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY, device_id="door-02"), SIGNING_KEY)
    assert _refusal(signed) is BundleRefusal.FOREIGN


def test_unsigned_bundle_is_refused() -> None:
    assert _refusal(unsigned_bundle(door_bundle(DEVICE_KEY))) is BundleRefusal.UNSIGNED


def test_bundle_signed_by_an_unknown_key_is_refused() -> None:
    signed = sign_bundle(door_bundle(DEVICE_KEY, key_id="k9"), new_signing_key())
    assert _refusal(signed) is BundleRefusal.UNKNOWN_KEY


def test_signed_garbage_is_refused_as_malformed_not_crashing() -> None:
    body = '{"type": "bundle_body", "version": -1, "x": "\\u0000"}'
    signature = base64.b64encode(SIGNING_KEY.sign(body.encode())).decode()
    garbage = SignedBundle(key_id="k1", signature=signature, body=body)
    assert _refusal(garbage) is BundleRefusal.MALFORMED


def test_a_door_binding_names_a_room_and_only_a_room() -> None:
    with pytest.raises(ValidationError):
        DeviceBinding(station=Station.DOOR, site="north", gate_ref="1", place_name="x")
    with pytest.raises(ValidationError):
        DeviceBinding(
            station=Station.DOOR, site="north", room_ref="1", gate_ref="2", place_name="x"
        )


def test_person_refs_are_checked() -> None:
    assert parse_person_ref(SUPERVISOR)[1] == 7
    for bad in ("user-0", "user-", "admin-3", "user-1\x00", "student-" + "9" * 20):
        with pytest.raises(ProtocolError):
            parse_person_ref(bad)


def test_templates_open_only_on_the_device_and_for_the_person_they_were_sealed_for() -> None:
    bundle = door_bundle(DEVICE_KEY, descriptors=[[0.5] * 128])
    sealed = bundle.roster[0].templates
    assert sealed is not None
    box = sealed.sealed
    opened = open_box(box, DEVICE_KEY, templates_context("door-01", SUPERVISOR))
    assert unpack_templates(opened) == [tuple([0.5] * 128)]
    with pytest.raises(SealError):
        open_box(box, X25519PrivateKey.generate(), templates_context("door-01", SUPERVISOR))
    with pytest.raises(SealError):
        open_box(box, DEVICE_KEY, templates_context("door-01", "user-8"))
    flipped = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(SealError):
        open_box(flipped, DEVICE_KEY, templates_context("door-01", SUPERVISOR))


def test_the_sealed_card_key_hashes_a_tap_as_the_coordinator_stored_it() -> None:
    bundle = door_bundle(DEVICE_KEY, card_uid="04:a1:b2:c3")
    assert bundle.card_key is not None
    key = open_box(bundle.card_key, DEVICE_KEY, card_key_context("door-01"))
    assert bundle.person_by_card(card_uid_hash(key, "04 A1 B2 C3")) == bundle.roster[0]
    assert card_uid_hash(key, "04A1B2C3") == card_uid_hash(CARD_KEY, "04a1b2c3")


@pytest.mark.parametrize("uid", ["", "  ", "a\x00b", "F" * 65])
def test_unusable_card_uids_are_refused(uid: str) -> None:
    with pytest.raises(ProtocolError):
        card_uid_hash(CARD_KEY, uid)


@pytest.mark.parametrize(
    "data", [b"", b"\x01\x00\x00\x00", b"\xff\xff\xff\xff" + bytes(512), bytes(4 + 511)]
)
def test_malformed_template_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack_templates(data)


def test_template_rows_must_have_128_values() -> None:
    with pytest.raises(ProtocolError):
        pack_templates([[0.0] * 127])


def test_sealing_binds_the_context() -> None:
    box = seal(b"secret", DEVICE_KEY.public_key(), b"a")
    assert open_box(box, DEVICE_KEY, b"a") == b"secret"
    with pytest.raises(SealError):
        open_box(box[:10], DEVICE_KEY, b"a")


def test_bundle_files_load_signed_or_plain_for_development(tmp_path: Path) -> None:
    bundle = door_bundle(DEVICE_KEY)
    signed_file, plain_file = tmp_path / "signed.json", tmp_path / "plain.json"
    signed_file.write_text(sign_bundle(bundle, SIGNING_KEY).model_dump_json())
    plain_file.write_text(bundle.model_dump_json())
    assert load_bundle_file(signed_file, trusted_keys=TRUSTED) == bundle
    assert load_bundle_file(plain_file, allow_unsigned=True) == bundle
    with pytest.raises(BundleRefusedError) as caught:
        load_bundle_file(plain_file, trusted_keys=TRUSTED)
    assert caught.value.refusal is BundleRefusal.UNSIGNED
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(BundleRefusedError):
        load_bundle_file(tmp_path / "junk.json", allow_unsigned=True)


def test_gate_rules_come_with_gate_stations_only() -> None:
    bundle = door_bundle(DEVICE_KEY)
    data = json.loads(bundle.model_dump_json())
    data["gate"] = {"zone": "main", "time_zone": "UTC"}
    with pytest.raises(ValidationError):
        Bundle.model_validate(data)
