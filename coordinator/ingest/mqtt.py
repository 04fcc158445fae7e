"""paho-mqtt behind one adapter for the coordinator; nothing else here imports paho.

MQTT v5 with a persistent session (the broker queues events while ingest is down), a shared
subscription (several workers split the load), and manual acks: a PUBACK goes back only after
the database commit, because paho keeps unacknowledged messages in memory only.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from coordinator.core.config import Settings
from protocols import fleet_filters, shared_filter

log = logging.getLogger(__name__)


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
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self._client.username_pw_set(settings.mqtt_username, password)
        self._client.reconnect_delay_set(1, 30)
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

    def ack(self, delivery: Delivery) -> None:
        self._client.ack(delivery.mid, delivery.qos)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

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
