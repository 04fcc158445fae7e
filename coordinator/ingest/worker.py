"""The ingest worker: batches of deliveries → one transaction → acks → receipts, in that order.

Each delivery is read (parsed and checked) in the broker connection's thread as it arrives;
the storing thread commits a batch, acks it, and publishes one receipt per device naming the
messages it now holds for good (stored, duplicate or dead letter); a device deletes a message
from its outbox only on that receipt. Receipts go out when the worker has caught up with its
deliveries, or every half second while a backlog drains, so a device's ids from several
batches share one receipt. The publishes are QoS 1 and never waited for.

Nothing a device sends can stop it: a message that cannot be read is a dead letter; a batch
the database refuses for another reason than being unreachable (a value it cannot hold, a bug)
is split and stored message by message, so only the offending message becomes a dead letter.
Only an unreachable database makes it wait, with nothing acked, and try the batch again. If the
thread dies anyway it says so (`state` is "failed") and calls `when_dead`, which in a server
ends the process with a non-zero status so that systemd restarts it.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from coordinator.core.config import Settings
from coordinator.ingest.connection_process import ProcessSubscriber
from coordinator.ingest.metrics import IngestMetrics
from coordinator.ingest.mqtt import Delivery, MqttSubscriber
from coordinator.ingest.notices import receipts
from coordinator.ingest.projections import project
from coordinator.services import dead_letters, presence
from coordinator.services.events import (
    IngestReport,
    Kept,
    RawMessage,
    Readable,
    Unreadable,
    ingest,
    kept_unreadable,
    read,
)
from protocols.ids import new_boot_id

log = logging.getLogger(__name__)

WorkerState = Literal["connected", "disconnected", "failed"]
Clock = Callable[[], datetime]
ANNOUNCE_EVERY_S = 30.0  # the worker's retained "online" again: devices' clocks learn from it
RECEIPTS_EVERY_S = 0.5  # while a backlog drains; at once when the worker has caught up


@dataclass(frozen=True)
class Received:
    """A delivery, and what it says, read in the broker connection's thread as it arrived."""

    delivery: Delivery
    message: RawMessage | Readable | Unreadable


