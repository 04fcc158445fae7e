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

from coordinator.broker_config import free_port, write_broker_config
from coordinator.db.migrate import upgrade
from protocols import Heartbeat, Sender, encode, fleet_filters, topic_for
from protocols.messages import ClockSync, Health
from protocols.topics import shared_filter

ADMIN_DSN = os.environ.get(
    "CAMPUS_TEST_PG_ADMIN_DSN", "postgresql://root@/postgres?host=/var/run/postgresql"
)
SITE = "main"
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


def _messages(devices: int, events: int) -> list[tuple[str, str, bytes]]:
    """(device id, topic, body) in round-robin order, as a fleet would interleave them."""
    senders = [Sender(f"bench-{n:04d}") for n in range(devices)]
    out = []
    for _ in range(events):
        for sender in senders:
            envelope = sender.sequenced(Heartbeat(health=_health()))
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


def _publish(
    port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]], rate: float | None
) -> None:
    """Publish every message with QoS 1 from its device's own connection; pace to `rate`/s."""
    clients: dict[str, mqtt.Client] = {}
    for device_id in sorted({m[0] for m in messages}):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(device_id, users[device_id])
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients[device_id] = client
    started = time.monotonic()
    pending = []
    for n, (device_id, topic, body) in enumerate(messages):
        if rate is not None:
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pending.append(clients[device_id].publish(topic, body, qos=1))
    for info in pending:
        info.wait_for_publish(120)
    for client in clients.values():
        client.disconnect()
        client.loop_stop()


def transport_ceiling(
    port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]]
) -> float:
    """Events/s a bare paho consumer receives (QoS 1, shared subscription, no database)."""
    done, seen, times = threading.Event(), [0], [0.0, 0.0]
    consumer = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv5
    )
    consumer.username_pw_set("bench-probe", users["bench-probe"])

    def when_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        seen[0] += 1
        if seen[0] == 1:
            times[0] = time.monotonic()
        if seen[0] == len(messages):
            times[1] = time.monotonic()
            done.set()

    consumer.on_message = when_message
    consumer.connect("127.0.0.1", port)
    consumer.subscribe([(shared_filter("probe", f), 1) for f in fleet_filters(SITE)])
    consumer.loop_start()
    time.sleep(0.5)
    _publish(port, users, messages, rate=None)
    done.wait(300)
    consumer.disconnect()
    consumer.loop_stop()
    return len(messages) / max(times[1] - times[0], 1e-9)


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def ingest_rate(
    url: str, port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]], workers: int
) -> tuple[float, list[subprocess.Popen[bytes]]]:
    processes = []
    for n in range(1, workers + 1):
        account = f"coordinator-ingest-{n}"
        env = os.environ | {
            "COORDINATOR_DATABASE_URL": url,
            "COORDINATOR_MQTT_PORT": str(port),
            "COORDINATOR_MQTT_USERNAME": account,
            "COORDINATOR_MQTT_PASSWORD": users[account],
            "COORDINATOR_MQTT_CLIENT_ID": account,
            "COORDINATOR_SITE": SITE,
            "COORDINATOR_INGEST_BATCH_SIZE": "500",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "coordinator", "ingest"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(3)  # connected and subscribed
    started = time.monotonic()
    _publish(port, users, messages, rate=None)
    while _count(_dsn(url)) < len(messages):
        if time.monotonic() - started > 900:
            raise SystemExit("ingest did not store every event within 15 minutes")
        time.sleep(0.05)
    return len(messages) / (time.monotonic() - started), processes


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
    url: str, port: int, users: dict[str, str], messages: list[tuple[str, str, bytes]], rate: float
) -> list[float]:
    """Publish-to-store latency (received_at - device_time) at a fixed offered load."""
    marker = datetime.now(UTC)
    before = _count(_dsn(url))
    _publish(port, users, messages, rate=rate)
    while _count(_dsn(url)) < before + len(messages):
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
    parser.add_argument("--latency-rate", type=float, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    messages = _messages(args.devices, args.events)
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
        paced = _messages(
            args.devices, max(1, int(args.latency_rate * args.latency_seconds / args.devices))
        )
        lags = latency(url, port, users, paced, args.latency_rate)
        for process in workers:
            process.terminate()
            process.wait(20)
    print(f"{total} events from {args.devices} devices, {args.workers} ingest worker(s)")
    print(f"ingest (store, gaps, presence, projections): {rate:,.0f} events/s")
    print(f"exactly once at the end: {exactly_once}")
    print(f"bare transport (paho consumer, no database):    {transport:,.0f} events/s")
    print(f"PostgreSQL COPY of the same rows:               {copy:,.0f} events/s")
    print(f"ingest / transport: {rate / transport:.2f}   ingest / COPY: {rate / copy:.3f}")
    if lags:
        q = statistics.quantiles(lags, n=100)
        p50, p95, p99 = (q[i] * 1000 for i in (49, 94, 98))
        print(f"latency at {args.latency_rate:,.0f} events/s offered ({len(lags)} events):")
        print(f"  publish to store p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
