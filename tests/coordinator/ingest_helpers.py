"""A worker without a broker: a fake subscriber that records acks, and a way to wait for them."""

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.core.config import Settings
from coordinator.db.models import DeadLetter, Event
from coordinator.ingest.mqtt import Delivery
from coordinator.ingest.worker import IngestWorker
from protocols import Envelope, encode, topic_for

_mids = count(1)


class FakeSubscriber:
    """Stands in for the broker connection: tests push deliveries, the worker acks them here."""

    def __init__(self, settings: Settings, deliver: Callable[[Delivery], object]) -> None:
        self.deliver = deliver
        self.is_connected = True
        self.acked: list[Delivery] = []
        self.published: list[tuple[str, bytes, bool]] = []  # receipts, before their acks
        self.announced: list[bool] = []  # is_storing of each announcement
        self._changed = threading.Condition()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        with self._changed:
            self.acked += deliveries
            self._changed.notify_all()

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> None:
        with self._changed:
            self.published.append((topic, body, retain))

    def announce(self, *, is_storing: bool = True) -> None:
        self.announced.append(is_storing)

    def push(self, topic: str, body: bytes) -> Delivery:
        delivery = Delivery(topic, body, next(_mids), 1)
        self.deliver(delivery)
        return delivery

    def wait_acked(self, total: int, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.acked) >= total, timeout)


class Clock:
    """An injected clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def running_worker(
    sessions: sessionmaker[Session], clock: Clock | None = None, **settings: object
) -> Iterator[tuple[IngestWorker, FakeSubscriber]]:
    made: list[FakeSubscriber] = []

    def subscriber(settings: Settings, deliver: Callable[[Delivery], object]) -> FakeSubscriber:
        made.append(FakeSubscriber(settings, deliver))
        return made[-1]

    worker = IngestWorker(
        Settings(database_url="sqlite://", **settings),  # type: ignore[arg-type]
        sessions,
        subscriber=subscriber,
        clock=clock or Clock(),
    )
    fake = made[0]
    worker.start()
    try:
        yield worker, fake
    finally:
        worker.stop()


def push(fake: FakeSubscriber, envelope: Envelope, site: str = "main") -> Delivery:
    return fake.push(topic_for(site, envelope), encode(envelope))


def count_rows(session: Session, model: type[Event] | type[DeadLetter]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
