"""What ingest derives from new messages: sequence gaps, late events and device presence.

Every test runs on SQLite and PostgreSQL, through `ingest` (the worker's own path), with an
injected clock; duplicates are delivered on purpose to show they change nothing.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.models import DevicePresence, Event, SequenceGap
from coordinator.services import presence
from coordinator.services.events import RawMessage, ingest
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    ClockSync,
    Death,
    DeathCause,
    Envelope,
    Health,
    Heartbeat,
    Sender,
    encode,
    topic_for,
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LIMIT = 64 * 1024


def _raw(envelope: Envelope) -> RawMessage:
    return RawMessage(topic_for("main", envelope), encode(envelope))


def _store(sessions: sessionmaker[Session], *envelopes: Envelope, at: datetime = NOW) -> None:
    with sessions.begin() as session:
        ingest(session, [_raw(e) for e in envelopes], site=None, max_bytes=LIMIT, now=at)


def _check_ins(sender: Sender, count: int) -> list[Envelope]:
    return [
        sender.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref=f"p{n}"))
        for n in range(count)
    ]


def _gaps(sessions: sessionmaker[Session]) -> list[tuple[int, int, bool]]:
    with sessions() as session:
        gaps = session.scalars(select(SequenceGap).order_by(SequenceGap.first_seq)).all()
        return [(g.first_seq, g.last_seq, g.closed_at is None) for g in gaps]


def test_a_gap_opens_with_its_range_and_closes_as_the_missing_messages_arrive(
    sessions: sessionmaker[Session],
) -> None:
    one, two, three, four, five, six = _check_ins(Sender("door-01"), 6)
    _store(sessions, one, six)
    assert _gaps(sessions) == [(2, 5, True)]
    _store(sessions, four, four)  # a late message splits the gap; its duplicate changes nothing
    assert _gaps(sessions) == [(2, 3, True), (5, 5, True)]
    _store(sessions, two, five)
    assert _gaps(sessions) == [(3, 3, True), (5, 5, False)]
    _store(sessions, three)
    assert all(not is_open for *_, is_open in _gaps(sessions))
    with sessions() as session:
        late = dict(session.execute(select(Event.seq, Event.late)).all())
    assert late == {1: False, 2: True, 3: True, 4: True, 5: True, 6: False}


def test_a_new_boot_starts_a_new_sequence_and_replayed_events_keep_their_time(
    sessions: sessionmaker[Session],
) -> None:
    before, after = Sender("door-01"), Sender("door-01")
    old = _check_ins(before, 3)
    replayed = old[2].model_copy(update={"replayed": True})
    _store(sessions, *old[:2], *_check_ins(after, 2))
    _store(sessions, replayed, at=NOW + timedelta(hours=2))
    assert _gaps(sessions) == []
    with sessions() as session:
        row = session.scalars(select(Event).where(Event.seq == 3)).one()
    assert row.late and row.replayed and row.device_time == replayed.device_time


def test_birth_and_death_set_presence_at_once_but_a_stale_death_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    first, second = Sender("door-01"), Sender("door-01")
    will = first.state(Death(cause=DeathCause.CONNECTION_LOST))
    _store(sessions, first.state(Birth(agent_version="1.0", profile="door", bundle_version=3)))
    assert _presence(sessions).is_online
    _store(sessions, will, at=NOW + timedelta(seconds=5))
    assert not _presence(sessions).is_online
    _store(sessions, second.state(Birth(agent_version="1.1", profile="door")))
    _store(sessions, will.model_copy(update={"message_id": second.boot_id}))  # the old will again
    row = _presence(sessions)
    assert row.is_online and row.boot_id == second.boot_id and row.agent_version == "1.1"


def test_heartbeats_refresh_presence_and_silence_takes_a_device_offline(
    sessions: sessionmaker[Session],
) -> None:
    sender = Sender("door-01")
    _store(sessions, sender.state(Birth(agent_version="1.0", profile="door")))
    _store(sessions, sender.sequenced(Heartbeat(health=_health(bundle_version=9))), at=NOW)
    row = _presence(sessions)
    assert (row.bundle_version, row.health and row.health["outbox_depth"]) == (9, 4)
    silence = timedelta(seconds=90)
    with sessions.begin() as session:
        assert presence.mark_silent_offline(session, now=NOW + silence, silence=silence) == []
    with sessions.begin() as session:
        later = NOW + silence + timedelta(seconds=1)
        assert presence.mark_silent_offline(session, now=later, silence=silence) == ["door-01"]
    assert not _presence(sessions).is_online


def _presence(sessions: sessionmaker[Session]) -> DevicePresence:
    with sessions() as session:
        return session.scalars(select(DevicePresence)).one()


def _health(bundle_version: int) -> Health:
    return Health(
        load_1m=0.1,
        disk_free_bytes=10**9,
        memory_used_pct=20,
        clock_sync=ClockSync.SYNCED,
        agent_version="1.0",
        bundle_version=bundle_version,
        outbox_depth=4,
    )
