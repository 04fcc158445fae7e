"""Crash tests: the ingest process, the broker or the database fails in the middle of a stream.

Real Mosquitto (persistence on), real PostgreSQL, `coordinator ingest` as real processes, and
simulated devices running the agent's own uplink, which keeps each event in its outbox until the
coordinator's receipt (two workers with one killed for good: test_ingest_worker_loss.py).
Each test ends with every event stored exactly once and no open
sequence gap. The suite runs CAMPUS_CRASH_EVENTS events
(default 20,000, the issue's size; the devices keep their outboxes in memory, see `outbox_dir`).
"""

import os
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from protocols import CoordinatorStatus, coordinator_state_filter, coordinator_state_topic
from protocols.codec import decode_coordinator_state
from tests.fixtures.broker import COORDINATOR_USER, Broker, BrokerFactory
from tests.fixtures.postgres import ADMIN_DSN
from tests.fixtures.watch import Watcher
from tests.integration.fleet import IngestProcess, OutboxFleet, stored, wait_until

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("CAMPUS_CRASH_EVENTS", "20000"))
DEVICES = [f"door-{n:02d}" for n in range(1, 11)]
PER_DEVICE = EVENTS // len(DEVICES)
ONLINE, OFFLINE = CoordinatorStatus.ONLINE, CoordinatorStatus.OFFLINE


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> Broker:
    return broker_factory(
        auth=True, persistence=True, device_ids=DEVICES, worker_accounts=["coordinator-ingest-2"]
    )


def _attendance(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """The devices' events (births, stored as events too, left out)."""
    return stored(sessions, kind="attendance")


# Longer than an event waits in the broker's queue behind the stream's backlog on a loaded
# machine, so that the stream is not sent twice over; short enough that what the broker loses
# (see the broker test) comes back well within the test's time.
RECEIPT_TIMEOUT_S = 20.0


def _stream_with_fault(
    broker: Broker, sessions: sessionmaker[Session], fault: Callable[[], None], outbox_dir: Path
) -> None:
    """Record EVENTS in the devices' outboxes in the background; when a third is stored,
    inject the fault (it must come before the last event is stored); every outbox must then
    empty, by receipts."""
    fleet = OutboxFleet(broker, DEVICES, outbox_dir, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    failures: list[BaseException] = []

    def publish() -> None:
        try:
            fleet.publish(PER_DEVICE, deadline_s=300)
        except BaseException as error:
            failures.append(error)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        wait_until(lambda: _attendance(sessions)[0] >= EVENTS // 3, "a third never arrived")
        stored_before_fault = _attendance(sessions)[0]
        fault()
    finally:
        publisher.join(300)
        fleet.close()
    assert not failures, failures
    assert stored_before_fault < EVENTS, "the fault came after the stream, not in its middle"
    assert _attendance(sessions)[0] >= EVENTS  # every outbox emptied by receipts only


def test_the_ingest_process_is_killed_and_restarted(
    broker: Broker,
    postgres_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    outbox_dir: Path,
) -> None:
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, tmp_path / "ingest.log")
    worker.start()

    def kill_and_restart() -> None:
        worker.kill()
        worker.start()

    try:
        _stream_with_fault(broker, pg_sessions, kill_and_restart, outbox_dir)
    finally:
        worker.stop()
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)


def test_the_database_refuses_connections_for_a_while(
    broker: Broker,
    postgres_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    outbox_dir: Path,
) -> None:
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, tmp_path / "ingest.log")
    worker.start()
    name = make_url(postgres_url).database

    def refuse_then_allow() -> None:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            threading.Event().wait(3)  # the outage: the worker must wait, unacked
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    try:
        _stream_with_fault(broker, pg_sessions, refuse_then_allow, outbox_dir)
    finally:
        worker.stop()
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)
    assert "database unreachable" in (tmp_path / "ingest.log").read_text()


def test_the_broker_is_killed_and_restarted(
    broker: Broker,
    postgres_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    outbox_dir: Path,
) -> None:
    """Mosquitto PUBACKs before its next autosave, so a SIGKILL loses what it acknowledged
    and had neither delivered nor saved; the devices still hold it (no receipt) and resend."""
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, tmp_path / "ingest.log")
    worker.start()

    def kill_broker() -> None:
        broker.kill()
        broker.start()

    try:
        _stream_with_fault(broker, pg_sessions, kill_broker, outbox_dir)
    finally:
        worker.stop()
    assert _attendance(pg_sessions) == (EVENTS, EVENTS, 0)


def _states(watcher: Watcher) -> list[tuple[CoordinatorStatus, bool]]:
    """(status, retained) of every state message of worker coordinator-ingest-1 seen so far."""
    seen = watcher.on(coordinator_state_topic("coordinator-ingest-1"))
    found = []
    for item in seen:
        _, _, state = decode_coordinator_state(item.topic, item.body)
        found.append((state.status, item.retained))
    return found


def test_the_coordinators_online_state_is_retained_and_its_will_says_offline(
    broker: Broker, postgres_url: str, pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Devices read each worker's retained state; a SIGKILLed worker is offline by its will."""
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, tmp_path / "ingest.log")
    worker.start()
    device = OutboxFleet(broker, DEVICES[:1], tmp_path)
    uplink = device.uplinks[DEVICES[0]]
    try:
        first = Watcher(broker, coordinator_state_filter(), user=DEVICES[1], client_id=DEVICES[1])
        wait_until(lambda: _states(first)[:1] == [(ONLINE, True)], "no retained online state")
        wait_until(lambda: uplink.coordinator.is_online is True, "the device did not hear it")
        worker.kill()
        # Live (not retained): the broker published the will when the connection broke.
        wait_until(lambda: _states(first)[-1:] == [(OFFLINE, False)], "no will", timeout=30)
        wait_until(lambda: uplink.coordinator.is_online is False, "the device missed the will")
        first.stop()
        later = Watcher(broker, coordinator_state_filter(), user=DEVICES[2], client_id=DEVICES[2])
        wait_until(lambda: _states(later)[:1] == [(OFFLINE, True)], "the will was not retained")
        worker.start()
        wait_until(lambda: _states(later)[-1:] == [(ONLINE, False)], "not online again")
        worker.stop()  # a clean stop says goodbye itself
        wait_until(lambda: _states(later)[-1:] == [(OFFLINE, False)], "no goodbye on stop")
        later.stop()
    finally:
        worker.kill()
        device.close()
