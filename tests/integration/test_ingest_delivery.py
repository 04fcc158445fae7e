"""Nothing is lost while the coordinator is away, on a real broker and a real PostgreSQL."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from coordinator.broker_config import free_port
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker, transaction
from tests.fixtures.broker import COORDINATOR_USER, BrokerFactory
from tests.integration.fleet import Fleet, start_worker, stored, wait_until, worker_settings

pytestmark = pytest.mark.integration

DEVICES = [f"door-{n:02d}" for n in range(1, 6)]


@pytest.fixture
def pg_sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield make_sessionmaker(engine)
    engine.dispose()


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


def _ingest_state(url: str) -> str | None:
    try:
        return str(httpx.get(url).json()["ingest"])
    except httpx.HTTPError:
        return None