class Subscriber(Protocol):
    """The broker side of a worker (`MqttSubscriber`, or a fake in tests)."""

    is_connected: bool

    def start(self) -> None: ...
    def ack(self, deliveries: Sequence[Delivery]) -> None: ...
    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> None: ...
    def announce(self, *, is_storing: bool = True) -> None: ...
    def stop(self) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def is_transient(error: BaseException) -> bool:
    """True when the database could not be reached, as opposed to refusing what it was given."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    transient = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)
    return isinstance(error, transient)


class IngestWorker:
    """Stores what the broker delivers, exactly once, and acks only what is committed.

    A database outage keeps the batch and retries it; nothing is acked meanwhile, so a crash at
    any point leads to redelivery, and redelivery to a harmless duplicate that is skipped.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        subscriber: Callable[[Settings, Callable[[Delivery], object]], Subscriber] | None = None,
        metrics: IngestMetrics | None = None,
        clock: Clock = _utc_now,
        when_dead: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._deliveries: queue.Queue[Received] = queue.Queue()
        if subscriber is None:
            subscriber = ProcessSubscriber if settings.ingest_connection_process else MqttSubscriber
        self._subscriber = subscriber(settings, self._receive)
        self.metrics = metrics or IngestMetrics()
        self._clock = clock
        self._when_dead = when_dead
        self.failure: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._next_sweep = datetime.min.replace(tzinfo=UTC)
        self._next_announce = datetime.min.replace(tzinfo=UTC)
        self._boot_id = new_boot_id()  # of the receipts this worker sends
        self._is_storing = True  # False while the database is unreachable
        self._unreceipted: list[Kept] = []  # committed, not yet named in a receipt
        self._receipts_due = datetime.min.replace(tzinfo=UTC)

    @property
    def is_connected(self) -> bool:
        return self._subscriber.is_connected

    @property
    def state(self) -> WorkerState:
        if self.failure is not None:
            return "failed"
        return "connected" if self._subscriber.is_connected else "disconnected"

    def start(self) -> None:
        self._thread.start()
        self._subscriber.start()

    def stop(self) -> None:
        # The loop first (it finishes its batch, acks and receipts while still connected), then
        # the goodbye: the other way round, the loop could announce "online" after it.
        self._stopping.set()
        self._thread.join(timeout=10)
        self._subscriber.stop()

    def _receive(self, delivery: Delivery) -> None:
        """Called in the broker connection's thread for each delivery: read it there, so the
        decoding runs while the storing thread waits on the database (which frees the GIL)."""
        raw = RawMessage(delivery.topic, delivery.body)
        message: RawMessage | Readable | Unreadable
        try:
            message = read(
                raw, site=self._settings.site, max_bytes=self._settings.max_message_bytes
            )
        except Exception:  # a bug in reading must not kill the connection: read it when storing
            log.exception("reading a delivery failed; it is read again when stored")
            message = raw
        self._deliveries.put(Received(delivery, message))

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as error:
            self.failure = error
            log.critical("the ingest worker died; nothing more is stored", exc_info=error)
            if self._when_dead is not None:
                self._when_dead(error)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._sweep()
            self._announce()
            batch = self._next_batch()
            kept = self._store_until_done(batch)
            if kept is None:
                break  # stopping during an outage, unacked: the broker redelivers
            self._unreceipted += kept
            self._subscriber.ack([received.delivery for received in batch])
            if self._deliveries.empty() or self._clock() >= self._receipts_due:
                self._send_receipts()
        self._send_receipts()

    def _store_until_done(self, batch: list[Received]) -> list[Kept] | None:
        """What the batch keeps for good, committed; None if the worker stops first. While the
        database is unreachable it tries again every second, nothing acked."""
        if not batch:
            return []
        while (kept := self._store(batch)) is None:
            self._send_receipts()  # for what was committed before the outage
            self._say_storing(False)
            if self._stopping.wait(1.0):
                return None
        self._say_storing(True)
        return kept

    def _send_receipts(self) -> None:
        """Tell each device what is now held for good. Sent when the worker has caught up, or
        every RECEIPTS_EVERY_S while a backlog drains, so that a device's ids from several
        batches share one receipt. A receipt lost on the way costs only a resend, which is
        stored once and receipted again."""
        self._receipts_due = self._clock() + timedelta(seconds=RECEIPTS_EVERY_S)
        if not self._unreceipted:
            return
        notices = receipts(self._unreceipted, boot_id=self._boot_id, now=self._clock())
        self._unreceipted = []
        for topic, body in notices:
            self._subscriber.publish(topic, body)
        self.metrics.receipts.inc(len(notices))

    def _announce(self) -> None:
        now = self._clock()
        if now >= self._next_announce:
            self._next_announce = now + timedelta(seconds=ANNOUNCE_EVERY_S)
            self._subscriber.announce(is_storing=self._is_storing)

    def _say_storing(self, is_storing: bool) -> None:
        """Tell devices at once when the database goes away or comes back."""
        if is_storing != self._is_storing:
            self._is_storing = is_storing
            self._subscriber.announce(is_storing=is_storing)

    def _next_batch(self) -> list[Received]:
        try:
            batch = [self._deliveries.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self._settings.ingest_batch_size:
            try:
                batch.append(self._deliveries.get_nowait())
            except queue.Empty:
                break
        self.metrics.queue_depth.set(self._deliveries.qsize())
        return batch

    def _store(self, batch: list[Received]) -> list[Kept] | None:
        """Commit the batch; what it keeps for good, or None when the database is unreachable
        (retry later)."""
        try:
            return self._commit(batch).kept
        except Exception as error:
            if is_transient(error):
                log.warning("database unreachable, %d messages wait: %s", len(batch), error)
                return None
            log.exception("the database refused a batch of %d; storing one by one", len(batch))
            return self._store_one_by_one(batch)

    def _store_one_by_one(self, batch: list[Received]) -> list[Kept] | None:
        kept: list[Kept] = []
        for received in batch:
            try:
                kept += self._commit([received]).kept
            except Exception as error:
                if is_transient(error):
                    return None
                kept += self._commit_unstorable(received.delivery, error)
        return kept

    def _commit(self, batch: list[Received]) -> IngestReport:
        started = time.perf_counter()
        with self._sessions.begin() as session:
            report = ingest(
                session,
                [received.message for received in batch],
                site=self._settings.site,
                max_bytes=self._settings.max_message_bytes,
                now=self._clock(),
            )
            project(session, report.new_events)
        self.metrics.observe(report, batch_size=len(batch), seconds=time.perf_counter() - started)
        if report.dead_letters:
            log.warning("%d message(s) dead-lettered", report.dead_letters)
        return report

    def _commit_unstorable(self, delivery: Delivery, error: Exception) -> list[Kept]:
        """The last resort for one message: a dead letter naming the database's refusal."""
        reason = f"the database refused it: {type(error).__name__}: {error}".splitlines()[0]
        with self._sessions.begin() as session:
            dead_letters.record(session, topic=delivery.topic, body=delivery.body, reason=reason)
        self.metrics.dead_letters.labels(reason="unstorable").inc()
        message = RawMessage(delivery.topic, delivery.body)
        kept = kept_unreadable(message, max_bytes=self._settings.max_message_bytes)
        return [] if kept is None else [kept]

    def _sweep(self) -> None:
        """Timed work between batches: silent devices go offline, old dead letters go."""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + timedelta(seconds=self._settings.presence_sweep_s)
        silence = self._settings.heartbeat_interval_s * self._settings.missed_heartbeats
        try:
            with self._sessions.begin() as session:
                gone = presence.mark_silent_offline(
                    session, now=now, silence=timedelta(seconds=silence)
                )
                dead_letters.purge(
                    session,
                    received_before=now - timedelta(days=self._settings.dead_letter_retention_days),
                )
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("presence sweep skipped, database unreachable: %s", error)
            return
        if gone:
            log.info("offline after %.0f s of silence: %s", silence, ", ".join(gone))
