"""Simulated devices for delivery tests: real envelopes, each device its own MQTT account.

`Fleet` is bare paho that resends only what the broker did not PUBACK (the old contract);
`OutboxFleet` runs the agent's own uplink (SQLite outbox, MqttLink), which deletes a message
only on the coordinator's receipt.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.core.config import Settings
from coordinator.db.models import Event, SequenceGap
from coordinator.ingest.worker import IngestWorker
from edge_agent.config import BrokerConfig
from edge_agent.link.mqtt import MqttLink
from edge_agent.store.outbox import Outbox
from edge_agent.uplink import Uplink, UplinkEvent, last_will
from protocols import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Attendance,
    AttendanceAction,
    Birth,
    Sender,
    encode,
    topic_for,
)
from tests.fixtures.broker import COORDINATOR_USER, Broker

SITE = "main"


class Fleet:
    """`publish(n)` sends n attendance events from every device and waits for all PUBACKs."""

    def __init__(self, broker: Broker, device_ids: list[str]) -> None:
        self.senders = {device_id: Sender(device_id) for device_id in device_ids}
        self.clients: dict[str, mqtt.Client] = {}
        for device_id in device_ids:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5
            )
            client.username_pw_set(device_id, broker.users[device_id])
            client.max_inflight_messages_set(100)
            client.connect(broker.host, broker.port)
            client.loop_start()
            self.clients[device_id] = client
        self.sent = 0

    def publish(self, per_device: int, deadline_s: float = 120) -> None:
        """Send, and send again whatever the broker did not acknowledge (as an outbox would).

        A resend carries the same message id, so the coordinator stores it once.
        """
        pending = []
        for _ in range(per_device):
            for device_id, sender in self.senders.items():
                envelope = sender.sequenced(
                    Attendance(action=AttendanceAction.CHECK_IN, person_ref="user-1")
                )
                pending.append((device_id, topic_for(SITE, envelope), encode(envelope)))
        deadline = time.monotonic() + deadline_s
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} messages never acknowledged")
            pending = self._send(pending)
        self.sent += per_device * len(self.senders)

    def _send(self, messages: list[tuple[str, str, bytes]]) -> list[tuple[str, str, bytes]]:
        """One round: publish all, wait for each PUBACK; returns those to send again."""
        sent = [(m, self.clients[m[0]].publish(m[1], m[2], qos=1)) for m in messages]
        again = []
        for message, info in sent:
            try:
                info.wait_for_publish(10)
            except (RuntimeError, ValueError):
                again.append(message)
                continue
            if not info.is_published():
                again.append(message)
        if again:
            threading.Event().wait(0.5)  # the broker is away: give it a moment to return
        return again

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


class OutboxFleet:
    """Devices as the agent runs them: `publish(n)` records n attendance events per device
    in its outbox and waits until every outbox is empty, i.e. every event was receipted."""

    def __init__(
        self,
        broker: Broker,
        device_ids: list[str],
        data_dir: Path,
        *,
        receipt_timeout_s: float = 5.0,
    ) -> None:
        self.outboxes: dict[str, Outbox] = {}
        self.uplinks: dict[str, Uplink] = {}
        for device_id in device_ids:
            events: queue.Queue[UplinkEvent] = queue.Queue()
            sender = Sender(device_id)
            config = BrokerConfig(
                host=broker.host,
                port=broker.port,
                username=device_id,
                password=broker.users[device_id],
                reconnect_min_s=1,
                reconnect_max_s=2,
            )
            outbox = Outbox(data_dir / f"{device_id}.sqlite3")
            uplink = Uplink(
                site=SITE,
                sender=sender,
                outbox=outbox,
                link=MqttLink(config, device_id, last_will(SITE, sender), events.put),
                birth=Birth(agent_version="test", profile="fleet"),
                events=events,
                max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                receipt_timeout_s=receipt_timeout_s,
            )
            uplink.start()
            self.outboxes[device_id] = outbox
            self.uplinks[device_id] = uplink

    def publish(self, per_device: int, deadline_s: float = 120) -> None:
        for _ in range(per_device):
            for uplink in self.uplinks.values():
                uplink.record(Attendance(action=AttendanceAction.CHECK_IN, person_ref="user-1"))
        deadline = time.monotonic() + deadline_s
        pause = threading.Event()
        while (waiting := sum(outbox.count() for outbox in self.outboxes.values())) > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{waiting} messages never receipted")
            pause.wait(0.2)

    def close(self) -> None:
        for uplink in self.uplinks.values():
            uplink.stop(timeout=1)
        for outbox in self.outboxes.values():
            outbox.close()


class IngestProcess:
    """`coordinator ingest` as systemd runs it: `start`, `kill` (SIGKILL), `stop` (SIGTERM).

    `user` is its broker account and, but for the default account, its client id (the slot);
    `settings` adds COORDINATOR_* variables (e.g. a test-sized session expiry).
    """

    def __init__(
        self,
        broker: Broker,
        database_url: str,
        user: str,
        log: Path,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.env = os.environ | {
            "COORDINATOR_DATABASE_URL": database_url,
            "COORDINATOR_MQTT_PORT": str(broker.port),
            "COORDINATOR_MQTT_USERNAME": user,
            "COORDINATOR_MQTT_PASSWORD": broker.users[user],
            "COORDINATOR_MQTT_CLIENT_ID": user
            if user != COORDINATOR_USER
            else "coordinator-ingest-1",
            "COORDINATOR_SITE": SITE,
            **(settings or {}),
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        connections = self.log.read_text().count("ingest connected") if self.log.exists() else 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "ingest"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: self.log.read_text().count("ingest connected") > connections,
            f"ingest did not connect: {self.log}",
            timeout=30,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)

    def retire(self) -> None:
        """`coordinator ingest --retire`: end this slot's broker session for good."""
        command = [sys.executable, "-m", "coordinator", "ingest", "--retire"]
        subprocess.run(command, env=self.env, check=True, capture_output=True, timeout=60)


def worker_settings(broker: Broker, database_url: str, **more: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_port": broker.port,
        "mqtt_username": COORDINATOR_USER,
        "mqtt_password": broker.users[COORDINATOR_USER],
        "site": SITE,
    }
    return Settings(**(values | more))  # type: ignore[arg-type]


def start_worker(settings: Settings, sessions: sessionmaker[Session]) -> IngestWorker:
    worker = IngestWorker(settings, sessions)
    worker.start()
    wait_until(lambda: worker.is_connected, "the worker did not connect")
    return worker


def wait_until(condition: Callable[[], bool], message: str, timeout: float = 60) -> None:
    """Poll a condition that another process or thread makes true (bounded)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        pause.wait(0.1)


def stored(sessions: sessionmaker[Session], kind: str | None = None) -> tuple[int, int, int]:
    """(events, distinct (device, boot, seq) among them, open gaps); only `kind` if given."""
    only = [Event.kind == kind] if kind else []
    with sessions() as session:
        events = session.scalar(select(func.count()).select_from(Event).where(*only)) or 0
        distinct = (
            session.scalar(
                select(func.count()).select_from(
                    select(Event.device_id, Event.boot_id, Event.seq)
                    .where(*only)
                    .distinct()
                    .subquery()
                )
            )
            or 0
        )
        gaps = session.scalar(select(func.count()).where(SequenceGap.closed_at.is_(None))) or 0
    return events, distinct, gaps
