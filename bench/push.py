"""Bundle push benchmark (not a test): one change that touches N devices, all on a real broker.

    .venv/bin/python bench/push.py [--devices 1000] [--sizes-only]

Starts a private Mosquitto, a fresh PostgreSQL database and `coordinator serve` in its own
process; seeds a site with N rooms, each with a door station (its own key), an exam session in
the next hour and an assigned supervisor with a card. N simulated devices connect to the broker,
each with its own MQTT connection, bundle store and the real `Downlink` (signature check,
sealed card key opened, SQLite apply, ack through MQTT). After every device holds its first
bundle, the site's time zone is changed through the API: every bundle goes stale. Printed: the
time from the change until every device has applied and acknowledged the new bundle, the bytes
per bundle, and the coordinator's CPU time over that window (from /proc). The simulated devices
all run in this one process, so their work is serialised here; on real devices it is parallel.

`--sizes-only` prints the bundle sizes of a room with 500 people (all with face templates, the
worst case) and of a gate with 20,000 revoked passes, built by the real compiler.
"""

import argparse
import getpass
import os
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from sqlalchemy import func, select

from coordinator.auth.tokens import issue_access_token
from coordinator.broker_config import free_port, write_broker_config
from coordinator.bundles.builder import Senders, build_stale
from coordinator.core.config import Settings
from coordinator.core.keys import KeyPurpose, card_uid_hash, derive_key
from coordinator.db import models as m
from coordinator.db.enums import (
    AssignmentStatus,
    DeviceStatus,
    GateDirection,
    Role,
    StudentStatus,
)
from coordinator.db.migrate import upgrade
from coordinator.db.session import transaction
from coordinator.enrolment import seal_templates
from coordinator.services import downlink
from edge_agent.link.downlink import Downlink
from edge_agent.store.bundle import BundleStore
from protocols import Sender, device_command_filter, encode, topic_for
from protocols.messages import AckPayload, BundleAck, Passage
from protocols.sealing import public_key_text

SITE = "bench"
ROOMS_PER_BUILDING = 20  # a door knows the supervisors assigned in its building by card
ADMIN_DSN = f"postgresql://{getpass.getuser()}@/postgres?host=/var/run/postgresql"


