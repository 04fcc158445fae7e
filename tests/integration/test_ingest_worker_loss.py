"""Two ingest workers in one shared group, then one of them killed for good.

Mosquitto 2.0.11 keeps handing a member of a shared subscription its share for as long as the
member's session lives, connected or not: that share waits for the member's client id. The
design (docs/delivery.md, "An ingest worker lost for good"): the worker's session expiry bounds
the wait. When the killed worker's session expires, the broker forgets it, its queue and its
place in the group; the devices, which keep every row until the coordinator's receipt, send
what it held again once their receipt timeout passes, and only live workers get it now.

Real Mosquitto (auth, persistence), real PostgreSQL, `coordinator ingest` as real processes,
devices running the agent's own uplink; test-sized session expiry and receipt timeout.
CAMPUS_CRASH_EVENTS events (default 3,000), like the other crash tests.
"""

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from edge_agent.uplink import Uplink
from protocols import Attendance, AttendanceAction
from tests.fixtures.broker import COORDINATOR_USER, Broker, BrokerFactory
from tests.integration.fleet import IngestProcess, OutboxFleet, stored, wait_until

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("CAMPUS_CRASH_EVENTS", "3000"))
DEVICES = [f"door-{n:02d}" for n in range(1, 11)]
PER_DEVICE = EVENTS // len(DEVICES)
SECOND_SLOT = "coordinator-ingest-2"
SESSION_EXPIRY_S = 3  # production: 300 s
RECEIPT_TIMEOUT_S = 6.0  # production: 60 s
# What the bound leaves for storing the rest of the stream on a loaded 2-core machine, for the
# uplink's one-second tick and for the broker's once-a-second expiry check.
SLACK_S = 10.0 + EVENTS / 500
BOUND_S = SESSION_EXPIRY_S + RECEIPT_TIMEOUT_S + SLACK_S
LONG_EXPIRY_S = 3600  # the control: a session that outlives the test
AWAY_PER_DEVICE = 10  # events each device sends before and again after the session expires
EXPIRED = "Expiring client {client_id} due to timeout"  # Mosquitto's log line


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> Broker:
    return broker_factory(
        auth=True, persistence=True, device_ids=DEVICES, worker_accounts=[SECOND_SLOT]
    )


