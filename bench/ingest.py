"""Ingest benchmark (not a test): N simulated devices x M events through a real Mosquitto into a
real PostgreSQL, with the ceilings around it measured in the same run.

    .venv/bin/python bench/ingest.py --devices 100 --events 500 --workers 1

Prints: sustained ingest events/s with exactly-once checked at the end; the bare transport
ceiling (a paho consumer that stores nothing); PostgreSQL COPY of the same rows (the database
ceiling); the ratios; and publish-to-store latency p50/p95/p99 at a fixed offered load.
Needs the local PostgreSQL the tests use (scripts/setup.sh test) and the `mosquitto` binary.
"""

import argparse
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coordinator.broker_config import free_port, write_broker_config
from coordinator.core.config import Settings
from coordinator.db.migrate import upgrade
from protocols import (
    Attendance,
    AttendanceAction,
    Heartbeat,
    Sender,
    encode,
    fleet_filters,
    topic_for,
)
from protocols.messages import Health
from protocols.topics import shared_filter
from protocols.vocabulary import ClockSync

ADMIN_DSN = os.environ.get(
    "CAMPUS_TEST_PG_ADMIN_DSN", "postgresql://root@/postgres?host=/var/run/postgresql"
)
SITE = "main"
Worker = subprocess.Popen[bytes]
WORKER_WINDOW: int = Settings.model_fields["mqtt_receive_maximum"].default
COORDINATOR = "coordinator"


def _health() -> Health:
    return Health(
        load_1m=0.2,
        disk_free_bytes=10**9,
        memory_used_pct=30,
        clock_sync=ClockSync.SYNCED,
        agent_version="1.0",
        outbox_depth=0,
    )


def _messages(
    devices: int, events: int, projected_share: float = 0.0
) -> list[tuple[str, str, bytes]]:
    """(device id, topic, body) in round-robin order, as a fleet would interleave them: heartbeats,
    and `projected_share` of attendance check-ins, which go through the projections (the bench's
    devices are not registered, so each is stored and flagged with that refusal)."""
    senders = [Sender(f"bench-{n:04d}") for n in range(devices)]
    every = round(1 / projected_share) if projected_share > 0 else 0
    out = []
    for n in range(events * devices):
        sender = senders[n % devices]
        payload: Heartbeat | Attendance = (
            Attendance(action=AttendanceAction.CHECK_IN, person_ref="user-1")
            if every and n % every == every - 1
            else Heartbeat(health=_health())
        )
        envelope = sender.sequenced(payload)
        out.append((sender.device_id, topic_for(SITE, envelope), encode(envelope)))
    return out


@contextmanager
def broker(
    directory: Path, device_ids: list[str], workers: int
) -> Iterator[tuple[int, dict[str, str]]]:
    port = free_port()
    accounts = [COORDINATOR, *(f"coordinator-ingest-{n}" for n in range(1, workers + 1))]
    users = {name: secrets.token_urlsafe(12) for name in [*accounts, *device_ids, "bench-probe"]}
    files = write_broker_config(
        directory,
        port=port,
        persistence=True,
        coordinator_user=COORDINATOR,
        coordinator_users=[*accounts[1:], "bench-probe"],
        users=users,
    )
    process = subprocess.Popen(["mosquitto", "-c", str(files.config)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield port, users
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def database() -> Iterator[str]:
    name = f"campus_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        user, host, port = admin.info.user, admin.info.host, admin.info.port
    url = f"postgresql+psycopg://{user}@/{name}?host={host}&port={port}"
    upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _connect(port: int, users: dict[str, str], device_ids: list[str]) -> dict[str, mqtt.Client]:
    """One MQTT v5 connection per device, as a fleet has."""
    clients: dict[str, mqtt.Client] = {}
    for device_id in device_ids:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(device_id, users[device_id])
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients[device_id] = client
    return clients


def _finish(pending: list[mqtt.MQTTMessageInfo], clients: dict[str, mqtt.Client]) -> None:
    for info in pending:
        info.wait_for_publish(120)
    for client in clients.values():
        client.disconnect()
        client.loop_stop()


def _publish(port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]]) -> None:
    """Publish every message with QoS 1 from its device's own connection, as fast as it goes."""
    clients = _connect(port, users, sorted({m[0] for m in messages}))
    pending = [
        clients[device_id].publish(topic, body, qos=1) for device_id, topic, body in messages
    ]
    _finish(pending, clients)


