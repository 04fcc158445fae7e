"""What the uplink needs from a broker connection, and the events a connection reports.

Two implementations: `MqttLink` (paho, the real broker) and `FakeLink` (in memory, for fast unit
tests of the uplink and the station). Both hand events to a `notify` callable, usually a queue's
`put`, and never call back into the uplink directly.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Connected:
    """The broker accepted the connection (first time or after a reconnect)."""


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Published:
    """The broker acknowledged (or refused) the message with this MQTT message id."""

    mid: int
    is_accepted: bool
    reason: str


@dataclass(frozen=True)
class Received:
    """A message arrived on a subscribed topic (the device's own commands)."""

    topic: str
    body: bytes
    retained: bool = False


LinkEvent = Connected | Disconnected | Published | Received


@dataclass(frozen=True)
class Will:
    """The message the broker publishes (retained) if the connection is lost without a goodbye."""

    topic: str
    body: bytes


class Link(Protocol):
    """A device's one broker connection: `start`, `publish`, `subscribe`, `stop`.

    `publish` sends with QoS 1 and returns the message id that a later `Published` event carries,
    or None when the message could not be handed to the network now (it stays in the outbox).
    `subscribe` is remembered and renewed on every reconnect.
    """

    def start(self) -> None: ...

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> int | None: ...

    def subscribe(self, topic_filter: str) -> None: ...

    def stop(self) -> None: ...
