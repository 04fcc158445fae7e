"""paho-mqtt behind one adapter for the coordinator; nothing else here imports paho.

MQTT v5 with a persistent session (the broker queues events while ingest is down), a shared
subscription (several workers split the load), and manual acks: a PUBACK goes back only after
the database commit, because paho keeps unacknowledged messages in memory only.

The same connection carries what the worker tells devices: the receipts after each commit,
and its retained online state, with `offline` as the last will the broker publishes if the
worker dies without a goodbye (a clean stop publishes it itself).
"""

import logging
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from coordinator.core.config import Settings
from coordinator.errors import BrokerError
from coordinator.ingest.notices import Notice, worker_state
from coordinator.link.mqtt import log_in
from protocols import (
    CoordinatorStatus,
    ProtocolError,
    coordinator_state_topic,
    fleet_filters,
    shared_filter,
)
from protocols.ids import new_boot_id

log = logging.getLogger(__name__)

# Receipts (one per device each time they are sent) queue in paho behind this many unacked ones.
MAX_INFLIGHT = 1000
GOODBYE_TIMEOUT_S = 2.0
RETIRE_TIMEOUT_S = 10.0


def retire_slot(settings: Settings) -> None:
    """End a worker slot's broker session now, and clear its retained online state.

    Connecting with the slot's client id, a clean start and a session expiry of 0 makes the
    broker discard the slot's session: its queue and its place in the shared subscription, so no
    share waits for a worker that will not return (devices resend what that queue held, since
    nothing in it was receipted). The empty retained message makes devices forget the slot.
    Run it with the slot's process stopped: a running worker would be thrown off and come back.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=settings.mqtt_client_id, protocol=mqtt.MQTTv5
    )
    log_in(client, settings)
    answers: queue.Queue[ReasonCode] = queue.Queue()
    client.on_connect = lambda _client, _data, _flags, reason_code, _props: answers.put(reason_code)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0
    try:
        client.connect(
            settings.mqtt_host, settings.mqtt_port, clean_start=True, properties=properties
        )
    except OSError as error:
        raise BrokerError(f"cannot reach the broker: {error}") from None
    client.loop_start()
    try:
        answer = answers.get(timeout=RETIRE_TIMEOUT_S)
        if answer.is_failure:
            raise BrokerError(f"the broker refused {settings.mqtt_client_id}: {answer}")
        _clear_state(client, settings.mqtt_client_id)
    except queue.Empty:
        raise BrokerError(f"the broker did not answer within {RETIRE_TIMEOUT_S:.0f} s") from None
    finally:
        client.disconnect()
        client.loop_stop()


def _clear_state(client: mqtt.Client, worker_id: str) -> None:
    """An empty retained message on the slot's state topic: devices forget the slot."""
    try:
        topic = coordinator_state_topic(worker_id)
    except ProtocolError:
        return  # such a worker never published a state (see MqttSubscriber)
    cleared = client.publish(topic, b"", qos=1, retain=True)
    try:
        cleared.wait_for_publish(RETIRE_TIMEOUT_S)
    except (RuntimeError, ValueError) as error:
        raise BrokerError(f"could not clear the slot's online state: {error}") from None
    if not cleared.is_published():
        raise BrokerError("the broker did not take the slot's cleared online state in time")


@dataclass(frozen=True)
class Delivery:
    topic: str
    body: bytes
    mid: int
    qos: int


class MqttSubscriber:
    """The ingest worker's broker connection: `start`, `ack`, `stop`; messages go to `deliver`."""

    def __init__(self, settings: Settings, deliver: Callable[[Delivery], object]) -> None:
        self._settings = settings
        self._deliver = deliver
        self.is_connected = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        log_in(self._client, settings)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.reconnect_delay_set(1, 30)
        self._boot_id = new_boot_id()
        try:
            will: Notice | None = self._state_now(CoordinatorStatus.OFFLINE)
        except ProtocolError as error:
            # The client id cannot be a topic level: devices will never hear of this worker.
            log.warning("no online state is published for this worker: %s", error)
            will = None
        self._publishes_state = will is not None
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        self._client.on_connect = self._when_connected
        self._client.on_disconnect = self._when_disconnected
        self._client.on_message = self._when_message

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
        # Unacked deliveries the broker may have in flight to us: at least a batch, or batches
        # could never fill while earlier ones wait for their commit.
        properties.ReceiveMaximum = self._settings.mqtt_receive_maximum
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._client.ack(delivery.mid, delivery.qos)

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> None:
        """QoS 1, never waiting: paho queues it (also while the broker is away)."""
        self._client.publish(topic, body, qos=1, retain=retain)

    def announce(self, *, is_storing: bool = True) -> None:
        """Say again, retained, that this worker is online (a fresh time for devices' clocks),
        or, while it cannot reach its database, offline: devices then resend nothing on a
        timer, since the broker holds what they sent until the worker stores it."""
        status = CoordinatorStatus.ONLINE if is_storing else CoordinatorStatus.OFFLINE
        state = self._state(status)
        if state is not None and self.is_connected:
            self.publish(*state, retain=True)

    def stop(self) -> None:
        """Say goodbye (the will is only for a lost connection), then disconnect."""
        offline = self._state(CoordinatorStatus.OFFLINE)
        if offline is not None and self.is_connected:
            info = self._client.publish(*offline, qos=1, retain=True)
            try:
                info.wait_for_publish(GOODBYE_TIMEOUT_S)
            except (RuntimeError, ValueError) as error:
                log.warning("could not say the worker is offline: %s", error)
        self._client.disconnect()
        self._client.loop_stop()

    def _state(self, status: CoordinatorStatus) -> Notice | None:
        return self._state_now(status) if self._publishes_state else None

    def _state_now(self, status: CoordinatorStatus) -> Notice:
        """This worker's state message, on the topic named by its client id."""
        return worker_state(
            self._settings.mqtt_client_id, status, boot_id=self._boot_id, now=datetime.now(UTC)
        )

    def _when_connected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the coordinator: %s", reason_code)
            return
        self.is_connected = True
        group = self._settings.mqtt_share_group
        # Subscribing again on every connect costs nothing and survives a broker that lost state.
        client.subscribe(
            [
                (shared_filter(group, topic_filter), SubscribeOptions(qos=1))
                for topic_filter in fleet_filters(self._settings.site)
            ]
        )
        self.announce()
        log.info("ingest connected to %s:%s", self._settings.mqtt_host, self._settings.mqtt_port)

    def _when_disconnected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.is_connected = False
        log.warning("ingest lost the broker: %s", reason_code)

    def _when_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        self._deliver(Delivery(message.topic, bytes(message.payload), message.mid, message.qos))
