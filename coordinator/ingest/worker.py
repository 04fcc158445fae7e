"""The ingest worker: batches of deliveries → one transaction → acks, in that order."""

import logging
import queue
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coordinator.core.config import Settings
from coordinator.ingest.mqtt import Delivery, MqttSubscriber
from coordinator.services.events import RawMessage, ingest

log = logging.getLogger(__name__)


class IngestWorker:
    """Stores what the broker delivers, exactly once, and acks only what is committed.

    A database failure keeps the batch and retries it; nothing is acked meanwhile, so a crash at
    any point leads to redelivery, and redelivery to a harmless duplicate that is skipped.
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._deliveries: queue.Queue[Delivery] = queue.Queue()
        self._subscriber = MqttSubscriber(settings, self._deliveries.put)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)

    @property
    def is_connected(self) -> bool:
        return self._subscriber.is_connected

    def start(self) -> None:
        self._thread.start()
        self._subscriber.start()

    def stop(self) -> None:
        self._subscriber.stop()
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            while batch and not self._store(batch):
                if self._stopping.wait(1.0):
                    return  # unacked: the broker redelivers to the next worker
            for delivery in batch:
                self._subscriber.ack(delivery)

    def _next_batch(self) -> list[Delivery]:
        try:
            batch = [self._deliveries.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self._settings.ingest_batch_size:
            try:
                batch.append(self._deliveries.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[Delivery]) -> bool:
        started = time.perf_counter()
        try:
            with self._sessions.begin() as session:
                report = ingest(
                    session,
                    [RawMessage(d.topic, d.body) for d in batch],
                    site=self._settings.site,
                    max_bytes=self._settings.max_message_bytes,
                )
        except SQLAlchemyError:
            log.exception("storing %d messages failed; will retry", len(batch))
            return False
        log.debug("stored %s in %.1f ms", report, 1000 * (time.perf_counter() - started))
        if report.dead_letters:
            log.warning("%d message(s) dead-lettered", report.dead_letters)
        return True
