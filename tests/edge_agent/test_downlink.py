"""The device's downlink: bundles verified, applied whole or refused with a reason; commands."""

import json
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.link.downlink import CommandRefusedError, Downlink
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import (
    BundleSecrets,
    DeviceKeyError,
    create_device_key,
    load_device_key,
)
from protocols import (
    BundleAck,
    BundleRefusal,
    BundleStatus,
    CommandName,
    CommandResult,
    CommandStatus,
    ConfigChange,
    OpenDoor,
    Passage,
    Reboot,
    Sender,
    SignedBundle,
    command_topic,
    encode,
)
from protocols.bundle import Bundle, PublicKey
from protocols.cards import card_uid_hash
from protocols.messages import AckPayload, CommandPayload
from protocols.sealing import public_key_text as device_public_key_text
from protocols.signing import content_hash, public_key_text, sign_bundle, unsigned_bundle
from tests.protocols.bundles import CARD_KEY, door_bundle

DEVICE = "door-01"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BUNDLE_TOPIC = command_topic("north", DEVICE, CommandName.BUNDLE)


@dataclass
class Actions:
    opened: list[float] = field(default_factory=list)
    reboots: list[str] = field(default_factory=list)
    configs: list[Mapping[str, object]] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)

    def open_door(self, hold_s: float) -> None:
        self.opened.append(hold_s)

    def reboot(self, reason: str) -> None:
        self.reboots.append(reason)

    def change_config(self, settings: Mapping[str, str | int | float | bool]) -> None:
        if "pin_relay" in settings:
            raise CommandRefusedError("pin_relay is not a setting the profile lets change")
        self.configs.append(settings)

    def note_passage(self, passage: Passage) -> None:
        self.passages.append(passage)


@dataclass
class Device:
    downlink: Downlink
    store: BundleStore
    key: X25519PrivateKey
    signer: Ed25519PrivateKey
    replies: list[AckPayload]
    actions: Actions
    applied: list[int]

    def send(self, payload: CommandPayload, topic: str | None = None) -> AckPayload:
        envelope = Sender(DEVICE).sequenced(payload)
        name = CommandName(payload.type)
        self.downlink.receive(
            topic or command_topic("north", DEVICE, name), encode(envelope, max_bytes=2**24)
        )
        return self.replies[-1]

    def bundle(self, version: int, **changes: object) -> SignedBundle:
        return sign_bundle(door_bundle(self.key, version=version, **changes), self.signer)  # type: ignore[arg-type]


@pytest.fixture
def device(tmp_path: Path) -> Device:
    key, signer = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    store = BundleStore(tmp_path / "bundle.sqlite3")
    store.trust("k1", public_key_text(signer))
    replies: list[AckPayload] = []
    actions, applied = Actions(), []
    downlink = Downlink(
        DEVICE,
        store=store,
        device_key=key,
        record=replies.append,
        actions=actions,
        clock=lambda: NOW,
        when_applied=lambda bundle: applied.append(bundle.version),
    )
    return Device(downlink, store, key, signer, replies, actions, applied)


def _refusal(reply: AckPayload) -> BundleRefusal | None:
    assert isinstance(reply, BundleAck) and reply.status is BundleStatus.REFUSED
    return reply.refusal


def test_a_new_bundle_is_applied_and_acknowledged_with_version_and_hash(device: Device) -> None:
    signed = device.bundle(1)
    reply = device.send(signed)
    assert reply == BundleAck(
        bundle_version=1, status=BundleStatus.APPLIED, content_hash=content_hash(signed.body)
    )
    held = device.store.held()
    assert held is not None and held.version == 1 and held.body == signed.body
    current = device.store.current()
    assert current is not None and current.roster[0].name == "Ada Supervisor"


def test_the_retained_copy_arriving_again_is_acknowledged_not_reapplied(device: Device) -> None:
    signed = device.bundle(1)
    device.send(signed)
    reply = device.send(signed)
    assert isinstance(reply, BundleAck) and reply.status is BundleStatus.APPLIED
    assert device.applied == [1]


def _tampered(device: Device) -> SignedBundle:
    signed = device.bundle(2)
    body = json.loads(signed.body)
    body["sessions"][0]["ends_at"] = "2030-01-01T00:00:00Z"
    return signed.model_copy(update={"body": json.dumps(body)})


