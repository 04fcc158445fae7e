"""What the builder and the command service need from a broker connection: publish only."""

from typing import Protocol


class Publisher(Protocol):
    """Sends with QoS 1; paho keeps QoS 1 messages queued while the broker is away."""

    def publish(self, topic: str, body: bytes, *, retain: bool) -> None: ...


class NoPublisher:
    """Stands in when MQTT is off (tests, `mqtt_enabled=False`): what is built is kept, not sent."""

    def publish(self, topic: str, body: bytes, *, retain: bool) -> None:
        return None
