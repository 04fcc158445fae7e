"""Two ingest workers in one shared group, then one of them killed for good.

Mosquitto 2.0.11 keeps handing a member of a shared subscription its share for as long as the
member's session lives, connected or not: that share waits for the member's client id. The
design (docs/delivery.md, "An ingest worker lost for good"): the worker's session expiry bounds
the wait. When the killed worker's session expires, the broker forgets it, its queue and its
place in the group; the devices, which keep every row until the coordinator's receipt, send
what it held again once their receipt timeout passes, and only live workers get it now.

Real Mosquitto (auth, persistence), real PostgreSQL, `coordinator ingest` as real processes,
devices running the agent's own uplink; test-sized session expiry and receipt timeout.
CAMPUS_CRASH_EVENTS events (default 20,000), like the other crash tests.
"""

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from coordinator.broker_config import free_port
from coordinator.errors import BrokerError
from coordinator.ingest.mqtt import retire_slot
from edge_agent.uplink import Uplink
from protocols import (
    Attendance,
    AttendanceAction,
    coordinator_state_topic,
)
from tests.fixtures.broker import COORDINATOR_USER, Broker, BrokerFactory
from tests.fixtures.watch import Watcher
from tests.integration.fleet import (
    IngestProcess,
    OutboxFleet,
    stored,
    wait_until,
    worker_settings,
)

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("CAMPUS_CRASH_EVENTS", "20000"))
DEVICES = [f"door-{n:02d}" for n in range(1, 11)]
PER_DEVICE = EVENTS // len(DEVICES)
SECOND_SLOT = "coordinator-ingest-2"
SESSION_EXPIRY_S = 3  # production: 300 s
# Production: 60 s. Long enough here that the control's bound spans only a few resend rounds
# (each one takes half of what is left away from the dead member, by round robin).
RECEIPT_TIMEOUT_S = 6.0 + EVENTS / 1000
# The uplink's one-second tick, the broker's once-a-second expiry check, the polling.
FIXED_SLACK_S = 8.0
LONG_EXPIRY_S = 3600  # the control: a session that outlives the test
STREAM_DEADLINE_S = 300.0
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


StartWorker = Callable[[str, int], IngestProcess]


