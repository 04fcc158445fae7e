"""A gate takes bundles and commands through the same Downlink as a door: a gate bundle is what
the next code is judged by (direction included), a door's bundle is refused, open/reboot/config
are carried out or refused with a reason, expired commands are not acted on, and passages other
gates granted make this gate refuse a passback. In-memory link; the broker tests are in
tests/integration/test_gate_downlink_broker.py."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.config import AgentConfig
from edge_agent.gate_runtime import GateAgent
from edge_agent.profile import GateStationProfile, load_profile
from edge_agent.remote_config import SETTINGS_FILE
from edge_agent.runtime import DEVICE_KEY_FILE
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key, load_device_key
from protocols import (
    Access,
    BundleAck,
    BundleRefusal,
    BundleStatus,
    CommandName,
    CommandResult,
    CommandStatus,
    ConfigChange,
    Direction,
    OpenDoor,
    Passage,
    ReasonCode,
    Reboot,
    Sender,
    SignedBundle,
    ack_topic,
    command_topic,
    decode,
    encode,
)
from protocols.messages import CommandPayload
from protocols.signing import public_key_text, sign_bundle
from tests.edge_agent.stations.gate_kit import HOLDER, NOW, static_pass
from tests.edge_agent.stations.test_gate_book import gate_bundle
from tests.edge_agent.test_runtime import Links
from tests.protocols.bundles import door_bundle

SITE, DEVICE = "north", "gate-01"
SIGNER = Ed25519PrivateKey.generate()


def _wait(condition: Callable[[], bool]) -> bool:
    pause = threading.Event()
    for _ in range(3000):  # the uplink thread handles deliveries; a bounded wait (30 s)
        if condition() or pause.wait(0.01):
            return condition()
    return condition()


def _gate(tmp_path: Path, **config: object) -> tuple[GateAgent, Links]:
    settings = AgentConfig(
        device_id=DEVICE, site=SITE, profile="gate-station-sim", data_dir=tmp_path, **config
    )
    profile = load_profile(settings.profile)
    assert isinstance(profile, GateStationProfile)
    links = Links()
    agent = GateAgent(
        settings, profile, make_link=links, wall_clock=lambda: NOW, is_clock_synced=lambda: True
    )
    return agent, links


def _provision(tmp_path: Path) -> None:
    create_device_key(tmp_path / DEVICE_KEY_FILE)
    store = BundleStore(tmp_path / "bundle.sqlite3")
    store.trust("k1", public_key_text(SIGNER))
    store.close()


class Running:
    """A started gate agent with helpers to talk to it over its (fake) link."""

    def __init__(self, tmp_path: Path, **config: object) -> None:
        self.agent, self.links = _gate(tmp_path, **config)
        self.app = self.agent.app()
        self.app.start()
        self.coordinator = Sender(DEVICE)

    def deliver(self, payload: CommandPayload, *, retained: bool = False) -> None:
        assert self.links.link is not None
        envelope = self.coordinator.sequenced(payload)
        self.links.link.deliver(
            command_topic(SITE, DEVICE, CommandName(payload.type)),
            encode(envelope, max_bytes=2**24),
            retained=retained,
        )

    def acks(self) -> list[object]:
        assert self.links.link is not None
        return [decode(m.body).payload for m in self.links.link.on(ack_topic(SITE, DEVICE))]

    def result(self, command_id: uuid.UUID) -> CommandResult:
        def found() -> list[CommandResult]:
            acks = self.acks()
            return [a for a in acks if isinstance(a, CommandResult) and a.command_id == command_id]

        assert _wait(lambda: bool(found())), "no command result"
        return found()[0]

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Running]:
    _provision(tmp_path)
    running = Running(tmp_path)
    yield running
    running.stop()


def _signed_gate_bundle(version: int, **rules: object) -> SignedBundle:
    bundle = gate_bundle(**rules).model_copy(update={"version": version})
    return sign_bundle(bundle, SIGNER)


def test_a_gate_bundle_from_the_link_is_the_book_of_the_next_code(gate: Running) -> None:
    assert gate.agent.downlink is not None  # attached before the link subscribed
    assert gate.agent.book() is None
    gate.deliver(_signed_gate_bundle(5, direction=Direction.OUT), retained=True)
    assert _wait(lambda: (book := gate.agent.book()) is not None and book.version == 5)
    assert _wait(lambda: bool([a for a in gate.acks() if isinstance(a, BundleAck)]))
    acks = [a for a in gate.acks() if isinstance(a, BundleAck)]
    assert [(a.bundle_version, a.status) for a in acks] == [(5, BundleStatus.APPLIED)]
    assert acks[0].content_hash is not None
    assert gate.agent.station is not None
    gate.agent.station.book = gate.agent.book()
    decision = gate.agent.station.present_code(static_pass())
    assert decision is not None and decision.reason is ReasonCode.OK
    assert gate.agent.station.direction is Direction.OUT  # the bundle's word, not the default


def test_a_door_bundle_is_refused_by_a_gate_with_its_reason(gate: Running) -> None:
    key = load_device_key(gate.agent.config.data_dir / DEVICE_KEY_FILE)
    gate.deliver(sign_bundle(door_bundle(key, device_id=DEVICE, version=2), SIGNER))
    assert _wait(lambda: bool(gate.acks()))
    (ack,) = gate.acks()
    assert isinstance(ack, BundleAck) and ack.status is BundleStatus.REFUSED
    assert ack.refusal is BundleRefusal.FOREIGN and "door station" in (ack.reason or "")
    assert gate.agent.book() is None


def test_a_bundle_the_gate_cannot_use_is_refused_not_stored(gate: Running) -> None:
    gate.deliver(_signed_gate_bundle(2, time_zone="Mars/Olympus_Mons"))
    assert _wait(lambda: bool(gate.acks()))
    (ack,) = gate.acks()
    assert isinstance(ack, BundleAck) and ack.refusal is BundleRefusal.MALFORMED
    assert "time zone" in (ack.reason or "")
    assert gate.agent.bundles is not None and gate.agent.bundles.held() is None


def test_open_pulses_the_turnstile_and_is_answered(gate: Running) -> None:
    command = OpenDoor(command_id=uuid.uuid4(), hold_s=2.5, expires_at=NOW + timedelta(minutes=2))
    gate.deliver(command)
    assert gate.result(command.command_id).status is CommandStatus.DONE
    assert gate.agent.parts is not None
    relay = gate.agent.parts.relay
    assert relay is not None and relay.is_unlocked  # the MockFactory pin the profile names


def test_an_expired_command_is_refused_and_not_acted_on(gate: Running) -> None:
    command = OpenDoor(command_id=uuid.uuid4(), hold_s=2.0, expires_at=NOW - timedelta(seconds=5))
    gate.deliver(command)
    result = gate.result(command.command_id)
    assert result.status is CommandStatus.EXPIRED
    assert gate.agent.parts is not None and gate.agent.parts.relay is not None
    assert not gate.agent.parts.relay.is_unlocked


def test_reboot_answers_then_ends_the_serve_loop(gate: Running) -> None:
    stop = threading.Event()
    gate.agent.stop_requested = stop
    command = Reboot(command_id=uuid.uuid4(), reason="new agent", expires_at=NOW + timedelta(1))
    gate.deliver(command)
    assert gate.result(command.command_id).status is CommandStatus.DONE
    assert stop.is_set()


def test_config_changes_the_heartbeat_within_bounds_and_refuses_the_rest(
    gate: Running, tmp_path: Path
) -> None:
    changed = ConfigChange(command_id=uuid.uuid4(), settings={"heartbeat_interval_s": 12})
    gate.deliver(changed)
    result = gate.result(changed.command_id)
    assert result.status is CommandStatus.DONE
    assert "heartbeat_interval_s=12" in (result.detail or "")
    assert gate.agent.config.heartbeat_interval_s == 12
    assert (tmp_path / SETTINGS_FILE).exists()
    for settings, words in (
        ({"heartbeat_interval_s": 0}, "greater than or equal to 1"),
        ({"heartbeat_interval_s": True}, "must be a number"),
        ({"geofence_radius_m": 50}, "not a setting this station takes"),
        ({"face_distance_max": 0.9}, "calibration"),
    ):
        refused = ConfigChange(command_id=uuid.uuid4(), settings=settings)
        gate.deliver(refused)
        answer = gate.result(refused.command_id)
        assert answer.status is CommandStatus.REFUSED and words in (answer.detail or ""), answer
    assert gate.agent.config.heartbeat_interval_s == 12  # nothing of a refused change applied
    gate.stop()
    again = Running(tmp_path)
    try:
        assert again.agent.config.heartbeat_interval_s == 12  # kept across a restart
    finally:
        again.stop()
    gate.app = again.app  # the fixture stops it once more: harmless


def test_a_passage_at_another_gate_makes_this_one_refuse_a_passback(gate: Running) -> None:
    gate.deliver(_signed_gate_bundle(3, direction=Direction.IN))
    assert _wait(lambda: gate.agent.book() is not None)
    assert gate.agent.station is not None
    gate.agent.station.book = gate.agent.book()
    elsewhere = Passage(
        holder_ref=HOLDER,
        direction=Direction.IN,
        at=NOW - timedelta(minutes=3),
        gate_device_id="gate-02",
        expires_at=NOW + timedelta(hours=12),
    )
    stale = elsewhere.model_copy(update={"holder_ref": "student-99", "expires_at": NOW})
    ahead = elsewhere.model_copy(update={"holder_ref": "student-98", "at": NOW + timedelta(days=9)})
    gate.deliver(stale)
    gate.deliver(ahead)
    gate.deliver(elsewhere)
    assert gate.agent.passback is not None
    assert _wait(lambda: gate.agent.passback.is_passback(HOLDER, Direction.IN, NOW))  # type: ignore[union-attr]
    assert not gate.agent.passback.is_passback("student-99", Direction.IN, NOW)  # expired
    assert not gate.agent.passback.is_passback("student-98", Direction.IN, NOW)  # a clock ahead
    decision = gate.agent.station.present_code(static_pass())
    assert decision is not None and decision.reason is ReasonCode.ANTI_PASSBACK
    assert not [a for a in gate.acks() if isinstance(a, CommandResult)]  # passages go unanswered


def test_before_the_first_bundle_the_configured_direction_is_used(tmp_path: Path) -> None:
    running = Running(tmp_path, gate_direction="out")
    try:
        assert running.agent.station is not None
        assert running.agent.station.direction is Direction.OUT
        decision = running.agent.station.present_code(static_pass())
        assert decision is not None and decision.reason is ReasonCode.NO_BUNDLE
        assert running.agent.uplink is not None and running.agent.uplink.wait_sent(5)
        assert running.links.link is not None
        sent = [decode(m.body).payload for m in running.links.link.sent]
        assert [a.direction for a in sent if isinstance(a, Access)] == [Direction.OUT]
    finally:
        running.stop()
