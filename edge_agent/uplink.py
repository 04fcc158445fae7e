"""The uplink: record a message in the outbox first, then drain the outbox to the broker.

A message leaves the outbox only when the broker has acknowledged it (QoS 1 PUBACK), so a cut
network, a broker restart or a power loss costs nothing: the backlog is sent on the next
connection, marked `replayed`. Duplicates are possible on the wire and removed by the coordinator.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.link.base import (
    Connected,
    Disconnected,
    Link,
    LinkEvent,
    Published,
    Received,
    Will,
)
from edge_agent.store.outbox import Outbox, OutboxItem
from protocols import (
    AckPayload,
    Birth,
    Death,
    DeathCause,
    Envelope,
    EventPayload,
    Heartbeat,
    Sender,
    decode,
    encode,
    topic_for,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wake:
    """Something new is in the outbox."""


@dataclass(frozen=True)
class Stop:
    """Say goodbye and end the uplink thread."""


UplinkEvent = LinkEvent | Wake | Stop


@dataclass
class _Connection:
    """What the uplink knows about the current broker connection."""

    backlog_last_id: int
    cursor: int = 0
    in_flight: dict[int, OutboxItem] = field(default_factory=dict)


class Uplink:
    """Owns a device's outbox and its MQTT link; one thread drains the one into the other.

    `record` may be called from any thread. `start` connects (with a retained birth and a
    last-will death); `stop` publishes a death, waits briefly for its ack, and disconnects.
    Messages on subscribed topics (the device's commands) go to `when_received`, on the uplink
    thread. Tests with a `FakeLink` may skip `start` and call `process_queued` instead.
    """

    def __init__(
        self,
        *,
        site: str,
        sender: Sender,
        outbox: Outbox,
        link: Link,
        birth: Birth,
        events: "queue.Queue[UplinkEvent]",
        window: int = 50,
        max_message_bytes: int,
        when_received: Callable[[Received], object] | None = None,
    ) -> None:
        self._site = site
        self._sender = sender
        self._outbox = outbox
        self._link = link
        self._birth = birth
        self._events = events
        self._window = window
        self._max_bytes = max_message_bytes
        self._when_received = when_received
        self._connection: _Connection | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"uplink-{sender.device_id}", daemon=True
        )

    def record(self, payload: EventPayload | AckPayload) -> Envelope:
        """Stamp, store and queue one message; returns once it is safely on disk.

        Heartbeats are the only messages the outbox may drop when it is at its bound: a newer
        one says all an older one did.
        """
        envelope = self._sender.sequenced(payload)
        body = encode(envelope, max_bytes=self._max_bytes)
        droppable = isinstance(payload, Heartbeat)
        topic = topic_for(self._site, envelope)
        self._outbox.put(str(envelope.message_id), topic, body, droppable=droppable)
        self._events.put(Wake())
        return envelope

    def subscribe(self, topic_filter: str) -> None:
        self._link.subscribe(topic_filter)

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    def start(self) -> None:
        self._link.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._events.put(Stop())
        if self._thread.is_alive():
            self._thread.join(timeout + 1)
        else:
            self.process_queued()

    def wait_drained(self, timeout: float) -> bool:
        """True once the outbox is empty; False if that did not happen within `timeout`."""
        deadline = time.monotonic() + timeout
        while self._outbox.count() > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def process_queued(self) -> None:
        """Handle every event waiting now, on the caller's thread (for tests without `start`)."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, Stop):
                self._say_goodbye(timeout=0)
                return
            self._step(event)

    def _run(self) -> None:
        while True:
            event = self._events.get()
            if isinstance(event, Stop):
                self._say_goodbye()
                return
            self._step(event)

    def _step(self, event: LinkEvent | Wake) -> None:
        self._handle(event)
        if self._connection is not None:
            self._send_more(self._connection)

    def _handle(self, event: LinkEvent | Wake) -> None:
        if isinstance(event, Connected):
            self._connection = _Connection(backlog_last_id=self._outbox.last_id())
            self._publish_state(self._birth)
            log.info(
                "%s connected; %d waiting in outbox", self._sender.device_id, self._outbox.count()
            )
        elif isinstance(event, Disconnected):
            self._connection = None
            log.warning("%s lost the broker: %s", self._sender.device_id, event.reason)
        elif isinstance(event, Published) and self._connection is not None:
            self._settle(self._connection, event)
        elif isinstance(event, Received) and self._when_received is not None:
            try:
                self._when_received(event)
            except Exception:
                # A command handler's bug must not end the thread that drains the outbox.
                log.exception("handling a message on %s failed", event.topic)

    def _settle(self, connection: _Connection, ack: Published) -> None:
        item = connection.in_flight.pop(ack.mid, None)
        if item is None:
            return
        if ack.is_accepted:
            self._outbox.remove(item.id)
        else:
            # Kept in the outbox and tried again on the next connection; a refusal is usually an
            # ACL or credentials problem that a technician must fix, so say it loudly.
            log.error("broker refused %s on %s: %s", item.message_id, item.topic, ack.reason)

    def _send_more(self, connection: _Connection) -> None:
        room = self._window - len(connection.in_flight)
        if room <= 0:
            return
        for item in self._outbox.pending(after_id=connection.cursor, limit=room):
            body = self._as_replayed(item) if item.id <= connection.backlog_last_id else item.body
            mid = self._link.publish(item.topic, body)
            if mid is None:
                return
            connection.in_flight[mid] = item
            connection.cursor = item.id

    def _as_replayed(self, item: OutboxItem) -> bytes:
        envelope = decode(item.body, max_bytes=self._max_bytes)
        return encode(envelope.model_copy(update={"replayed": True}), max_bytes=self._max_bytes)

    def _publish_state(self, payload: Birth | Death) -> int | None:
        envelope = self._sender.state(payload)
        return self._link.publish(topic_for(self._site, envelope), encode(envelope), retain=True)

    def _say_goodbye(self, timeout: float = 5.0) -> None:
        """A clean stop publishes its own death, since the broker sends the will only on loss."""
        if self._connection is not None:
            mid = self._publish_state(Death(cause=DeathCause.SHUTDOWN))
            deadline = time.monotonic() + timeout
            while mid is not None and time.monotonic() <= deadline:
                try:
                    event = self._events.get(timeout=min(0.1, timeout))
                except queue.Empty:
                    continue
                if isinstance(event, Published) and event.mid == mid:
                    break
                if not isinstance(event, Stop):
                    self._handle(event)
        self._link.stop()


def last_will(site: str, sender: Sender) -> Will:
    """The death the broker publishes for us if the connection is lost without a goodbye."""
    envelope = sender.state(Death(cause=DeathCause.CONNECTION_LOST))
    return Will(topic_for(site, envelope), encode(envelope))
