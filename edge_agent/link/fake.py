"""An in-memory broker connection for unit tests: scriptable, deterministic, with a history."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.link.base import Connected, Disconnected, LinkEvent, Published, Received, Will
from protocols import Channel, Receipt, Sender, decode, encode, parse_topic, receipt_topic


@dataclass(frozen=True)
class Sent:
    """One message the fake broker accepted from the device."""

    mid: int
    topic: str
    body: bytes
    retain: bool


@dataclass
class FakeLink:
    """Stands in for `MqttLink`. Online or offline, acking at once or on request.

    - `start()` connects when `online` (else waits for `go_online()`);
    - `publish` while offline returns None, as paho does when not connected;
    - with `auto_ack`, every publish is acknowledged immediately; otherwise call `ack(mid)`;
    - `deliver(topic, body)` plays a message from the coordinator onto a subscribed topic;
    - `receipt_sent()` plays the coordinator's ingest: a receipt for every event and ack sent.
    """

    notify: Callable[[LinkEvent], object]
    will: Will | None = None
    online: bool = True
    auto_ack: bool = True
    sent: list[Sent] = field(default_factory=list)
    unacked: dict[int, Sent] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)
    is_started: bool = False
    is_stopped: bool = False
    _next_mid: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.is_started = True
        if self.online:
            self.notify(Connected())

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> int | None:
        with self._lock:
            if not (self.online and self.is_started) or self.is_stopped:
                return None
            self._next_mid += 1
            message = Sent(self._next_mid, topic, body, retain)
            self.sent.append(message)
            self.unacked[message.mid] = message
        if self.auto_ack:
            self.ack(message.mid)
        return message.mid

    def subscribe(self, topic_filter: str) -> None:
        self.filters.append(topic_filter)

    def stop(self) -> None:
        self.is_stopped = True

    # --- the test's side -----------------------------------------------------------------

    def ack(self, mid: int, *, is_accepted: bool = True) -> None:
        with self._lock:
            self.unacked.pop(mid, None)
        self.notify(Published(mid, is_accepted, "Success" if is_accepted else "Not authorized"))

    def go_offline(self) -> None:
        """The network is cut: unacked messages are lost with the connection, as in paho."""
        with self._lock:
            self.online = False
            self.unacked.clear()
        self.notify(Disconnected("network cut"))

    def go_online(self) -> None:
        self.online = True
        if self.is_started and not self.is_stopped:
            self.notify(Connected())

    def deliver(self, topic: str, body: bytes, *, retained: bool = False) -> None:
        self.notify(Received(topic, body, retained))

    def receipt_sent(self) -> None:
        """A receipt, per device, for every event and ack the fake broker accepted so far."""
        by_device: dict[tuple[str, str], list[Sent]] = {}
        for message in self.sent:
            topic = parse_topic(message.topic)
            if topic.channel in (Channel.EVENT, Channel.ACK):
                by_device.setdefault((topic.site, topic.device_id), []).append(message)
        for (site, device_id), messages in by_device.items():
            ids = list(dict.fromkeys(decode(m.body).message_id for m in messages))
            receipt = Sender(device_id).state(Receipt(message_ids=ids))
            self.deliver(receipt_topic(site, device_id), encode(receipt))

    def on(self, topic: str) -> list[Sent]:
        return [message for message in self.sent if message.topic == topic]
