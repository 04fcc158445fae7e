"""The uplink: record a message in the outbox first, then drain the outbox to the broker.

A message leaves the outbox only when the coordinator's receipt says it is stored (or kept as a
dead letter); the broker's PUBACK only moves it from "in flight" to "awaiting its receipt". So a
cut network, a broker restart or crash, a broker queue that overflowed, or a power loss costs
nothing: whatever is not receipted is sent again on the next connection (marked `replayed` if it
was waiting when the connection began), and a row PUBACKed but not receipted within
`receipt_timeout_s` of the coordinator being online is sent again on the same connection.
Duplicates are possible on the wire and stored once by the coordinator.

The uplink also listens to the coordinator's ingest workers' retained online state: whether the
coordinator is online (reported in heartbeats; while it is offline nothing is resent on a timer,
since the broker holds what was sent for it), and the device's clock offset, from the live
(not retained) copies the workers republish every 30 s.
"""

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from edge_agent.clock import ClockOffset
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
    CoordinatorStatus,
    Death,
    DeathCause,
    Envelope,
    EventPayload,
    Health,
    Heartbeat,
    ProtocolError,
    Receipt,
    Sender,
    coordinator_state_filter,
    decode,
    decode_coordinator_state,
    decode_on_topic,
    encode,
    parse_coordinator_state_topic,
    parse_topic,
    receipt_topic,
    topic_for,
)

log = logging.getLogger(__name__)

# A row the broker acknowledged but the coordinator has not receipted this long after the later
# of the PUBACK and the coordinator coming online is sent again (stored once all the same).
RECEIPT_TIMEOUT_S = 60.0
TICK_S = 1.0  # how often the uplink thread looks for overdue rows when nothing else happens
MAX_CLOCK_OFFSET_S = 1e9  # what a heartbeat can carry (protocols.Health)


@dataclass(frozen=True)
class Wake:
    """Something new is in the outbox."""


@dataclass(frozen=True)
class Stop:
    """Say goodbye and end the uplink thread."""


UplinkEvent = LinkEvent | Wake | Stop


@dataclass
class _Connection:
    """What the uplink knows about the current broker connection.

    `in_flight`: MQTT message id → row, sent and not yet PUBACKed (at most `window`);
    `awaiting`: message id → (row id, PUBACK time), PUBACKed and not yet receipted, oldest
    first; `resend`: row ids due to be sent again (an ordered set). All of it is forgotten with
    the connection: the next one sends every row still in the outbox.
    """

    backlog_last_id: int
    cursor: int = 0
    in_flight: dict[int, OutboxItem] = field(default_factory=dict)
    awaiting: dict[str, tuple[int, float]] = field(default_factory=dict)
    resend: dict[int, None] = field(default_factory=dict)


