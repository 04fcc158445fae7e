"""paho-mqtt for the coordinator's publishing: bundles (retained) and commands, QoS 1.

A separate connection from ingest's, so a slow database that holds ingest back never delays a
command, and a stream of bundles never delays ingest. paho queues QoS 1 messages while the
broker is away and sends them on reconnect; a bundle lost with this process is published again
by `coordinator bundles publish` or a resync, because the built bundle stays in the database.
"""

import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coordinator.core.config import Settings

log = logging.getLogger(__name__)


def log_in(client: mqtt.Client, settings: Settings) -> None:
    """The coordinator's broker account, on any of its connections."""
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)


class MqttPublisher:
    """The coordinator's publishing connection: `start`, `publish`, `stop`, `wait_connected`."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self._settings = settings
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or settings.mqtt_publisher_client_id,
            protocol=mqtt.MQTTv5,
        )
        log_in(self._client, settings)
        self._client.max_inflight_messages_set(200)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._when_connected
        self._client.on_disconnect = self._when_disconnected

    def start(self) -> None:
        self._client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def publish(self, topic: str, body: bytes, *, retain: bool) -> None:
        info = self._client.publish(topic, body, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish to %s queued while offline (%s)", topic, info.rc)

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
            log.error("broker refused the coordinator's publisher: %s", reason_code)
            return
        self._connected.set()

    def _when_disconnected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        log.warning("publisher lost the broker: %s", reason_code)
