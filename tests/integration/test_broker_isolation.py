"""The broker keeps devices apart from the coordinator and from each other (real Mosquitto).

Each attack is one a device's valid credentials allow on a broker configured with an ACL file
only: joining the coordinator's shared subscription (and so taking a share of the fleet's
events away from it), subscribing beyond its own commands, connecting under the coordinator's
or another device's client id (and so throwing it off), and sending a message too big to keep.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from coordinator.broker_config import BrokerLimits
from protocols import (
    CommandName,
    EventKind,
    command_topic,
    coordinator_state_filter,
    coordinator_state_topic,
    event_topic,
    fleet_filters,
    receipt_topic,
)
from protocols.topics import shared_filter
from tests.fixtures.broker import COORDINATOR_USER, Broker, BrokerFactory

pytestmark = pytest.mark.integration

SITE = "main"
GROUP = "coordinator"
DEVICES = ["door-01", "door-02"]
EVENTS = fleet_filters(SITE)[0]


@dataclass
class Client:
    """A paho client that records its connection result, grants, deliveries and acks."""

    paho: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    refused: list[str] = field(default_factory=list)
    dropped: threading.Event = field(default_factory=threading.Event)
    granted: list[list[str]] = field(default_factory=list)
    subscribed: threading.Event = field(default_factory=threading.Event)
    received: list[bytes] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)

    def subscribe(self, *filters: str) -> list[str]:
        self.subscribed.clear()
        self.paho.subscribe([(f, 1) for f in filters])
        assert self.subscribed.wait(5), "no SUBACK"
        return self.granted[-1]

    def publish(self, topic: str, body: bytes) -> None:
        self.paho.publish(topic, body, qos=1).wait_for_publish(5)


@contextmanager
def connected(broker: Broker, user: str, client_id: str) -> Iterator[Client]:
    paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client = Client(paho)
    paho.username_pw_set(user, broker.users[user])

    def when_connected(c: mqtt.Client, u: object, f: object, code: ReasonCode, p: object) -> None:
        (client.refused.append(str(code)) if code.is_failure else client.connected.set())

    paho.on_connect = when_connected
    paho.on_disconnect = lambda *_: client.dropped.set()

    def when_subscribed(
        c: mqtt.Client, u: object, mid: int, codes: list[ReasonCode], p: object
    ) -> None:
        client.granted.append([str(code) for code in codes])
        client.subscribed.set()

    paho.on_subscribe = when_subscribed
    paho.on_message = lambda c, u, message: client.received.append(bytes(message.payload))
    paho.on_publish = lambda c, u, mid, code, p: client.acks.append(str(code))
    paho.reconnect_delay_set(30, 30)  # no automatic return while a test looks
    paho.connect(broker.host, broker.port)
    paho.loop_start()
    try:
        client.connected.wait(5)
        yield client
    finally:
        paho.disconnect()
        paho.loop_stop()


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> Broker:
    return broker_factory(auth=True, device_ids=DEVICES, worker_accounts=["coordinator-ingest-2"])


def _wait_for(client: Client, count: int) -> None:
    """Wait for `count` deliveries: a PINGless round trip through the broker ends the wait."""
    deadline = threading.Event()
    for _ in range(100):
        if len(client.received) >= count:
            return
        deadline.wait(0.05)
    raise AssertionError(f"expected {count} deliveries, got {len(client.received)}")


def test_a_device_cannot_join_the_coordinators_shared_subscription(broker: Broker) -> None:
    with (
        connected(broker, COORDINATOR_USER, "coordinator-ingest-1") as coordinator,
        connected(broker, "door-01", "door-01") as thief,
        connected(broker, "door-02", "door-02") as door,
    ):
        assert coordinator.subscribe(shared_filter(GROUP, EVENTS)) == ["Granted QoS 1"]
        assert thief.subscribe(shared_filter(GROUP, EVENTS)) == ["Not authorized"]
        for n in range(20):
            door.publish(event_topic(SITE, "door-02", EventKind.HEARTBEAT), b"%d" % n)
        _wait_for(coordinator, 20)
        assert sorted(coordinator.received) == sorted(b"%d" % n for n in range(20))
        assert thief.received == []


def test_a_device_may_subscribe_only_to_its_own_commands(broker: Broker) -> None:
    own = command_topic(SITE, "door-01", CommandName.OPEN)
    other = command_topic(SITE, "door-02", CommandName.OPEN)
    with connected(broker, "door-01", "door-01") as device:
        granted = device.subscribe(own, other, "#", "$share/x/#", EVENTS, "$SYS/#")
    assert granted == ["Granted QoS 1"] + ["Not authorized"] * 5


def test_a_device_reads_its_own_receipts_and_the_coordinators_state_only(
    broker: Broker,
) -> None:
    with connected(broker, "door-01", "door-01") as device:
        granted = device.subscribe(
            receipt_topic(SITE, "door-01"),
            coordinator_state_filter(),
            receipt_topic(SITE, "door-02"),
            "campus/v1/+/+/receipt",
        )
    assert granted == ["Granted QoS 1"] * 2 + ["Not authorized"] * 2


def test_a_device_cannot_forge_receipts_or_the_coordinators_state(broker: Broker) -> None:
    with (
        connected(broker, COORDINATOR_USER, "coordinator-ingest-1") as coordinator,
        connected(broker, "door-01", "door-01") as forger,
        connected(broker, "door-02", "door-02") as victim,
    ):
        assert (
            victim.subscribe(receipt_topic(SITE, "door-02"), coordinator_state_filter())
            == ["Granted QoS 1"] * 2
        )
        coordinator.subscribe(EVENTS)
        forger.publish(receipt_topic(SITE, "door-02"), b"forged receipt")
        forger.publish(receipt_topic(SITE, "door-01"), b"forged receipt")
        forger.publish(coordinator_state_topic("coordinator-ingest-1"), b"forged state")
        forger.publish(event_topic(SITE, "door-01", EventKind.HEARTBEAT), b"sentinel")
        _wait_for(coordinator, 1)  # the sentinel went through the broker after the forgeries
        assert forger.acks[:3] == ["Not authorized"] * 3
    assert coordinator.received == [b"sentinel"]
    assert victim.received == []


@pytest.mark.parametrize("stolen_id", ["coordinator-ingest-1", "door-02"])
def test_a_device_cannot_take_over_another_session(broker: Broker, stolen_id: str) -> None:
    owner_user = COORDINATOR_USER if stolen_id.startswith("coordinator") else stolen_id
    with (
        connected(broker, owner_user, stolen_id) as owner,
        connected(broker, "door-01", stolen_id) as intruder,
    ):
        assert owner.connected.is_set()
        assert intruder.refused and not intruder.connected.is_set()
        assert not owner.dropped.is_set()


def test_each_ingest_worker_has_its_own_account(broker: Broker) -> None:
    with (
        connected(broker, COORDINATOR_USER, "coordinator-ingest-1") as first,
        connected(broker, "coordinator-ingest-2", "coordinator-ingest-2") as second,
        connected(broker, "door-01", "door-01") as door,
    ):
        for worker in (first, second):
            assert worker.subscribe(shared_filter(GROUP, EVENTS)) == ["Granted QoS 1"]
        for n in range(40):
            door.publish(event_topic(SITE, "door-01", EventKind.HEARTBEAT), b"%d" % n)
        _wait_for(first, 1)
        _wait_for(second, 1)
        deadline = threading.Event()
        for _ in range(100):
            if len(first.received) + len(second.received) >= 40:
                break
            deadline.wait(0.05)
        assert sorted(first.received + second.received) == sorted(b"%d" % n for n in range(40))


def test_a_message_over_the_size_limit_is_refused_by_the_broker(broker: Broker) -> None:
    """Mosquitto drops the message and the connection of its sender; nothing reaches us."""
    limit = BrokerLimits().message_size_limit
    topic = event_topic(SITE, "door-01", EventKind.HEARTBEAT)
    with connected(broker, COORDINATOR_USER, "coordinator-ingest-1") as coordinator:
        coordinator.subscribe(shared_filter(GROUP, EVENTS))
        with connected(broker, "door-01", "door-01") as door:
            door.paho.publish(topic, b"x" * (limit + 1), qos=1)
            assert door.dropped.wait(5)
        with connected(broker, "door-01", "door-01") as door:
            door.publish(topic, b"small")
        _wait_for(coordinator, 1)
    assert coordinator.received == [b"small"]


def test_the_production_template_has_the_generated_limits() -> None:
    template = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
    lines = template.read_text(encoding="utf-8").splitlines()
    assert set(BrokerLimits().lines()) <= set(lines)
    assert "persistence true" in lines
