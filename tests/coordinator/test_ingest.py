"""Ingest stores each device message once and keeps unreadable ones with the reason."""

from prometheus_client import generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.models import DeadLetter, Event
from coordinator.services.dead_letters import BODY_PREFIX_BYTES
from coordinator.services.events import RawMessage, ingest
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    EventKind,
    Sender,
    encode,
    event_topic,
    state_topic,
    topic_for,
)
from tests.coordinator.ingest_helpers import Clock, push, running_worker

LIMIT = 64 * 1024


def _attendance(sender: Sender, site: str = "main") -> RawMessage:
    envelope = sender.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref="p1"))
    return RawMessage(topic_for(site, envelope), encode(envelope))


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_redelivered_messages_are_stored_once(sessions: sessionmaker[Session]) -> None:
    sender = Sender("door-01")
    messages = [_attendance(sender) for _ in range(3)]
    with sessions.begin() as session:
        first = ingest(session, [*messages, messages[0]], site=None, max_bytes=LIMIT)
    with sessions.begin() as session:
        again = ingest(session, messages, site=None, max_bytes=LIMIT)
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (3, 1, 0, 3)
    with sessions() as session:
        assert _count(session, Event) == 3
        stored = session.scalars(select(Event).order_by(Event.seq)).all()
        assert [event.seq for event in stored] == [1, 2, 3]
        assert stored[0].payload == {
            "type": "attendance",
            "action": "check_in",
            "person_ref": "p1",
            "assignment_ref": None,
            "face_distance": None,
        }
        assert stored[0].device_time.tzinfo is not None


def test_the_same_message_id_from_two_devices_is_two_events(
    sessions: sessionmaker[Session],
) -> None:
    a, b = Sender("door-01"), Sender("door-02")
    envelope = a.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref="p"))
    twin = envelope.model_copy(update={"device_id": "door-02", "boot_id": b.boot_id})
    messages = [RawMessage(topic_for("main", e), encode(e)) for e in (envelope, twin)]
    with sessions.begin() as session:
        assert ingest(session, messages, site=None, max_bytes=LIMIT).stored == 2


def test_unreadable_messages_become_dead_letters_with_reasons(
    sessions: sessionmaker[Session],
) -> None:
    door1 = Sender("door-01")
    birth = encode(door1.state(Birth(agent_version="1", profile="door")))
    bad = [
        RawMessage(event_topic("main", "door-01", EventKind.ATTENDANCE), b"{oops"),
        RawMessage(state_topic("main", "door-02"), birth),  # door-01 on door-02's topic
        RawMessage(state_topic("north", "door-01"), birth),  # another site
        RawMessage("campus/v1/main/door-01/nonsense", birth),
        RawMessage(state_topic("main", "door-01"), b"x" * (LIMIT + 1)),
    ]
    with sessions.begin() as session:
        report = ingest(session, [*bad, _attendance(door1)], site="main", max_bytes=LIMIT)
    assert (report.stored, report.dead_letters) == (1, 5)
    with sessions() as session:
        reasons = [d.reason for d in session.scalars(select(DeadLetter).order_by(DeadLetter.id))]
        bodies = [d.body for d in session.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert "Invalid JSON" in reasons[0]
    assert "from device 'door-01' but came on the topic of 'door-02'" in reasons[1]
    assert "is for site 'north', expected 'main'" in reasons[2]
    assert "unknown channel 'nonsense'" in reasons[3]
    assert "over the limit" in reasons[4]
    assert bodies[0] == b"{oops"  # kept as received, for a person to look at


def test_a_huge_message_keeps_only_a_bounded_prefix_as_its_dead_letter(
    sessions: sessionmaker[Session],
) -> None:
    huge = b"{" + b"x" * (10 * 1024 * 1024)
    topic = event_topic("main", "door-01", EventKind.ATTENDANCE)
    with sessions.begin() as session:
        ingest(session, [RawMessage(topic + "\x00", huge)], site=None, max_bytes=LIMIT)
    with sessions() as session:
        dead = session.scalars(select(DeadLetter)).one()
    assert (dead.body, dead.size) == (huge[:BODY_PREFIX_BYTES], len(huge))
    assert dead.topic == topic + "\\x00"  # escaped: a text column cannot hold NUL


def test_old_dead_letters_are_purged_by_the_worker_after_the_retention_period(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    with sessions.begin() as session:
        session.add(DeadLetter(topic="t", body=b"old", size=3, reason="r", received_at=clock.now))
    clock.advance(91 * 24 * 3600)
    with sessions.begin() as session:
        session.add(DeadLetter(topic="t", body=b"new", size=3, reason="r", received_at=clock.now))
    with running_worker(sessions, clock, dead_letter_retention_days=90) as (_worker, fake):
        push(fake, Sender("door-01").state(Birth(agent_version="1", profile="door")))
        assert fake.wait_acked(1)  # the sweep runs before the first batch
    with sessions() as session:
        assert session.scalars(select(DeadLetter.body)).all() == [b"new"]


def test_metrics_count_what_the_worker_stored_and_refused(sessions: sessionmaker[Session]) -> None:
    door = Sender("door-01")
    with running_worker(sessions) as (worker, fake):
        message = _attendance(door)
        fake.push(message.topic, message.body)
        fake.push(message.topic, message.body)
        fake.push(message.topic, b"{oops")
        assert fake.wait_acked(3)
    text = generate_latest(worker.metrics.registry).decode()
    assert 'campus_ingest_events_stored_total{kind="attendance"} 1.0' in text
    assert "campus_ingest_duplicates_total 1.0" in text
    assert 'campus_ingest_dead_letters_total{reason="invalid"} 1.0' in text
    assert "campus_ingest_commit_seconds_count" in text
