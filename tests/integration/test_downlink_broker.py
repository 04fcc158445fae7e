"""The downlink through real parts: API change → builder → Mosquitto (retained, QoS 1) → device
→ ack → ingest → PostgreSQL → sync status; commands with results and expiry."""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from coordinator.api.app import create_app
from coordinator.bundles import keys
from coordinator.core.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from edge_agent.link.downlink import Downlink
from edge_agent.store.bundle import BundleStore
from protocols import Sender, device_command_filter, encode, topic_for
from protocols.messages import AckPayload
from protocols.sealing import public_key_text
from tests.coordinator.campus import Campus, bearer, build_campus
from tests.edge_agent.test_downlink import Actions
from tests.fixtures.broker import Broker

pytestmark = pytest.mark.integration
SITE = "main"


class DeviceClient:
    """A door station's downlink on a real MQTT connection (the test stands in for its App)."""

    def __init__(
        self, broker: Broker, device_id: str, store: BundleStore, key: X25519PrivateKey,
        clock: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self.device_id = device_id
        self.actions = Actions()
        self.received: list[str] = []
        self._sender = Sender(device_id)
        self._lock = threading.Lock()
        self.downlink = Downlink(
            device_id, store=store, device_key=key, record=self._reply, actions=self.actions,
            clock=clock,
        )  # fmt: skip
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5
        )
        subscribed = threading.Event()
        self._client.on_connect = lambda c, *_: c.subscribe(
            device_command_filter(SITE, device_id), qos=1
        )
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._when_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert subscribed.wait(10)

    def _when_message(self, client: mqtt.Client, userdata: object, message: Any) -> None:
        with self._lock:
            self.received.append(message.topic)
            self.downlink.receive(message.topic, bytes(message.payload))

    def _reply(self, payload: AckPayload) -> None:
        envelope = self._sender.sequenced(payload)
        self._client.publish(topic_for(SITE, envelope), encode(envelope), qos=1)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def coordinator(broker: Broker, postgres_url: str) -> Iterator[tuple[TestClient, Campus, Settings]]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with make_sessionmaker(engine)() as session:
        campus = build_campus(session)
    engine.dispose()
    settings = Settings(
        database_url=postgres_url,
        mqtt_port=broker.port,
        bundle_debounce_s=0.1,
        bundle_poll_s=0.1,
    )
    with TestClient(create_app(settings)) as client:
        yield client, campus, settings


def test_bundles_and_commands_through_the_broker(
    coordinator: tuple[TestClient, Campus, Settings], broker: Broker, tmp_path: Path
) -> None:
    client, campus, settings = coordinator
    device_id = campus.own.device.id
    technician = bearer(settings, campus.technician)
    key = X25519PrivateKey.generate()
    store = BundleStore(tmp_path / "bundle.sqlite3")
    for line in _trusted_keys(settings):
        store.trust(*line)
    registered = client.patch(
        f"/api/v1/devices/{device_id}", json={"public_key": public_key_text(key)},
        headers=technician,
    )  # fmt: skip
    assert registered.status_code == 200
    device = DeviceClient(broker, device_id, store, key, lambda: datetime.now(UTC))

    def sync() -> dict[str, Any]:
        answer: dict[str, Any] = client.get(
            f"/api/v1/devices/{device_id}/sync", headers=technician
        ).json()
        return answer

    first = _until(lambda: sync()["acked_version"] == 1 and sync(), "the first bundle's ack")
    assert first["built_version"] == 1 and first["acked_at"]

    # The device goes away; two changes build two bundles; it comes back to the latest only.
    device.stop()
    supervisor = bearer(settings, campus.own.supervisor)
    client.post(f"/api/v1/assignments/{campus.own.assignment.id}/accept", headers=supervisor)
    _until(lambda: sync()["built_version"] == 2, "version 2 built")
    admin = bearer(settings, campus.admin)
    client.patch(f"/api/v1/rooms/{campus.own.room.id}", json={"name": "Aula"}, headers=admin)
    _until(lambda: sync()["built_version"] == 3, "version 3 built")
    device = DeviceClient(broker, device_id, store, key, lambda: datetime.now(UTC))
    _until(lambda: sync()["acked_version"] == 3, "the latest bundle's ack")
    assert [t.rsplit("/", 1)[1] for t in device.received] == ["bundle"]
    current = store.current()
    assert current is not None and current.binding.place_name == "Aula"

    # A command is carried out and its result reaches the API.
    manager = bearer(settings, campus.manager)
    sent = client.post(
        f"/api/v1/devices/{device_id}/commands",
        json={"name": "open", "reason": "fire drill", "hold_s": 2},
        headers=manager,
    ).json()
    done = _until(
        lambda: _command(client, device_id, sent["id"], manager)["status"] == "done",
        "the open command's result",
    )
    assert done and device.actions.opened == [2.0]
    device.stop()

    # A device whose clock is past the expiry refuses the command as expired.
    late = DeviceClient(
        broker, device_id, store, key, lambda: datetime.now(UTC) + timedelta(minutes=10)
    )
    expired = client.post(
        f"/api/v1/devices/{device_id}/commands",
        json={"name": "reboot", "reason": "update", "expires_in_s": 60},
        headers=technician,
    ).json()
    _until(
        lambda: _command(client, device_id, expired["id"], technician)["status"] == "expired",
        "the expired command's refusal",
    )
    assert late.actions.reboots == []
    late.stop()


def _command(client: TestClient, device_id: str, command_id: str, headers: dict[str, str]) -> Any:
    listed = client.get(f"/api/v1/devices/{device_id}/commands", headers=headers).json()
    return next(c for c in listed if c["id"] == command_id)


def _trusted_keys(settings: Settings) -> list[tuple[str, str]]:
    """What provisioning gives a device: the coordinator's signing keys (made on first use)."""
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        keys.ensure_active_key(session, settings.secret_key)
        found = [(k.key_id, k.public_key) for k in keys.trusted_keys(session)]
    engine.dispose()
    return found
