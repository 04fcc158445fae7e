"""The whole chain through real parts: simulated devices → Mosquitto (auth, ACL) → coordinator
→ PostgreSQL → `GET /api/v1/events`. Every event must arrive exactly once."""

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from coordinator.auth.tokens import issue_access_token
from coordinator.broker_config import free_port
from coordinator.db.enums import Role
from coordinator.db.migrate import upgrade
from coordinator.db.models import User
from coordinator.db.session import transaction
from tests.fixtures.broker import COORDINATOR_USER, Broker, BrokerFactory

pytestmark = pytest.mark.integration

DEVICES = ["sim-01", "sim-02", "sim-03"]
ATTENDANCE, HEARTBEATS = 4, 2


def _admin_headers(database_url: str, secret_key: str) -> dict[str, str]:
    """An admin in the database, and an access token for them signed with the server's key."""
    with transaction(database_url) as session:
        admin = User(
            email="admin@campus.test",
            full_name="Admin",
            role=Role.ADMIN,
            is_active=True,
            totp_confirmed=False,
        )
        session.add(admin)
        session.flush()
        token = issue_access_token(
            SecretStr(secret_key),
            user_id=admin.id,
            role="admin",
            second_factor=True,
            lifetime=timedelta(minutes=10),
        )
    return {"Authorization": f"Bearer {token}"}


class Coordinator:
    """`coordinator serve` in its own process, as it runs in production."""

    def __init__(self, broker: Broker, database_url: str, log: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = os.environ | {
            "COORDINATOR_DATABASE_URL": database_url,
            "COORDINATOR_HTTP_PORT": self.url.rsplit(":", 1)[1],
            "COORDINATOR_MQTT_PORT": str(broker.port),
            "COORDINATOR_MQTT_USERNAME": COORDINATOR_USER,
            "COORDINATOR_MQTT_PASSWORD": broker.users[COORDINATOR_USER],
            "COORDINATOR_SITE": "demo",
            "COORDINATOR_SECRET_KEY": secrets.token_urlsafe(32),
        }
        self.headers = _admin_headers(database_url, self.env["COORDINATOR_SECRET_KEY"])
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "serve"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90  # a bound, not a wait: it returns once it is up
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/api/v1/health").json()["ingest"] == "connected":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"coordinator did not come up: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = httpx.get(
                f"{self.url}/api/v1/events",
                params={"limit": 500, "offset": len(items)},
                headers=self.headers,
            ).json()
            items += page["items"]
            if len(items) >= page["total"]:
                return items

    def wait_for_events(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                time.sleep(0.5)  # anything more would be a duplicate: give it time to show
                return self.events()
            time.sleep(0.2)
        raise AssertionError(f"expected {count} events, have {len(self.events())}")


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> Broker:
    return broker_factory(auth=True, persistence=True, device_ids=DEVICES)


@pytest.fixture
def coordinator(broker: Broker, postgres_url: str, tmp_path: Path) -> Iterator[Coordinator]:
    upgrade(postgres_url)
    running = Coordinator(broker, postgres_url, tmp_path / "coordinator.log")
    running.start()
    yield running
    running.stop()


def simulate(broker: Broker, data_dir: Path, *, is_coordinator_up: bool = True) -> None:
    """Run the simulated devices; with the coordinator up, each ends with an empty outbox (all
    receipted); with it down, each keeps its events, since nothing could be receipted."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "simulate",
            "--devices",
            str(len(DEVICES)),
            "--site",
            "demo",
            "--broker-port",
            str(broker.port),
            "--credentials",
            str(broker.credentials_file(DEVICES)),
            "--data-dir",
            str(data_dir),
            "--attendance",
            str(ATTENDANCE),
            "--heartbeats",
            str(HEARTBEATS),
            "--interval",
            "0.05",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Either way everything reached the broker; a device keeps each row until the coordinator's
    # commit receipt names it, so with the coordinator away all of them stay in the outbox.
    assert result.returncode == 0, result.stdout + result.stderr
    if is_coordinator_up:
        stored = "0 left in outbox (all stored by the coordinator)"
        assert result.stdout.count(stored) == len(DEVICES), result.stdout + result.stderr
    else:
        kept = f"{ATTENDANCE + HEARTBEATS} left in outbox (at the broker, kept until the"
        assert result.stdout.count(kept) == len(DEVICES), result.stdout + result.stderr


def assert_each_event_once(events: list[dict[str, Any]]) -> None:
    keys = [(event["device_id"], event["message_id"]) for event in events]
    assert len(keys) == len(set(keys))
    per_device = Counter((event["device_id"], event["kind"]) for event in events)
    for device in DEVICES:
        assert per_device[(device, "birth")] == 1
        assert per_device[(device, "heartbeat")] == HEARTBEATS
        assert per_device[(device, "attendance")] == ATTENDANCE
        assert per_device[(device, "death")] == 1
        sequence = sorted(e["seq"] for e in events if e["device_id"] == device and e["seq"])
        assert sequence == list(range(1, ATTENDANCE + HEARTBEATS + 1))  # no gaps, no repeats
    assert sum(per_device.values()) == len(DEVICES) * (ATTENDANCE + HEARTBEATS + 2)


def test_every_event_arrives_once(broker: Broker, coordinator: Coordinator, tmp_path: Path) -> None:
    simulate(broker, tmp_path / "devices")
    expected = len(DEVICES) * (ATTENDANCE + HEARTBEATS + 2)
    assert_each_event_once(coordinator.wait_for_events(expected))


def test_events_sent_while_the_coordinator_is_down_arrive_when_it_returns(
    broker: Broker, coordinator: Coordinator, tmp_path: Path
) -> None:
    coordinator.stop()  # its session stays at the broker, which queues for it
    simulate(broker, tmp_path / "devices", is_coordinator_up=False)
    coordinator.start()
    expected = len(DEVICES) * (ATTENDANCE + HEARTBEATS + 2)
    assert_each_event_once(coordinator.wait_for_events(expected))
