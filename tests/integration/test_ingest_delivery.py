"""Nothing is lost while the coordinator is away, on a real broker and a real PostgreSQL."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from coordinator.broker_config import free_port
from coordinator.db.migrate import upgrade
from coordinator.db.session import transaction
from tests.fixtures.broker import COORDINATOR_USER, BrokerFactory
from tests.integration.fleet import (
    Fleet,
    IngestProcess,
    start_worker,
    stored,
    wait_until,
    worker_settings,
)

pytestmark = pytest.mark.integration

DEVICES = [f"door-{n:02d}" for n in range(1, 6)]


def test_well_over_a_thousand_events_wait_in_the_broker_for_the_coordinator(
    broker_factory: BrokerFactory, postgres_url: str, pg_sessions: sessionmaker[Session]
) -> None:
    """Mosquitto's default queue (1000 per session) would drop most of these."""
    broker = broker_factory(auth=True, persistence=True, device_ids=DEVICES)
    settings = worker_settings(broker, postgres_url)
    start_worker(settings, pg_sessions).stop()  # the session exists, the coordinator is away
    fleet = Fleet(broker, DEVICES)
    try:
        fleet.publish(per_device=500)  # 2,500 events
    finally:
        fleet.close()
    worker = start_worker(settings, pg_sessions)
    try:
        wait_until(lambda: stored(pg_sessions)[0] >= fleet.sent, "events missing")
    finally:
        worker.stop()
    assert stored(pg_sessions) == (2500, 2500, 0)


def test_a_dead_ingest_worker_ends_the_server_with_a_failure_status(
    broker_factory: BrokerFactory, postgres_url: str, tmp_path: Path
) -> None:
    """With its tables gone, not even a dead letter can be written: exit so systemd restarts."""
    upgrade(postgres_url)
    broker = broker_factory(auth=True, device_ids=DEVICES[:1])
    port = free_port()
    env = os.environ | {
        f"COORDINATOR_{name.upper()}": str(value)
        for name, value in worker_settings(broker, postgres_url, http_port=port)
        .model_dump(mode="json", include={"database_url", "http_port", "mqtt_port", "site"})
        .items()
    }
    env |= {
        "COORDINATOR_MQTT_USERNAME": COORDINATOR_USER,
        "COORDINATOR_MQTT_PASSWORD": broker.users[COORDINATOR_USER],
    }
    log = tmp_path / "coordinator.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        health = f"http://127.0.0.1:{port}/api/v1/health"
        wait_until(lambda: _ingest_state(health) == "connected", "the server did not come up")
        with transaction(postgres_url) as session:
            session.execute(text("DROP TABLE dead_letters; DROP TABLE events CASCADE"))
        fleet = Fleet(broker, DEVICES[:1])
        fleet.publish(per_device=1)
        fleet.close()
        assert server.wait(30) == 70, log.read_text()[-3000:]
    finally:
        server.kill()
    assert "the ingest worker died" in log.read_text()


def test_a_killed_worker_takes_its_broker_connection_process_with_it(
    broker_factory: BrokerFactory, postgres_url: str, tmp_path: Path
) -> None:
    """The connection process must not outlive its worker: it would hold the worker's client
    id and keep the broker from publishing the worker's will."""
    upgrade(postgres_url)
    broker = broker_factory(auth=True, device_ids=DEVICES[:1])
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, tmp_path / "ingest.log")
    worker.start()
    process = worker.process
    assert process is not None
    try:
        children = _connection_processes(process.pid)
        assert len(children) == 1, children
        worker.kill()  # SIGKILL: no goodbye, no clean-up of its own
        wait_until(lambda: not _is_running(children[0]), "the connection process lived on", 10)
    finally:
        worker.kill()


def test_a_killed_broker_connection_process_is_replaced_and_nothing_is_lost(
    broker_factory: BrokerFactory,
    postgres_url: str,
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    broker = broker_factory(auth=True, persistence=True, device_ids=DEVICES)
    log = tmp_path / "ingest.log"
    worker = IngestProcess(broker, postgres_url, COORDINATOR_USER, log)
    worker.start()
    process = worker.process
    assert process is not None
    try:
        fleet = Fleet(broker, DEVICES)
        fleet.publish(per_device=20)
        wait_until(lambda: stored(pg_sessions)[0] >= 100, "the first events were not stored")
        (child,) = _connection_processes(process.pid)
        os.kill(child, signal.SIGKILL)
        fleet.publish(per_device=20)  # the broker queues them for the worker's session
        wait_until(lambda: len(_connection_processes(process.pid)) == 1, "no new connection")
        wait_until(lambda: stored(pg_sessions)[0] >= 200, "events were lost", timeout=60)
        fleet.close()
        assert _connection_processes(process.pid) != [child]
    finally:
        worker.kill()
    assert stored(pg_sessions) == (200, 200, 0)
    assert "the broker connection process died; starting another" in log.read_text()


def _connection_processes(pid: int) -> list[int]:
    """The worker's broker connection (its other child is multiprocessing's resource tracker)."""
    return [p for p in _children(pid) if b"spawn_main" in _cmdline(p) and _is_running(p)]


def _children(pid: int) -> list[int]:
    return [p for p in _pids() if _stat(p)[1] == pid]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_running(pid: int) -> bool:
    stat = _stat(pid)
    return stat[0] not in ("", "Z")  # gone, or a zombie nobody has reaped yet


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) from /proc; ("", 0) once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return "", 0
    return fields[0], int(fields[1])


def _ingest_state(url: str) -> str | None:
    try:
        return str(httpx.get(url).json()["ingest"])
    except httpx.HTTPError:
        return None