def _attendance(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """(events, distinct ones, open gaps) of the devices' events (births left out)."""
    return stored(sessions, kind="attendance")


def _worker(
    broker: Broker, database_url: str, user: str, log: Path, session_expiry_s: int
) -> IngestProcess:
    expiry = {"COORDINATOR_MQTT_SESSION_EXPIRY_S": str(session_expiry_s)}
    worker = IngestProcess(broker, database_url, user, log, expiry)
    worker.start()
    return worker


@contextmanager
def _streaming(fleet: OutboxFleet, deadline_s: float) -> Iterator[None]:
    """EVENTS recorded in the devices' outboxes in the background; on leaving, every outbox
    must have been emptied by the coordinator's receipts."""
    failures: list[BaseException] = []

    def publish() -> None:
        try:
            fleet.publish(PER_DEVICE, deadline_s=deadline_s)
        except BaseException as error:
            failures.append(error)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        yield
    finally:
        publisher.join(deadline_s + 60)
    assert not failures, failures


def _kill_in_the_middle(worker: IngestProcess, sessions: sessionmaker[Session]) -> float:
    """SIGKILL once a third of the stream is stored; returns when (monotonic)."""
    wait_until(lambda: _attendance(sessions)[0] >= EVENTS // 3, "a third never arrived")
    worker.kill()
    return time.monotonic()


def _is_all_stored_by(sessions: sessionmaker[Session], deadline: float, count: int) -> bool:
    """Polls until `count` events are stored (True) or the deadline passes (False)."""
    pause = threading.Event()
    while _attendance(sessions)[0] < count:
        if time.monotonic() > deadline:
            return False
        pause.wait(0.2)
    return True


def _record_sent(uplinks: Iterable[Uplink]) -> None:
    """AWAY_PER_DEVICE events from each device, recorded and acknowledged by the broker."""
    for uplink in uplinks:
        for _ in range(AWAY_PER_DEVICE):
            uplink.record(Attendance(action=AttendanceAction.CHECK_IN, person_ref="user-1"))
    assert all(uplink.wait_sent(timeout=30) for uplink in uplinks), "not acknowledged"


def test_a_worker_killed_for_good_strands_nothing_past_its_session_expiry(
    broker: Broker, postgres_url: str, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = _worker(broker, postgres_url, COORDINATOR_USER, tmp_path / "1.log", SESSION_EXPIRY_S)
    second = _worker(broker, postgres_url, SECOND_SLOT, tmp_path / "2.log", SESSION_EXPIRY_S)
    fleet = OutboxFleet(broker, DEVICES, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    try:
        with _streaming(fleet, deadline_s=BOUND_S + 120):
            killed_at = _kill_in_the_middle(second, pg_sessions)
            is_in_time = _is_all_stored_by(pg_sessions, killed_at + BOUND_S, EVENTS)
            took = time.monotonic() - killed_at
    finally:
        fleet.close()
        first.stop()
    assert is_in_time, f"not every event was stored within {BOUND_S:.0f} s of the kill"
    print(f"stored {EVENTS} events {took:.1f} s after the kill (bound {BOUND_S:.0f} s)")
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)
    assert EXPIRED.format(client_id=SECOND_SLOT) in broker.log_path.read_text()


def test_with_a_long_session_expiry_the_killed_workers_share_waits_for_its_slot(
    broker: Broker, postgres_url: str, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The control, as it was with a 7-day expiry: the bound passes with events still missing
    (their resends keep going to the dead member too); a process taking up the slot stores them."""
    first = _worker(broker, postgres_url, COORDINATOR_USER, tmp_path / "1.log", LONG_EXPIRY_S)
    second = _worker(broker, postgres_url, SECOND_SLOT, tmp_path / "2.log", LONG_EXPIRY_S)
    fleet = OutboxFleet(broker, DEVICES, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    try:
        with _streaming(fleet, deadline_s=BOUND_S + 120):
            killed_at = _kill_in_the_middle(second, pg_sessions)
            is_in_time = _is_all_stored_by(pg_sessions, killed_at + BOUND_S, EVENTS)
            missing = EVENTS - _attendance(pg_sessions)[0]
            second.start()  # the slot runs again: its session, and the share in it, are back
    finally:
        fleet.close()
        first.stop()
        second.stop()
    print(f"{missing} events missing {BOUND_S:.0f} s after the kill")
    assert not is_in_time, "the killed worker's share should have waited for its slot"
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)


def test_the_whole_coordinator_away_past_its_session_expiry_has_everything_resent(
    broker: Broker, postgres_url: str, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The broker drops the expired sessions' queues, and acknowledges what devices send later
    but delivers it to nobody; the devices send it all again a receipt timeout after the return."""
    worker = _worker(broker, postgres_url, COORDINATOR_USER, tmp_path / "1.log", SESSION_EXPIRY_S)
    fleet = OutboxFleet(broker, DEVICES, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    uplinks = fleet.uplinks.values()
    away = 2 * AWAY_PER_DEVICE * len(DEVICES)
    try:
        wait_until(lambda: all(u.coordinator.is_online for u in uplinks), "never online")
        worker.kill()
        wait_until(lambda: not any(u.coordinator.is_online for u in uplinks), "never away")
        _record_sent(uplinks)  # queued in the worker's session, which then expires
        expired = EXPIRED.format(client_id="coordinator-ingest-1")
        wait_until(lambda: expired in broker.log_path.read_text(), "the session did not expire")
        _record_sent(uplinks)  # acknowledged, and delivered to nobody
        worker.start()
        back_at = time.monotonic()
        is_in_time = _is_all_stored_by(pg_sessions, back_at + RECEIPT_TIMEOUT_S + SLACK_S, away)
        took = time.monotonic() - back_at
        assert all(uplink.wait_drained(timeout=30) for uplink in uplinks), "not receipted"
    finally:
        fleet.close()
        worker.stop()
    print(f"{away} events stored {took:.1f} s after the coordinator's return")
    assert is_in_time, "the devices did not send again what the broker dropped"
    # Not from a broker queue (that takes well under a second), but resent on the timer.
    assert took >= RECEIPT_TIMEOUT_S - 1
    assert _attendance(pg_sessions) == (away, away, 0)
