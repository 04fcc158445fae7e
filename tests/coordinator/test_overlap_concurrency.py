"""The no-overlap rule under concurrency, on PostgreSQL: interleaved proposals store at most one."""

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db import models as m
from coordinator.db.enums import Role
from coordinator.errors import ConflictError
from coordinator.services import assignments
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope
from tests.coordinator.campus import START, build_campus

PROPOSERS = 8
WAIT_SECONDS = 10.0


def _overlapping_sessions(sessions: sessionmaker[Session], count: int) -> tuple[int, list[int]]:
    """A fresh supervisor and `count` exam sessions in different rooms at the same time."""
    with sessions() as session:
        campus = build_campus(session)
        supervisor = m.User(
            email="racer@campus.test", full_name="Racer", role=Role.SUPERVISOR, is_active=True
        )
        session.add(supervisor)
        rooms = [
            m.Room(building_id=campus.own.building.id, code=f"race-{n}", name="R", capacity=5)
            for n in range(count)
        ]
        session.add_all(rooms)
        session.flush()
        exam_sessions = [
            m.ExamSession(
                exam_id=campus.exam.id,
                room_id=room.id,
                starts_at=START + timedelta(minutes=10 * n),
                ends_at=START + timedelta(hours=2),
            )
            for n, room in enumerate(rooms)
        ]
        session.add_all(exam_sessions)
        session.commit()
        return supervisor.id, [exam_session.id for exam_session in exam_sessions]


def _propose(session: Session, session_id: int, supervisor_id: int) -> None:
    assignments.propose(
        session,
        session_id=session_id,
        supervisor_id=supervisor_id,
        actor=Actor(None, "test"),
        scope=Scope(1, Role.ADMIN, None),
    )


def _stored(sessions: sessionmaker[Session], supervisor_id: int) -> int:
    with sessions() as session:
        query = select(func.count()).where(m.Assignment.supervisor_id == supervisor_id)
        return session.scalar(query) or 0


def test_concurrent_proposals_store_at_most_one(pg_sessions: sessionmaker[Session]) -> None:
    supervisor_id, session_ids = _overlapping_sessions(pg_sessions, PROPOSERS)
    start = threading.Barrier(PROPOSERS, timeout=WAIT_SECONDS)
    outcomes: list[str] = []

    def propose(session_id: int) -> None:
        with pg_sessions() as session:
            start.wait()
            try:
                _propose(session, session_id, supervisor_id)
                session.commit()
                outcomes.append("stored")
            except ConflictError:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=propose, args=(sid,)) for sid in session_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert sorted(outcomes) == ["refused"] * (PROPOSERS - 1) + ["stored"]
    assert _stored(pg_sessions, supervisor_id) == 1


def test_a_second_proposal_waits_for_the_first_and_then_sees_it(
    pg_sessions: sessionmaker[Session],
) -> None:
    """Deterministic interleaving: the second transaction runs while the first is uncommitted.

    Without the lock the second would find no overlap (the first row is not visible to it yet)
    and both would be stored.
    """
    supervisor_id, (first_id, second_id) = _overlapping_sessions(pg_sessions, 2)
    outcome: list[str] = []
    with pg_sessions() as first:
        _propose(first, first_id, supervisor_id)  # holds the supervisor's lock, uncommitted

        def second() -> None:
            with pg_sessions() as session:
                try:
                    _propose(session, second_id, supervisor_id)
                    session.commit()
                    outcome.append("stored")
                except ConflictError:
                    outcome.append("refused")

        racer = threading.Thread(target=second)
        racer.start()
        assert _waits_for_a_lock(pg_sessions, racer), "the second proposal did not wait"
        first.commit()
    racer.join(WAIT_SECONDS)
    assert outcome == ["refused"]
    assert _stored(pg_sessions, supervisor_id) == 1


def _waits_for_a_lock(sessions: sessionmaker[Session], racer: threading.Thread) -> bool:
    """True once another backend of this database waits on a lock; False if the racer ends first."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60  # bounded; a loaded machine may take seconds to connect
    with sessions() as watcher:
        while time.monotonic() < deadline:
            if watcher.scalar(waiting):
                return True
            # pg_stat_activity is read once per transaction: end it, or every later check
            # would see the snapshot of the first (taken before the racer reached the lock).
            watcher.rollback()
            racer.join(0.01)
            if not racer.is_alive():
                return False
    return False