def transport_ceiling(
    port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]]
) -> float:
    """Events/s a bare paho consumer drains (QoS 1, shared subscription, no database) from a
    backlog the broker queued for its session while it was away, as an ingest worker would."""
    done, seen, times = threading.Event(), [0], [0.0, 0.0]

    def when_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        seen[0] += 1
        if seen[0] == 1:
            times[0] = time.monotonic()
        if seen[0] == len(messages):
            times[1] = time.monotonic()
            done.set()

    def connect(*, first: bool) -> mqtt.Client:
        consumer = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv5
        )
        consumer.username_pw_set("bench-probe", users["bench-probe"])
        consumer.on_message = when_message
        consumer.max_inflight_messages_set(1000)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        properties.ReceiveMaximum = WORKER_WINDOW  # the same window as a worker's
        consumer.connect("127.0.0.1", port, clean_start=first, properties=properties)
        if first:
            consumer.subscribe([(shared_filter(COORDINATOR, f), 1) for f in fleet_filters(SITE)])
        consumer.loop_start()
        return consumer

    consumer = connect(first=True)
    time.sleep(1)  # subscribed
    consumer.disconnect()
    consumer.loop_stop()
    _publish(port, users, messages)  # queued by the broker for the absent session
    consumer = connect(first=False)
    if not done.wait(300):
        raise SystemExit(f"the bare consumer received {seen[0]} of {len(messages)}")
    # Leave the share group for good: a member whose session lives on keeps getting its share
    # of the messages while away (Mosquitto 2.0), which would starve the ingest run after this.
    consumer.unsubscribe([shared_filter(COORDINATOR, f) for f in fleet_filters(SITE)])
    time.sleep(0.5)
    consumer.disconnect()
    consumer.loop_stop()
    return len(messages) / max(times[1] - times[0], 1e-9)


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _start_workers(url: str, port: int, users: dict[str, str], workers: int) -> list[Worker]:
    processes, logs = [], []
    for n in range(1, workers + 1):
        account = f"coordinator-ingest-{n}"
        env = os.environ | {
            "COORDINATOR_DATABASE_URL": url,
            "COORDINATOR_MQTT_PORT": str(port),
            "COORDINATOR_MQTT_USERNAME": account,
            "COORDINATOR_MQTT_PASSWORD": users[account],
            "COORDINATOR_MQTT_CLIENT_ID": account,
            "COORDINATOR_SITE": SITE,
            "COORDINATOR_SECRET_KEY": secrets.token_urlsafe(32),
        }
        log = Path(tempfile.gettempdir()) / f"bench-ingest-{account}.log"
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "coordinator", "ingest"],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
    _wait_subscribed(logs, processes)
    return processes


def _stop(workers: list[Worker]) -> None:
    for process in workers:
        process.terminate()
    for process in workers:
        process.wait(30)


def ingest_rate(
    url: str, port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]], workers: int
) -> tuple[float, list[Worker]]:
    """Events/s the workers store, drained from a backlog the broker queued for their sessions
    while they were stopped (so the publishers' own speed does not limit it), from the first
    row stored to the last."""
    _stop(_start_workers(url, port, users, workers))  # their sessions and subscriptions exist
    _publish(port, users, messages)
    processes = _start_workers(url, port, users, workers)
    started = time.monotonic()
    first: tuple[float, int] | None = None
    while (stored := _count(_dsn(url))) < len(messages):
        if first is None and stored:
            first = (time.monotonic(), stored)
        if time.monotonic() - started > 900:
            raise SystemExit("ingest did not store every event within 15 minutes")
        if any(process.poll() is not None for process in processes):
            raise SystemExit(f"a worker exited: see {tempfile.gettempdir()}/bench-ingest-*.log")
        time.sleep(0.05)
    began, already = first or (started, 0)
    return (len(messages) - already) / (time.monotonic() - began), processes


