"""Nothing a device sends stops the ingest: every message ends as one event or one dead letter.

The property test drives the worker's whole path (bytes → parse → store → ack) on SQLite and
PostgreSQL with envelopes of every payload type whose fields are replaced by hostile values:
integers past any column, times that overflow when normalised to UTC, NUL characters, wrong
types, garbage bytes, and messages on the wrong topic.
"""

import json
import threading
import uuid
from typing import Any, cast

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.app import create_app
from coordinator.core.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.models import DeadLetter, Event
from coordinator.ingest.worker import IngestWorker
from coordinator.services.dead_letters import BODY_PREFIX_BYTES
from protocols import Attendance, AttendanceAction, Sender, encode, topic_for
from tests.coordinator.ingest_helpers import (
    Clock,
    FakeSubscriber,
    count_rows,
    push,
    running_worker,
)
from tests.protocols.strategies import envelopes

EXTREME_INTS = st.sampled_from([-1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1])
EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59Z",
        "2026-02-30T10:00:00Z",
        "2026-11-28T10:00:00",
        "",
    ]
)
NUL_TEXT = st.text(max_size=5).map(lambda t: t + "\x00")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
HOSTILE = EXTREME_INTS | EXTREME_TIMES | NUL_TEXT | JSON_VALUES


@st.composite
def hostile_messages(draw: st.DrawFn) -> tuple[str, bytes]:
    """An envelope of any payload type, with up to three fields (top level or payload) replaced."""
    envelope = draw(envelopes())
    topic = topic_for(draw(st.sampled_from(["main", "north"])), envelope)
    document: dict[str, Any] = json.loads(encode(envelope))
    document["message_id"] = str(uuid.uuid4())  # unique, so "one row per message" is countable
    for _ in range(draw(st.integers(0, 3))):
        targets = [document, document["payload"]]
        target = draw(st.sampled_from([t for t in targets if isinstance(t, dict)]))
        key = draw(st.sampled_from(sorted(target)) | st.text(max_size=5))
        target[key] = draw(HOSTILE)
    body = json.dumps(document).encode()
    shape = draw(st.sampled_from(["json", "json", "json", "cut", "bytes", "huge"]))
    if shape == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    elif shape == "bytes":
        body = draw(st.binary(max_size=200))
    elif shape == "huge":
        body += b" " * (64 * 1024)
    return topic, body


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(hostile_messages(), min_size=1, max_size=8))
def test_every_message_ends_as_one_event_or_one_dead_letter(
    sessions: sessionmaker[Session], batch: list[tuple[str, bytes]]
) -> None:
    with sessions() as session:
        before = count_rows(session, Event) + count_rows(session, DeadLetter)
    with running_worker(sessions) as (worker, fake):
        for topic, body in batch:
            fake.push(topic, body)
        assert fake.wait_acked(len(batch)), f"worker state: {worker.state}"
        assert worker.state == "connected"
    with sessions() as session:
        after = count_rows(session, Event) + count_rows(session, DeadLetter)
        bodies = session.scalars(select(DeadLetter.body)).all()
    assert after - before == len(batch)
    assert all(len(body) <= BODY_PREFIX_BYTES for body in bodies)


def test_a_batch_the_database_refuses_is_stored_one_by_one(
    sessions: sessionmaker[Session],
) -> None:
    """Only the message the database refuses becomes a dead letter; the rest are events."""
    with sessions.begin() as session:
        _refuse_device(session, "door-13")
    good, bad = Sender("door-01"), Sender("door-13")
    with running_worker(sessions) as (worker, fake):
        for sender in (good, bad, good):
            check_in = Attendance(action=AttendanceAction.CHECK_IN, person_ref="p")
            push(fake, sender.sequenced(check_in))
        assert fake.wait_acked(3)
        assert worker.state == "connected"
    with sessions() as session:
        devices = session.scalars(select(Event.device_id)).all()
        reasons = session.scalars(select(DeadLetter.reason)).all()
    assert sorted(devices) == ["door-01", "door-01"]
    assert len(reasons) == 1 and reasons[0].startswith("the database refused it: IntegrityError")


def _refuse_device(session: Session, device_id: str) -> None:
    """Make the database itself refuse one device's events, as a column bound would."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(f"ALTER TABLE events ADD CONSTRAINT refused CHECK (device_id <> '{device_id}')")
        )
    else:
        session.execute(
            text(
                "CREATE TRIGGER refused BEFORE INSERT ON events "
                f"WHEN NEW.device_id = '{device_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )


class _BrokenSessions:
    """A database that fails in a way no retry or split can help: the worker cannot go on."""

    def begin(self) -> Any:
        raise RuntimeError("the disk is on fire")


def test_a_dead_worker_says_so_on_health_and_calls_for_an_exit(sqlite_url: str) -> None:
    deaths: list[BaseException] = []
    died = threading.Event()

    def when_dead(error: BaseException) -> None:
        deaths.append(error)
        died.set()

    worker = IngestWorker(
        Settings(database_url=sqlite_url, mqtt_enabled=False),
        cast(sessionmaker[Session], _BrokenSessions()),
        subscriber=FakeSubscriber,
        clock=Clock(),
        when_dead=when_dead,
    )
    worker.start()
    assert died.wait(10), "the worker did not die"
    assert worker.state == "failed"
    assert isinstance(deaths[0], RuntimeError)
    upgrade(sqlite_url)
    with TestClient(create_app(Settings(database_url=sqlite_url, mqtt_enabled=False))) as client:
        client.app.state.ingest = worker  # type: ignore[attr-defined]
        assert client.get("/api/v1/health").json()["ingest"] == "failed"
    worker.stop()