@pytest.fixture
def start_worker(broker: Broker, postgres_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start `coordinator ingest` for an account (its slot) with a session expiry; every
    worker still running at the end is stopped."""
    started: list[IngestProcess] = []

    def start(user: str, session_expiry_s: int) -> IngestProcess:
        expiry = {"COORDINATOR_MQTT_SESSION_EXPIRY_S": str(session_expiry_s)}
        worker = IngestProcess(broker, postgres_url, user, tmp_path / f"{user}.log", expiry)
        started.append(worker)
        worker.start()
        return worker

    yield start
    for worker in started:
        worker.stop()


@dataclass(frozen=True)
class Kill:
    """When a worker was killed (monotonic), and by when every event must be stored."""

    at: float
    deadline: float


@contextmanager
def _streaming(fleet: OutboxFleet) -> Iterator[float]:
    """EVENTS recorded in the devices' outboxes in the background, from the time yielded; on
    leaving, every outbox must have been emptied by the coordinator's receipts."""
    failures: list[BaseException] = []

    def publish() -> None:
        try:
            fleet.publish(PER_DEVICE, deadline_s=STREAM_DEADLINE_S)
        except BaseException as error:
            failures.append(error)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        yield time.monotonic()
    finally:
        publisher.join(STREAM_DEADLINE_S + 60)
    assert not failures, failures


def _kill_in_the_middle(
    worker: IngestProcess, sessions: sessionmaker[Session], started_at: float
) -> Kill:
    """SIGKILL once a third of the stream is stored. The bound: session expiry + receipt
    timeout + the time the rest of the stream takes at the pace measured so far (doubled, since
    one worker of two is gone: this is what a loaded machine manages, not the design) + slack."""
    wait_until(lambda: _attendance(sessions)[0] >= EVENTS // 3, "a third never arrived")
    worker.kill()
    killed_at = time.monotonic()
    done = _attendance(sessions)[0]
    rest_s = 2 * (EVENTS - done) * (killed_at - started_at) / done
    bound_s = SESSION_EXPIRY_S + RECEIPT_TIMEOUT_S + rest_s + FIXED_SLACK_S
    return Kill(at=killed_at, deadline=killed_at + bound_s)


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
    broker: Broker, start_worker: StartWorker, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    start_worker(COORDINATOR_USER, SESSION_EXPIRY_S)
    second = start_worker(SECOND_SLOT, SESSION_EXPIRY_S)
    fleet = OutboxFleet(broker, DEVICES, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    try:
        with _streaming(fleet) as started_at:
            kill = _kill_in_the_middle(second, pg_sessions, started_at)
            is_in_time = _is_all_stored_by(pg_sessions, kill.deadline, EVENTS)
            took_s = time.monotonic() - kill.at
    finally:
        fleet.close()
    bound_s = kill.deadline - kill.at
    assert is_in_time, f"not every event was stored within {bound_s:.0f} s of the kill"
    print(f"{EVENTS} events stored {took_s:.1f} s after the kill (bound {bound_s:.0f} s)")
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)
    assert EXPIRED.format(client_id=SECOND_SLOT) in broker.log_path.read_text()


def test_with_a_long_session_expiry_the_killed_workers_share_waits_until_it_is_retired(
    broker: Broker, start_worker: StartWorker, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The control, as with the former 7-day expiry: the same bound passes with events still
    missing (their resends keep going to the dead member too). `coordinator ingest --retire`
    then ends the slot's session, and the next resends reach the live worker."""
    start_worker(COORDINATOR_USER, LONG_EXPIRY_S)
    second = start_worker(SECOND_SLOT, LONG_EXPIRY_S)
    fleet = OutboxFleet(broker, DEVICES, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    slot_state = coordinator_state_topic(SECOND_SLOT)
    watcher = Watcher(broker, slot_state, user=COORDINATOR_USER)
    try:
        with _streaming(fleet) as started_at:
            kill = _kill_in_the_middle(second, pg_sessions, started_at)
            is_in_time = _is_all_stored_by(pg_sessions, kill.deadline, EVENTS)
            missing = EVENTS - _attendance(pg_sessions)[0]
            second.retire()
            retired_at = time.monotonic()
            deadline = retired_at + RECEIPT_TIMEOUT_S + FIXED_SLACK_S
            is_in_time_once_retired = _is_all_stored_by(pg_sessions, deadline, EVENTS)
            took_s = time.monotonic() - retired_at
        # Devices hear the slot's last word: the empty message that retires it.
        wait_until(
            lambda: [seen.body for seen in watcher.on(slot_state)][-1:] == [b""],
            "the retired slot's online state was not cleared",
        )
    finally:
        watcher.stop()
        fleet.close()
    bound_s = kill.deadline - kill.at
    print(f"{missing} missing {bound_s:.0f} s after the kill; all stored {took_s:.1f} s after")
    assert not is_in_time, "the killed worker's share should have waited for its slot"
    assert is_in_time_once_retired, "the retired slot's share did not reach the live worker"
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)


def test_the_whole_coordinator_away_past_its_session_expiry_has_everything_resent(
    broker: Broker, start_worker: StartWorker, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The broker drops the expired sessions' queues, and acknowledges what devices send later
    but delivers it to nobody; the devices send it all again a receipt timeout after the return."""
    worker = start_worker(COORDINATOR_USER, SESSION_EXPIRY_S)
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
        deadline = back_at + RECEIPT_TIMEOUT_S + FIXED_SLACK_S
        is_in_time = _is_all_stored_by(pg_sessions, deadline, away)
        took_s = time.monotonic() - back_at
        assert all(uplink.wait_drained(timeout=30) for uplink in uplinks), "not receipted"
    finally:
        fleet.close()
    print(f"{away} events stored {took_s:.1f} s after the coordinator's return")
    assert is_in_time, "the devices did not send again what the broker dropped"
    # Not from a broker queue (that takes well under a second), but resent on the timer.
    assert took_s >= RECEIPT_TIMEOUT_S - 1
    assert _attendance(pg_sessions) == (away, away, 0)


def test_retiring_a_slot_says_so_when_the_broker_refuses_or_is_not_there(
    broker_factory: BrokerFactory,
) -> None:
    broker = broker_factory(auth=True)
    wrong_password = worker_settings(broker, "sqlite://", mqtt_password="not-the-password")
    with pytest.raises(BrokerError, match="refused"):
        retire_slot(wrong_password)
    nobody_there = worker_settings(broker, "sqlite://", mqtt_port=free_port())
    with pytest.raises(BrokerError, match="cannot reach"):
        retire_slot(nobody_there)