REFUSALS = {
    "tampered": (_tampered, BundleRefusal.TAMPERED),
    "older": (lambda d: d.bundle(1), BundleRefusal.OLDER),
    "replayed": (lambda d: d.bundle(5, card_uid="FF:FF"), BundleRefusal.REPLAYED),
    "foreign": (lambda d: d.bundle(6, device_id="door-02"), BundleRefusal.FOREIGN),
    "unsigned": (lambda d: unsigned_bundle(door_bundle(d.key, version=6)), BundleRefusal.UNSIGNED),
    "unknown key": (
        lambda d: sign_bundle(
            door_bundle(d.key, version=6, key_id="k9"), Ed25519PrivateKey.generate()
        ),
        BundleRefusal.UNKNOWN_KEY,
    ),
    "sealed to another device": (
        lambda d: sign_bundle(door_bundle(X25519PrivateKey.generate(), version=6), d.signer),
        BundleRefusal.UNREADABLE_SECRETS,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_bad_bundle_is_refused_with_its_reason_and_changes_nothing(
    device: Device, case: str
) -> None:
    device.send(device.bundle(5))
    before = device.store.held()
    make, refusal = REFUSALS[case]
    reply = device.send(make(device))
    assert _refusal(reply) is refusal
    assert isinstance(reply, BundleAck) and reply.reason
    assert device.store.held() == before and device.applied == [5]


def test_an_unreadable_bundle_message_is_refused_as_malformed(device: Device) -> None:
    device.downlink.receive(BUNDLE_TOPIC, b"\xff\x00 not json")
    assert _refusal(device.replies[-1]) is BundleRefusal.MALFORMED


def test_messages_for_another_device_or_channel_are_ignored(device: Device) -> None:
    other = command_topic("north", "door-02", CommandName.BUNDLE)
    device.downlink.receive(other, encode(Sender("door-02").sequenced(device.bundle(1))))
    device.downlink.receive("campus/v1/north/door-01/state", b"{}")
    device.downlink.receive("not/a/topic", b"")
    assert device.replies == [] and device.store.held() is None


def test_a_crash_during_apply_leaves_the_old_bundle_whole(device: Device) -> None:
    device.send(device.bundle(1))
    before, keys_before = device.store.held(), device.store.trusted_keys().keys()
    rotated = door_bundle(device.key, version=2)
    rotated = rotated.model_copy(
        update={"signing_keys": [PublicKey(key_id="k2", public_key=public_key_text(device.signer))]}
    )
    signed = sign_bundle(rotated, device.signer)

    def power_cut() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        device.store.apply(rotated, signed.body, before_commit=power_cut)
    assert device.store.held() == before
    assert device.store.trusted_keys().keys() == keys_before


def test_a_rotation_bundle_replaces_the_trusted_keys(device: Device) -> None:
    new_signer = Ed25519PrivateKey.generate()
    announcing = door_bundle(device.key, version=1).model_copy(
        update={
            "signing_keys": [
                PublicKey(key_id="k1", public_key=public_key_text(device.signer)),
                PublicKey(key_id="k2", public_key=public_key_text(new_signer)),
            ]
        }
    )
    device.send(sign_bundle(announcing, device.signer))
    reply = device.send(sign_bundle(door_bundle(device.key, version=2, key_id="k2"), new_signer))
    assert isinstance(reply, BundleAck) and reply.status is BundleStatus.APPLIED


_CHILD = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from edge_agent.store.bundle import BundleStore
from tests.protocols.bundles import door_bundle
store = BundleStore(Path(sys.argv[1]))
key = X25519PrivateKey.generate()
for version in range(2, 100_000):
    bundle = door_bundle(key, version=version, descriptors=[[version / 1e5] * 128] * 8)
    store.apply(bundle, bundle.model_dump_json())
    print(version, flush=True)
"""


@pytest.mark.parametrize("applied_before_kill", [1, 7, 23])
def test_a_killed_agent_leaves_one_whole_bundle(tmp_path: Path, applied_before_kill: int) -> None:
    path = tmp_path / "bundle.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    for _ in range(applied_before_kill):
        child.stdout.readline()
    child.kill()
    child.wait(timeout=30)
    held = BundleStore(path).held()
    assert held is not None and held.version >= applied_before_kill + 1
    assert content_hash(held.body) == held.content_hash
    assert Bundle.model_validate_json(held.body).version == held.version


def test_templates_and_card_key_open_in_memory_with_the_device_key(device: Device) -> None:
    device.send(device.bundle(1, card_uid="04:A1:B2:C3", descriptors=[[0.25] * 128]))
    bundle = device.store.current()
    assert bundle is not None
    secrets = BundleSecrets(DEVICE, device.key)
    assert secrets.templates(bundle.roster[0]) == [tuple([0.25] * 128)]
    key = secrets.card_key(bundle)
    assert key == CARD_KEY and bundle.person_by_card(card_uid_hash(key, "04a1b2c3"))
    with pytest.raises(DeviceKeyError):
        BundleSecrets("door-02", device.key).card_key(bundle)


def test_the_device_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "device.pem"
    public = create_device_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert device_public_key_text(load_device_key(path)) == public
    with pytest.raises(DeviceKeyError):
        create_device_key(path)
    path.write_text("garbage")
    with pytest.raises(DeviceKeyError):
        load_device_key(path)


def _result(reply: AckPayload) -> tuple[CommandStatus, str]:
    assert isinstance(reply, CommandResult)
    return reply.status, reply.detail or ""


def test_an_open_command_pulses_the_door_once_even_if_redelivered(device: Device) -> None:
    command = OpenDoor(command_id=uuid.uuid4(), hold_s=2.5, expires_at=NOW + timedelta(seconds=30))
    assert _result(device.send(command))[0] is CommandStatus.DONE
    device.send(command)
    assert device.actions.opened == [2.5] and len(device.replies) == 1


def test_an_expired_command_is_refused_not_acted_on(device: Device) -> None:
    late = OpenDoor(command_id=uuid.uuid4(), expires_at=NOW - timedelta(seconds=1))
    status, detail = _result(device.send(late))
    assert status is CommandStatus.EXPIRED and "after its expiry" in detail
    assert device.actions.opened == []


def test_reboot_answers_before_restarting(device: Device) -> None:
    status, _ = _result(device.send(Reboot(command_id=uuid.uuid4(), reason="update")))
    assert status is CommandStatus.DONE and device.actions.reboots == ["update"]


def test_a_config_change_outside_the_profile_is_refused(device: Device) -> None:
    allowed = ConfigChange(command_id=uuid.uuid4(), settings={"face_distance_max": 0.5})
    refused = ConfigChange(command_id=uuid.uuid4(), settings={"pin_relay": 4})
    assert _result(device.send(allowed))[0] is CommandStatus.DONE
    status, detail = _result(device.send(refused))
    assert status is CommandStatus.REFUSED and "pin_relay" in detail
    assert device.actions.configs == [{"face_distance_max": 0.5}]