class CoordinatorWatch:
    """What the device knows of the coordinator: each ingest worker's last state, and the
    clock offset from the live state messages. Written by the uplink thread only."""

    def __init__(self) -> None:
        self._workers: dict[str, bool] = {}
        self._is_online: bool | None = None  # read from other threads: one plain value
        self.clock = ClockOffset()
        self.online_at: float | None = None  # monotonic time it last turned online

    @property
    def is_online(self) -> bool | None:
        """True when a worker said it is online; None before any worker was heard of."""
        return self._is_online

    def note(self, worker_id: str, is_online: bool | None, now: float) -> None:
        """A worker's state (None: its retained state was cleared, the slot retired)."""
        was = self._is_online
        if is_online is None:
            self._workers.pop(worker_id, None)
        else:
            self._workers[worker_id] = is_online
        self._is_online = any(self._workers.values()) if self._workers else None
        if self._is_online and not was:
            self.online_at = now


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
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_s: float = TICK_S,
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
        self._receipt_timeout_s = receipt_timeout_s
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._tick_s = tick_s
        self._connection: _Connection | None = None
        self.coordinator = CoordinatorWatch()
        self._thread = threading.Thread(
            target=self._run, name=f"uplink-{sender.device_id}", daemon=True
        )
        # Handled here, never passed on: the receipts for this device and the workers' state.
        self._receipt_topic = receipt_topic(site, sender.device_id)
        link.subscribe(self._receipt_topic)
        link.subscribe(coordinator_state_filter())

    def record(self, payload: EventPayload | AckPayload) -> Envelope:
        """Stamp, store and queue one message; returns once it is safely on disk.

        Heartbeats are the only messages the outbox may drop when it is at its bound: a newer
        one says all an older one did. A heartbeat is stamped here with what the uplink knows
        of the coordinator: whether it is online, and the clock offset from its state messages.
        """
        if isinstance(payload, Heartbeat):
            payload = self._with_coordinator(payload)
        envelope = self._sender.sequenced(payload)
        body = encode(envelope, max_bytes=self._max_bytes)
        droppable = isinstance(payload, Heartbeat)
        topic = topic_for(self._site, envelope)
        self._outbox.put(str(envelope.message_id), topic, body, droppable=droppable)
        self._events.put(Wake())
        return envelope

    def subscribe(self, topic_filter: str) -> None:
        self._link.subscribe(topic_filter)

    def _with_coordinator(self, beat: Heartbeat) -> Heartbeat:
        changes: dict[str, object] = {"coordinator_online": self.coordinator.is_online}
        offset = self.coordinator.clock.seconds
        if offset is not None and math.isfinite(offset) and abs(offset) <= MAX_CLOCK_OFFSET_S:
            changes["clock_offset_s"] = offset
        health = Health.model_validate(beat.health.model_dump() | changes)
        return beat.model_copy(update={"health": health})

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
        """True once the outbox is empty, i.e. the coordinator receipted everything; False if
        that did not happen within `timeout`."""
        return self._wait(lambda: self._outbox.count() == 0, timeout)

    def wait_sent(self, timeout: float) -> bool:
        """True once everything in the outbox has reached the broker on this connection
        (PUBACKed; receipted or not); False if that did not happen within `timeout`."""
        return self._wait(self._is_sent, timeout)

    def _is_sent(self) -> bool:
        if self._outbox.count() == 0:
            return True
        connection = self._connection
        return (
            connection is not None
            and not connection.in_flight
            and not connection.resend
            and self._outbox.last_id() <= connection.cursor
        )

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
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
            try:
                event = self._events.get(timeout=self._tick_s)
            except queue.Empty:
                event = Wake()  # time passes: rows may be overdue for their receipt
            if isinstance(event, Stop):
                self._say_goodbye()
                return
            self._step(event)

    def _step(self, event: LinkEvent | Wake) -> None:
        self._handle(event)
        if self._connection is not None:
            self._requeue_overdue(self._connection)
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
        elif isinstance(event, Received):
            self._receive(event)

    def _receive(self, message: Received) -> None:
        try:
            if message.topic == self._receipt_topic:
                self._on_receipt(message)
            elif parse_coordinator_state_topic(message.topic) is not None:
                self._on_coordinator_state(message)
            elif self._when_received is not None:
                self._when_received(message)
        except ProtocolError as error:
            log.warning("ignored a message on %s: %s", message.topic, error)
        except Exception:
            # A handler's bug must not end the thread that drains the outbox.
            log.exception("handling a message on %s failed", message.topic)

    def _on_receipt(self, message: Received) -> None:
        """Forget what the coordinator holds for good; ids not in the outbox are ignored."""
        topic = parse_topic(message.topic, site=self._site, device_id=self._sender.device_id)
        receipt = decode_on_topic(topic, message.body, max_bytes=self._max_bytes).payload
        if not isinstance(receipt, Receipt):  # decode_on_topic allows only receipts here
            raise ProtocolError(f"a {receipt.type!r} message is not a receipt")
        ids = {str(message_id) for message_id in receipt.message_ids}
        removed = self._outbox.remove_messages(ids)
        connection = self._connection
        if connection is not None:
            for message_id in ids:
                connection.awaiting.pop(message_id, None)
            # A receipt can overtake the broker's PUBACK: that row is done, not "in flight".
            for mid, item in list(connection.in_flight.items()):
                if item.message_id in ids:
                    del connection.in_flight[mid]
        log.debug("receipt for %d message(s), %d were in the outbox", len(ids), removed)

    def _on_coordinator_state(self, message: Received) -> None:
        now = self._monotonic()
        if not message.body:  # an empty retained message clears a retired worker's state
            worker_id = parse_coordinator_state_topic(message.topic)
            if worker_id is not None:
                self.coordinator.note(worker_id, None, now)
            return
        was = self.coordinator.is_online
        worker_id, envelope, state = decode_coordinator_state(
            message.topic, message.body, max_bytes=self._max_bytes
        )
        is_online = state.status is CoordinatorStatus.ONLINE
        self.coordinator.note(worker_id, is_online, now)
        if is_online:  # a will is built at connect time: its time says nothing of the clock
            self.coordinator.clock.observe(
                envelope.device_time, self._wall_clock(), retained=message.retained
            )
        if self.coordinator.is_online != was:
            log.info("the coordinator is %s", "online" if self.coordinator.is_online else "away")

    def _settle(self, connection: _Connection, ack: Published) -> None:
        item = connection.in_flight.pop(ack.mid, None)
        if item is None:
            return
        if ack.is_accepted:
            # The broker has it; the outbox keeps it until the coordinator's receipt.
            connection.awaiting[item.message_id] = (item.id, self._monotonic())
        else:
            # Kept in the outbox and tried again on the next connection; a refusal is usually an
            # ACL or credentials problem that a technician must fix, so say it loudly.
            log.error("broker refused %s on %s: %s", item.message_id, item.topic, ack.reason)

    def _requeue_overdue(self, connection: _Connection) -> None:
        """Rows PUBACKed but not receipted in time are due again; none while the coordinator
        is known to be away (the broker queues them for it) or has just come back."""
        coordinator = self.coordinator
        if not connection.awaiting or coordinator.is_online is False:
            return
        now = self._monotonic()
        bound = self._receipt_timeout_s
        if coordinator.online_at is not None and now - coordinator.online_at < bound:
            return
        due = 0
        while connection.awaiting:
            message_id, (row_id, acked_at) = next(iter(connection.awaiting.items()))
            if now - acked_at < bound:
                break
            del connection.awaiting[message_id]
            connection.resend[row_id] = None
            due += 1
        if due:
            log.info("%d message(s) not receipted within %.0f s; sending again", due, bound)

    def _send_more(self, connection: _Connection) -> None:
        room = self._window - len(connection.in_flight)
        if room > 0 and connection.resend:
            row_ids = list(islice(connection.resend, room))
            for row_id in row_ids:
                del connection.resend[row_id]
            for item in self._outbox.items(row_ids):  # rows receipted meanwhile are gone
                if not self._publish(connection, item):
                    connection.resend[item.id] = None
                    return
            room = self._window - len(connection.in_flight)
        if room <= 0:
            return
        for item in self._outbox.pending(after_id=connection.cursor, limit=room):
            if not self._publish(connection, item):
                return
            connection.cursor = item.id

    def _publish(self, connection: _Connection, item: OutboxItem) -> bool:
        body = self._as_replayed(item) if item.id <= connection.backlog_last_id else item.body
        mid = self._link.publish(item.topic, body)
        if mid is None:
            return False
        connection.in_flight[mid] = item
        return True

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
