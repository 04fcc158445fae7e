"""paho-mqtt behind one small adapter; nothing else in the agent imports paho.

Callbacks only hand events to `notify` (a queue's put): the uplink thread does the work, so
paho's network thread is never blocked and no lock is shared with it.
"""

import logging
import ssl
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import BrokerConfig
from edge_agent.link.base import (
    Connected,
    Disconnected,
    LinkEvent,
    Published,
    Received,
    Will,
)

log = logging.getLogger(__name__)


class MqttLink:
    """One MQTT v5 connection of a device (a `Link`); events go to `notify`.

    paho reconnects by itself with exponential backoff between the configured delays; the
    subscriptions are renewed in `on_connect`, since a clean session forgets them.
    """

    def __init__(
        self,
        config: BrokerConfig,
        client_id: str,
        will: Will | None,
        notify: Callable[[LinkEvent], object],
    ) -> None:
        self._config = config
        self._notify = notify
        self._filters: list[str] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if config.username:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        if config.ca_file:
            self._client.tls_set(ca_certs=str(config.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will is not None:  # only `edge-agent doctor` connects without one
            self._client.will_set(will.topic, will.body, qos=1, retain=True)
        self._client.reconnect_delay_set(int(config.reconnect_min_s), int(config.reconnect_max_s))
        self._client.on_connect = self._when_connected
        self._client.on_disconnect = self._when_disconnected
        self._client.on_publish = self._when_published
        self._client.on_message = self._when_received

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

    def subscribe(self, topic_filter: str) -> None:
        """Receive `topic_filter` with QoS 1 from now on, across reconnects."""
        self._filters.append(topic_filter)
        if self._client.is_connected():
            self._client.subscribe(topic_filter, qos=1)

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
        for topic_filter in self._filters:
            client.subscribe(topic_filter, qos=1)
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

    def _when_received(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        self._notify(Received(message.topic, bytes(message.payload), bool(message.retain)))
