"""The uplink against a real Mosquitto: nothing recorded is lost, offline events arrive replayed."""

import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.device import open_device
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    EventKind,
    decode,
    event_topic,
    state_topic,
)
from tests.edge_agent.behaviours import assert_publishes_birth_and_will
from tests.fixtures.broker import COORDINATOR_USER, BrokerFactory
from tests.fixtures.watch import Watcher

pytestmark = pytest.mark.integration

SITE = "main"


def _config(tmp_path: Path, port: int, device_id: str = "door-01") -> AgentConfig:
    return AgentConfig(
        device_id=device_id,
        site=SITE,
        profile="door-station-sim",
        data_dir=tmp_path / device_id,
        broker=BrokerConfig(port=port, reconnect_min_s=1, reconnect_max_s=1),
    )


def _check_in(person: str) -> Attendance:
    return Attendance(action=AttendanceAction.CHECK_IN, person_ref=person)


def test_online_events_are_sent_once_acked_and_leave_the_outbox(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = broker_factory()
    watcher = Watcher(broker)
    device = open_device(_config(tmp_path, broker.port))
    try:
        watcher.wait_for(state_topic(SITE, "door-01"))
        sent = [device.uplink.record(_check_in(f"p{n}")) for n in range(5)]
        assert device.uplink.wait_drained(10)
        topic = event_topic(SITE, "door-01", EventKind.ATTENDANCE)
        received = [decode(item.body) for item in watcher.wait_for(topic, 5)]
        assert received == sent
        assert not any(envelope.replayed for envelope in received)
    finally:
        device.close()
        watcher.stop()


def test_events_recorded_while_offline_arrive_later_marked_replayed(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = broker_factory(persistence=True)
    watcher = Watcher(broker, persistent=True)
    broker.stop()
    device = open_device(_config(tmp_path, broker.port))
    try:
        recorded = [device.uplink.record(_check_in(f"p{n}")) for n in range(3)]
        assert device.outbox.count() == 3  # on disk before any network
        broker.start()
        assert device.uplink.wait_drained(20)
        topic = event_topic(SITE, "door-01", EventKind.ATTENDANCE)
        received = [decode(item.body) for item in watcher.wait_for(topic, 3, timeout=20)]
        assert [e.message_id for e in received] == [e.message_id for e in recorded]
        assert all(envelope.replayed for envelope in received)
    finally:
        device.close()
        watcher.stop()


def test_the_outbox_survives_an_agent_restart(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = broker_factory()
    broker.stop()
    config = _config(tmp_path, broker.port)
    first_run = open_device(config)
    recorded = first_run.uplink.record(_check_in("p1"))
    first_run.close()  # power cut before the broker came back

    broker.start()
    watcher = Watcher(broker)
    second_run = open_device(config)
    try:
        topic = event_topic(SITE, "door-01", EventKind.ATTENDANCE)
        received = decode(watcher.wait_for(topic)[0].body)
        assert received.message_id == recorded.message_id
        assert received.boot_id == recorded.boot_id  # sent as it was made, in its old boot
        assert second_run.uplink.wait_drained(10)
    finally:
        second_run.close()
        watcher.stop()


def test_a_crashed_device_leaves_a_retained_death(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = broker_factory()
    command = [
        sys.executable,
        "-m",
        "edge_agent",
        "simulate",
        "--devices",
        "1",
        "--site",
        SITE,
        "--broker-port",
        str(broker.port),
        "--forever",
        "--interval",
        "0.2",
        "--id-prefix",
        "door",
        "--data-dir",
        str(tmp_path),
    ]
    assert_publishes_birth_and_will(broker, SITE, "door-01", command)


def test_the_broker_keeps_each_device_to_its_own_topics(broker_factory: BrokerFactory) -> None:
    broker = broker_factory(auth=True, device_ids=["door-01", "door-02"])
    watcher = Watcher(broker, user=COORDINATOR_USER)
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="door-01", protocol=mqtt.MQTTv5)
    intruder.username_pw_set("door-01", broker.users["door-01"])
    intruder.connect(broker.host, broker.port)
    intruder.loop_start()
    try:
        foreign = event_topic(SITE, "door-02", EventKind.ATTENDANCE)
        own = event_topic(SITE, "door-01", EventKind.ATTENDANCE)
        intruder.publish(foreign, b"forged", qos=1).wait_for_publish(5)
        intruder.publish(own, b"mine", qos=1).wait_for_publish(5)
        watcher.wait_for(own)
        assert watcher.on(foreign) == []
    finally:
        intruder.disconnect()
        intruder.loop_stop()
        watcher.stop()


def test_a_wrong_password_is_refused(broker_factory: BrokerFactory) -> None:
    broker = broker_factory(auth=True, device_ids=["door-01"])
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="door-01", protocol=mqtt.MQTTv5)
    client.username_pw_set("door-01", "guess")
    refused: list[bool] = []
    client.on_connect = lambda c, u, f, reason_code, p: refused.append(reason_code.is_failure)
    client.connect(broker.host, broker.port)
    client.loop(timeout=2)
    client.loop(timeout=2)
    assert refused == [True]


def test_birth_names_the_profile_and_version(broker_factory: BrokerFactory, tmp_path: Path) -> None:
    broker = broker_factory()
    watcher = Watcher(broker)
    device = open_device(_config(tmp_path, broker.port))
    try:
        birth = decode(watcher.wait_for(state_topic(SITE, "door-01"))[0].body)
        assert isinstance(birth.payload, Birth)
        assert birth.payload.profile == "door-station-sim" and birth.seq == 0
    finally:
        device.close()
        watcher.stop()