def _wait_subscribed(logs: list[Path], processes: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker has connected and subscribed: a worker takes seconds to import, and
    events published before its shared subscription exists are delivered to nobody."""
    deadline = time.monotonic() + 120
    while not all("ingest connected" in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise SystemExit(
                f"a worker did not connect: see {tempfile.gettempdir()}/bench-ingest-*.log"
            )
        time.sleep(0.1)
    time.sleep(1)  # the subscription is sent on connect; its SUBACK follows within milliseconds


def copy_ceiling(url: str) -> float:
    """Events/s PostgreSQL takes the same rows by COPY into a copy of the events table."""
    with psycopg.connect(_dsn(url)) as connection:
        connection.execute("CREATE TABLE events_copy (LIKE events INCLUDING DEFAULTS)")
        buffer = io.BytesIO()
        with connection.cursor().copy("COPY events TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        started = time.monotonic()
        with connection.cursor().copy("COPY events_copy FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        connection.commit()
        seconds = time.monotonic() - started
        rows = connection.execute("SELECT count(*) FROM events_copy").fetchone()
    return (rows[0] if rows else 0) / seconds


def latency(
    url: str, port: int, users: dict[str, str], devices: int, *, rate: float, seconds: float
) -> list[float]:
    """Publish-to-store latency (received_at - device_time) at a fixed offered load: each
    envelope is made, so stamped, the moment it is published."""
    senders = [Sender(f"bench-{n:04d}") for n in range(devices)]
    clients = _connect(port, users, [s.device_id for s in senders])
    total = int(rate * seconds)
    marker = datetime.now(UTC)
    before = _count(_dsn(url))
    started = time.monotonic()
    pending = []
    for n in range(total):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sender = senders[n % devices]
        envelope = sender.sequenced(Heartbeat(health=_health()))
        client = clients[sender.device_id]
        pending.append(client.publish(topic_for(SITE, envelope), encode(envelope), qos=1))
    _finish(pending, clients)
    while _count(_dsn(url)) < before + total:
        time.sleep(0.05)
    with psycopg.connect(_dsn(url)) as connection:
        rows = connection.execute(
            "SELECT EXTRACT(EPOCH FROM received_at - device_time) FROM events"
            " WHERE device_time >= %s",
            (marker,),
        ).fetchall()
    return sorted(float(r[0]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--events", type=int, default=500, help="per device")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--projected-share",
        type=float,
        default=0.1,
        help="share of attendance events (projected) among the heartbeats",
    )
    parser.add_argument("--latency-rate", type=float, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    messages = _messages(args.devices, args.events, args.projected_share)
    device_ids = sorted({m[0] for m in messages})
    total = len(messages)
    with (
        tempfile.TemporaryDirectory() as scratch,
        broker(Path(scratch), device_ids, args.workers) as (port, users),
        database() as url,
    ):
        transport = transport_ceiling(port, users, messages)
        rate, workers = ingest_rate(url, port, users, messages, args.workers)
        with psycopg.connect(_dsn(url)) as connection:
            row = connection.execute(
                "SELECT count(*), count(DISTINCT (device_id, message_id)) FROM events"
            ).fetchone()
        exactly_once = row is not None and row[0] == row[1] == total
        copy = copy_ceiling(url)
        lags = latency(
            url, port, users, args.devices, rate=args.latency_rate, seconds=args.latency_seconds
        )
        _stop(workers)
    print(
        f"{total} events from {args.devices} devices ({args.projected_share:.0%} attendance,"
        f" the rest heartbeats), {args.workers} ingest worker(s)"
    )
    print(f"ingest (store, gaps, presence, projections): {rate:,.0f} events/s")
    print(f"exactly once at the end: {exactly_once}")
    print(f"bare transport (paho consumer draining a backlog): {transport:,.0f} events/s")
    print(f"PostgreSQL COPY of the same rows:               {copy:,.0f} events/s")
    print(f"ingest / transport: {rate / transport:.2f}   ingest / COPY: {rate / copy:.3f}")
    if lags:
        q = statistics.quantiles(lags, n=100)
        p50, p95, p99 = (q[i] * 1000 for i in (49, 94, 98))
        print(f"latency at {args.latency_rate:,.0f} events/s offered ({len(lags)} events):")
        print(f"  publish to store p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