# --- parts -----------------------------------------------------------------------------------


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    files = write_broker_config(directory, port=port)
    process = subprocess.Popen(["mosquitto", "-c", str(files.config)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return process, port


def create_database() -> tuple[str, str]:
    name = f"campus_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        user, host, port = admin.info.user, admin.info.host, admin.info.port
    return name, f"postgresql+psycopg://{user}@/{name}?host={host}&port={port}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, secret: SecretStr, count: int) -> tuple[dict[str, X25519PrivateKey], str]:
    """N rooms (20 per building) with a door station, a session in the next hour, a supervisor
    and a card."""
    keys: dict[str, X25519PrivateKey] = {}
    starts = datetime.now(UTC) + timedelta(hours=1)
    with transaction(url) as session:
        site = m.Site(code=SITE, name="Bench campus", time_zone="Europe/Berlin")
        exam = m.Exam(code="bench-101", title="Benchmarks")
        session.add_all([site, exam])
        session.flush()
        buildings = [
            m.Building(site_id=site.id, code=f"b{b}", name=f"Building {b}")
            for b in range((count + ROOMS_PER_BUILDING - 1) // ROOMS_PER_BUILDING)
        ]
        session.add_all(buildings)
        session.flush()
        for i in range(count):
            building = buildings[i // ROOMS_PER_BUILDING]
            device_id = f"door-{i:04d}"
            keys[device_id] = X25519PrivateKey.generate()
            room = m.Room(
                building_id=building.id, code=f"r{i}", name=f"Room {i}", capacity=30,
                latitude=52.0, longitude=13.0, geofence_radius_m=50,
            )  # fmt: skip
            supervisor = m.User(
                email=f"s{i}@bench.test", full_name=f"Supervisor {i}", role=Role.SUPERVISOR,
                is_active=True, totp_confirmed=False,
            )  # fmt: skip
            session.add_all([room, supervisor])
            session.flush()
            exam_session = m.ExamSession(
                exam_id=exam.id, room_id=room.id, starts_at=starts,
                ends_at=starts + timedelta(hours=2),
            )  # fmt: skip
            session.add_all([
                exam_session,
                m.Device(
                    id=device_id, site_id=site.id, room_id=room.id, profile="door-station-sim",
                    status=DeviceStatus.ACTIVE, public_key=public_key_text(keys[device_id]),
                ),
                m.CardCredential(
                    uid_hash=card_uid_hash(secret, f"{i:08X}"), user_id=supervisor.id,
                    is_active=True,
                ),
            ])  # fmt: skip
            session.flush()
            session.add(
                m.Assignment(
                    session_id=exam_session.id, supervisor_id=supervisor.id,
                    status=AssignmentStatus.ACCEPTED,
                )
            )  # fmt: skip
        admin = m.User(
            email="admin@bench.test", full_name="Admin", role=Role.ADMIN, is_active=True,
            totp_confirmed=False,
        )  # fmt: skip
        session.add(admin)
        session.flush()
        downlink.mark_all_stale(session)
        token = issue_access_token(
            secret, user_id=admin.id, role="admin", second_factor=True,
            lifetime=timedelta(minutes=30),
        )  # fmt: skip
    return keys, token


def trusted_keys(url: str) -> list[tuple[str, str]]:
    from coordinator.bundles import keys  # noqa: PLC0415

    with transaction(url) as session:
        return [(k.key_id, k.public_key) for k in keys.trusted_keys(session)]


@dataclass
class Coordinator:
    process: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_coordinator(db_url: str, broker_port: int, secret: SecretStr, log: Path) -> Coordinator:
    http = free_port()
    env = os.environ | {
        "COORDINATOR_DATABASE_URL": db_url,
        "COORDINATOR_HTTP_PORT": str(http),
        "COORDINATOR_MQTT_PORT": str(broker_port),
        "COORDINATOR_SECRET_KEY": secret.get_secret_value(),
        "COORDINATOR_BUNDLE_DEBOUNCE_S": "0.2",
        "COORDINATOR_BUNDLE_POLL_S": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "serve"], env=env, stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    coordinator = Coordinator(process, f"http://127.0.0.1:{http}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{coordinator.url}/api/v1/health").status_code == 200:
                return coordinator
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"coordinator did not start: {log.read_text()[-2000:]}")


# --- simulated devices -----------------------------------------------------------------------


@dataclass
class SimDevice:
    """One device: its own MQTT connection, bundle store and downlink; driven by `Fleet`."""

    device_id: str
    client: mqtt.Client
    downlink: Downlink | None = None
    applied: dict[int, float] = field(default_factory=dict)


class Fleet:
    """N devices in one thread: paho's socket-level loop calls, multiplexed with selectors."""

    def __init__(
        self, port: int, keys: dict[str, X25519PrivateKey], trusted: list[tuple[str, str]],
        directory: Path,
    ) -> None:  # fmt: skip
        self.devices: dict[str, SimDevice] = {}
        for device_id, key in keys.items():
            store = BundleStore(directory / f"{device_id}.sqlite3")
            for key_id, public in trusted:
                store.trust(key_id, public)
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5
            )
            device = SimDevice(device_id, client)
            sender = Sender(device_id)
            device.downlink = Downlink(
                device_id, store=store, device_key=key,
                record=self._acker(device, sender), actions=_NoActions(),
                clock=lambda: datetime.now(UTC),
            )  # fmt: skip
            client.on_connect = lambda c, *_, d=device_id: c.subscribe(
                device_command_filter(SITE, d), qos=1
            )
            client.on_message = lambda c, u, msg, d=device: d.downlink.receive(
                msg.topic, bytes(msg.payload)
            )
            client.connect("127.0.0.1", port, keepalive=120)
            self.devices[device_id] = device

    def _acker(self, device: SimDevice, sender: Sender):  # type: ignore[no-untyped-def]
        def record(payload: AckPayload) -> None:
            if isinstance(payload, BundleAck) and payload.status.value == "applied":
                device.applied.setdefault(payload.bundle_version, time.perf_counter())
            envelope = sender.sequenced(payload)
            device.client.publish(topic_for(SITE, envelope), encode(envelope), qos=1)

        return record

    def run_until(self, done, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
        selector = selectors.DefaultSelector()
        for device in self.devices.values():
            sock = device.client.socket()
            if sock is not None:
                selector.register(sock, selectors.EVENT_READ, device)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.05):
                key.data.client.loop_read()
            for device in self.devices.values():
                if device.client.want_write():
                    device.client.loop_write()
                device.client.loop_misc()
            if done():
                selector.close()
                return True
        selector.close()
        return False

    def all_applied(self, version: int) -> bool:
        return all(version in d.applied for d in self.devices.values())


class _NoActions:
    def open_door(self, hold_s: float) -> None: ...
    def reboot(self, reason: str) -> None: ...
    def change_config(self, settings: Mapping[str, str | int | float | bool]) -> str | None:
        return None

    def note_passage(self, passage: Passage) -> None: ...


# --- bundle sizes ----------------------------------------------------------------------------


def measure_sizes(url: str, secret: SecretStr) -> None:
    """Bundle sizes of a 500-person room (every person with 5 templates) and a gate with 20k
    revoked passes, through the real compiler, signer and envelope."""
    settings = Settings(database_url=url, secret_key=secret, max_bundle_bytes=64 * 2**20)
    device_key = X25519PrivateKey.generate()
    template_key = derive_key(secret, KeyPurpose.FACE_TEMPLATES)
    rng = np.random.default_rng(7)
    starts = datetime.now(UTC) + timedelta(hours=1)
    with transaction(url) as session:
        site = m.Site(code="sizes", name="Sizes", time_zone="Europe/Berlin")
        exam = m.Exam(code="sizes-1", title="Sizes")
        session.add_all([site, exam])
        session.flush()
        building = m.Building(site_id=site.id, code="b", name="B")
        session.add(building)
        session.flush()
        room = m.Room(building_id=building.id, code="big", name="Great Hall", capacity=500,
                      latitude=52.0, longitude=13.0, geofence_radius_m=80)  # fmt: skip
        gate = m.Gate(site_id=site.id, building_id=building.id, code="g", name="Gate",
                      zone="main", direction=GateDirection.BOTH)  # fmt: skip
        student = m.Student(student_number="S-1", full_name="S", status=StudentStatus.ACTIVE)
        session.add_all([room, gate, student])
        session.flush()
        exam_session = m.ExamSession(exam_id=exam.id, room_id=room.id, starts_at=starts,
                                     ends_at=starts + timedelta(hours=3))  # fmt: skip
        session.add_all([
            exam_session,
            m.Device(id="door-big", site_id=site.id, room_id=room.id, profile="p",
                     status=DeviceStatus.ACTIVE, public_key=public_key_text(device_key)),
            m.Device(id="gate-main", site_id=site.id, gate_id=gate.id, profile="p",
                     status=DeviceStatus.ACTIVE, public_key=public_key_text(device_key)),
        ])  # fmt: skip
        session.flush()
        for i in range(500):
            user = m.User(email=f"p{i}@sizes.test", full_name=f"Person Number {i}",
                          role=Role.SUPERVISOR, is_active=True, totp_confirmed=False)  # fmt: skip
            session.add(user)
            session.flush()
            descriptors = list(rng.normal(size=(5, 128)).astype(np.float32))
            session.add_all([
                m.Assignment(session_id=exam_session.id, supervisor_id=user.id,
                             status=AssignmentStatus.ACCEPTED),
                m.CardCredential(uid_hash=card_uid_hash(secret, f"{i:08X}"), user_id=user.id),
                m.FaceTemplate(user_id=user.id, model="facenet-128",
                               sealed=seal_templates(descriptors, template_key, str(user.id))),
            ])  # fmt: skip
        session.add_all(
            m.StudentPass(pass_ref=uuid.uuid4().hex, student_id=student.id, zones=["main"],
                          valid_from=starts, valid_until=starts + timedelta(days=90),
                          revoked_at=starts)
            for _ in range(20_000)
        )  # fmt: skip
        session.flush()
        downlink.mark_stale(session, ["door-big", "gate-main"], now=starts - timedelta(hours=2))
    with transaction(url) as session:
        started = time.process_time()
        build_stale(session, settings, Senders(), datetime.now(UTC))
        cpu = time.process_time() - started
        for device_id, what in (("door-big", "room, 500 people with 5 templates each"),
                                ("gate-main", "gate, 20,000 revoked passes")):  # fmt: skip
            sync = session.get_one(m.BundleSync, device_id)
            print(f"{what}: {sync.built_bytes:,} bytes ({(sync.built_bytes or 0) / 2**20:.2f} MiB)")
        print(f"compile + seal + sign of both: {cpu:.2f} s CPU")


# --- main ------------------------------------------------------------------------------------


def push(count: int, work: Path, url: str, secret: SecretStr) -> None:
    broker, port = start_broker(work / "mosquitto")
    keys, token = seed(url, secret, count)
    coordinator = start_coordinator(url, port, secret, work / "coordinator.log")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        fleet_dir = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        while not trusted_keys(url):
            time.sleep(0.2)
        fleet = Fleet(port, keys, trusted_keys(url), fleet_dir)
        print(f"{count} devices connected; waiting for their first bundles")
        if not fleet.run_until(lambda: fleet.all_applied(1), 300):
            raise SystemExit("not every device got its first bundle")
        time.sleep(2)  # let the coordinator store the first acks before measuring
        cpu_before = coordinator.cpu_seconds()
        started = time.perf_counter()
        print(f"change at {datetime.now(UTC).isoformat()}")
        sites = httpx.get(f"{coordinator.url}/api/v1/sites", headers=headers).json()
        answer = httpx.patch(
            f"{coordinator.url}/api/v1/sites/{sites['items'][0]['id']}",
            json={"time_zone": "Europe/Vienna"},
            headers=headers,
            timeout=120,
        )
        answer.raise_for_status()
        if not fleet.run_until(lambda: fleet.all_applied(2), 120):
            raise SystemExit("not every device applied the new bundle within 120 s")
        last_ack = max(d.applied[2] for d in fleet.devices.values())
        first_ack = min(d.applied[2] for d in fleet.devices.values())
        print(
            f"first device applied after {first_ack - started:.2f} s (change request "
            f"{answer.elapsed.total_seconds():.2f} s)"
        )
        elapsed = last_ack - started
        status: list[dict[str, object]] = []

        def all_recorded() -> bool:
            nonlocal status
            status = httpx.get(f"{coordinator.url}/api/v1/sync", headers=headers, timeout=60).json()
            return sum(1 for row in status if row["acked_version"] == 2) == count

        while not all_recorded() and time.perf_counter() - started < 180:
            fleet.run_until(lambda: False, 2)  # keep the devices' connections served
        recorded = time.perf_counter() - started
        cpu = coordinator.cpu_seconds() - cpu_before  # includes answering the polls above
        acked = sum(1 for row in status if row["acked_version"] == 2)
        sizes = [int(str(row["built_bytes"])) for row in status]
        with transaction(url) as session:
            stored = session.scalar(
                select(func.count()).select_from(m.Event).where(m.Event.kind == "bundle_ack")
            )
            dead = session.scalar(select(func.count()).select_from(m.DeadLetter))
        print(f"bundle acks stored as events: {stored}; dead letters: {dead}")
        print(f"change → every one of {count} devices applied and acknowledged: {elapsed:.2f} s")
        print(f"change → the coordinator shows {acked} of {count} acknowledged: {recorded:.2f} s")
        print(f"bytes per bundle: mean {sum(sizes) / len(sizes):,.0f}, max {max(sizes):,}")
        print(f"coordinator CPU over the push (build, sign, publish, ingest acks): {cpu:.2f} s")
        shutil.rmtree(fleet_dir, ignore_errors=True)
    finally:
        coordinator.process.terminate()
        coordinator.process.wait(20)
        broker.terminate()
        shutil.copy(work / "coordinator.log", "/tmp/push-coordinator.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--sizes-only", action="store_true")
    args = parser.parse_args()
    secret = SecretStr(secrets.token_urlsafe(32))
    name, url = create_database()
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory() as work:
            if args.sizes_only:
                measure_sizes(url, secret)
            else:
                push(args.devices, Path(work), url, secret)
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
