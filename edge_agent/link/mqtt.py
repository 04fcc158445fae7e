"""paho-mqtt behind one small adapter; nothing else in the agent imports paho.

Callbacks only hand events to `notify` (a queue's put): the uplink thread does the work, so
paho's network thread is never blocked and no lock is shared with it.
"""

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import BrokerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Published:
    """The broker acknowledged (or refused) the message with this MQTT message id."""

    mid: int
    is_accepted: bool
    reason: str


LinkEvent = Connected | Disconnected | Published


@dataclass(frozen=True)
class Will:
    topic: str
    body: bytes


class MqttLink:
    """One MQTT v5 connection of a device: `start`, `publish`, `stop`; events go to `notify`.

    paho reconnects by itself with exponential backoff between the configured delays.
    """

    def __init__(
        self,
        config: BrokerConfig,
        client_id: str,
        will: Will,
        notify: Callable[[LinkEvent], object],
    ) -> None:
        self._config = config
        self._notify = notify
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if config.username:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        if config.ca_file:
            self._client.tls_set(ca_certs=str(config.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self._client.will_set(will.topic, will.body, qos=1, retain=True)
        self._client.reconnect_delay_set(int(config.reconnect_min_s), int(config.reconnect_max_s))
        self._client.on_connect = self._when_connected
        self._client.on_disconnect = self._when_disconnected
        self._client.on_publish = self._when_published

    def start(self) -> None:
        self._client.connect_async(self._config.host, self._config.port, self._config.keepalive_s)
        self._client.loop_start()

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> int | None:
        """Send with QoS 1; the message id to match with `Published`, or None if not sent."""
        info = self._client.publish(topic, body, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.info("publish on %s not sent now: %s", topic, mqtt.error_string(info.rc))
            return None
        return info.mid

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
            log.warning("broker refused the connection: %s", reason_code)
            return
        self._notify(Connected())

    def _when_disconnected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._notify(Disconnected(str(reason_code)))

    def _when_published(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._notify(Published(mid, not reason_code.is_failure, str(reason_code)))
