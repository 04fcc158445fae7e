"""After each commit the worker tells every device of the batch what it now holds for good."""

import json
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from coordinator.ingest.notices import receipts, worker_state
from coordinator.services.events import Kept
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    CoordinatorState,
    CoordinatorStatus,
    Envelope,
    Receipt,
    Sender,
    decode,
    encode,
    event_topic,
    parse_topic,
    receipt_topic,
    topic_for,
)
from protocols.codec import decode_coordinator_state
from protocols.messages import MAX_RECEIPT_IDS
from protocols.vocabulary import EventKind
from tests.coordinator.ingest_helpers import FakeSubscriber, push, running_worker
from tests.integration.fleet import wait_until

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _check_in(sender: Sender) -> Envelope:
    return sender.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref="p1"))


def _receipts(fake: FakeSubscriber) -> dict[str, list[UUID]]:
    """Receipted message ids by device; asserts each receipt is on its device's own topic."""
    by_device: dict[str, list[UUID]] = {}
    for topic, body, retain in fake.published:
        envelope = decode(body)
        assert isinstance(envelope.payload, Receipt) and not retain
        assert parse_topic(topic).device_id == envelope.device_id
        assert topic == receipt_topic("main", envelope.device_id)
        by_device.setdefault(envelope.device_id, []).extend(envelope.payload.message_ids)
    return by_device


def test_one_receipt_per_device_names_stored_duplicate_and_dead_lettered_messages(
    sessions: sessionmaker[Session],
) -> None:
    one, two = Sender("door-01"), Sender("door-02")
    first, second, other = _check_in(one), _check_in(one), _check_in(two)
    refused_id = uuid4()  # a body the device thought fine, the coordinator refuses
    refused = json.dumps({"message_id": str(refused_id), "seq": "not a number"}).encode()
    with running_worker(sessions, ingest_batch_size=1000) as (_, fake):
        for envelope in (first, second, first, other):  # `first` twice: a resend
            push(fake, envelope)
        fake.push(event_topic("main", "door-01", EventKind.ATTENDANCE), refused)
        push(fake, one.state(Birth(agent_version="1", profile="door")))  # never in an outbox
        fake.push("campus/v1/main/door-01/evt/attendance", b"\x00 no id at all")
        assert fake.wait_acked(7)
    assert _receipts(fake) == {
        "door-01": [first.message_id, second.message_id, refused_id],
        "door-02": [other.message_id],
    }
    assert len(fake.published) <= 4  # one per device per batch (the batches may split)


def test_a_later_resend_of_a_stored_message_is_receipted_again(
    sessions: sessionmaker[Session],
) -> None:
    """The device resends what it was never receipted for (the receipt was lost)."""
    door = Sender("door-01")
    envelope = _check_in(door)
    with running_worker(sessions) as (_, fake):
        push(fake, envelope)
        assert fake.wait_acked(1)
        push(fake, envelope)
        assert fake.wait_acked(2)
    assert _receipts(fake) == {"door-01": [envelope.message_id] * 2}


def test_the_worker_announces_itself_online_and_again_later(
    sessions: sessionmaker[Session],
) -> None:
    with running_worker(sessions) as (_, fake):
        push(fake, _check_in(Sender("door-01")))
        assert fake.wait_acked(1)
    assert fake.announced[:1] == [True]


def test_receipts_split_only_past_their_size_bound() -> None:
    ids = [uuid4() for _ in range(MAX_RECEIPT_IDS + 1)]
    kept = [Kept("main", "door-01", i) for i in ids] + [Kept("north", "gate-01", ids[0])]
    notices = receipts([*kept, kept[0]], boot_id=uuid4(), now=NOW)
    assert [topic for topic, _ in notices] == [
        receipt_topic("main", "door-01"),
        receipt_topic("main", "door-01"),
        receipt_topic("north", "gate-01"),
    ]
    bodies = [decode(body).payload for _, body in notices]
    assert [p.message_ids for p in bodies if isinstance(p, Receipt)] == [
        ids[:MAX_RECEIPT_IDS],
        ids[MAX_RECEIPT_IDS:],
        ids[:1],
    ]
    assert max(len(body) for _, body in notices) < 64 * 1024


def test_the_workers_state_is_a_coordinator_state_message_on_its_own_topic() -> None:
    topic, body = worker_state(
        "coordinator-ingest-2", CoordinatorStatus.OFFLINE, boot_id=uuid4(), now=NOW
    )
    worker, envelope, state = decode_coordinator_state(topic, body)
    assert (worker, state) == (
        "coordinator-ingest-2",
        CoordinatorState(status=CoordinatorStatus.OFFLINE),
    )
    assert envelope.device_time == NOW and envelope.seq == 0
    assert topic_for("main", envelope) == topic
    assert encode(envelope) == body


class _FlakySessions:
    """The real sessions, except that the database is unreachable while `down` is set."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.down = threading.Event()

    def begin(self) -> AbstractContextManager[Session]:
        if self.down.is_set():
            raise exc.OperationalError("BEGIN", {}, ConnectionRefusedError("database is down"))
        return self._sessions.begin()


def test_while_the_database_is_away_the_worker_says_offline_and_receipts_nothing(
    sessions: sessionmaker[Session],
) -> None:
    flaky = _FlakySessions(sessions)
    envelope = _check_in(Sender("door-01"))
    with running_worker(flaky) as (_, fake):  # type: ignore[arg-type]
        flaky.down.set()
        push(fake, envelope)
        wait_until(lambda: False in fake.announced, "the worker never said it is offline")
        assert fake.published == [] and fake.acked == []
        flaky.down.clear()
        assert fake.wait_acked(1)
    assert fake.announced[-2:] == [False, True]
    assert _receipts(fake) == {"door-01": [envelope.message_id]}
