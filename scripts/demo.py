"""The demo campus: a private Mosquitto, the coordinator on SQLite, and simulated devices.

Run by `make demo` inside the project's virtual environment. Everything it makes lives in .demo/
(generated passwords included) and is replaced at the next start. Ctrl-C stops it all cleanly.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from coordinator.auth.tokens import issue_access_token
from coordinator.broker_config import free_port, write_broker_config
from coordinator.db.models import User
from coordinator.db.session import transaction

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".demo"
SITE = "demo"
COORDINATOR_USER = "coordinator"
ADMIN_EMAIL = "admin@demo.campus"

Process = subprocess.Popen[bytes]


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def launch(name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
    log = (WORK / f"{name}.log").open("ab")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=WORK)


def wait_until(is_ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"[demo] {what} did not start; its log is in {WORK}")


def is_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def ingest_connected(api: str) -> bool:
    try:
        return bool(httpx.get(f"{api}/api/v1/health").json()["ingest"] == "connected")
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def stored_events(api: str, headers: dict[str, str]) -> int | None:
    try:
        page = httpx.get(f"{api}/api/v1/events", params={"limit": 1}, headers=headers).json()
        return int(page["total"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def start_broker(devices: list[str]) -> tuple[int, dict[str, str]]:
    port = free_port()
    users = {name: secrets.token_urlsafe(16) for name in [COORDINATOR_USER, *devices]}
    files = write_broker_config(
        WORK / "broker", port=port, persistence=True, coordinator_user=COORDINATOR_USER, users=users
    )
    credentials = WORK / "device-credentials.txt"
    credentials.touch(mode=0o600)
    credentials.write_text("".join(f"{d} {users[d]}\n" for d in devices))
    processes.append(launch("mosquitto", ["mosquitto", "-c", str(files.config)]))
    wait_until(lambda: is_listening(port), "mosquitto")
    say(f"broker: private mosquitto on 127.0.0.1:{port} (passwords and ACL in .demo/broker)")
    return port, users


def start_coordinator(
    broker_port: int, password: str, http_port: int
) -> tuple[str, dict[str, str]]:
    env = os.environ | {
        "COORDINATOR_SECRET_KEY": demo_secret_key(),
        "COORDINATOR_DATABASE_URL": f"sqlite:///{WORK / 'coordinator.sqlite3'}",
        "COORDINATOR_HTTP_PORT": str(http_port),
        "COORDINATOR_MQTT_PORT": str(broker_port),
        "COORDINATOR_MQTT_USERNAME": COORDINATOR_USER,
        "COORDINATOR_MQTT_PASSWORD": password,
    }
    subprocess.run(
        [sys.executable, "-m", "coordinator", "migrate"], env=env, check=True, capture_output=True
    )
    headers = create_admin(env)
    processes.append(launch("coordinator", [sys.executable, "-m", "coordinator", "serve"], env))
    api = f"http://127.0.0.1:{http_port}"
    wait_until(lambda: ingest_connected(api), "the coordinator")
    say(f"coordinator: on SQLite (.demo/coordinator.sqlite3), API at {api}")
    return api, headers


def demo_secret_key() -> str:
    """The coordinator refuses to start without a strong root secret; the demo makes its own
    and keeps it in .demo/ (owner-only), never a shared key from the repository."""
    path = WORK / "secret-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def create_admin(env: dict[str, str]) -> dict[str, str]:
    """An admin to sign in with (printed once), and a token for this script's progress line."""
    password = secrets.token_urlsafe(12)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coordinator",
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--full-name",
            "Demo Admin",
        ],
        env=env | {"COORDINATOR_ADMIN_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    (WORK / "admin-password.txt").write_text(password + "\n")
    say(
        f"sign in as {ADMIN_EMAIL} / {password} (also in .demo/admin-password.txt);"
        " the first sign-in enrols an authenticator app (TOTP)"
    )
    with transaction(env["COORDINATOR_DATABASE_URL"]) as session:
        admin_id = session.scalars(select(User.id).where(User.email == ADMIN_EMAIL)).one()
    token = issue_access_token(
        SecretStr(env["COORDINATOR_SECRET_KEY"]),
        user_id=admin_id,
        role="admin",
        second_factor=True,  # this script's own token, never handed to a person
        lifetime=timedelta(days=1),
    )
    return {"Authorization": f"Bearer {token}"}


def start_devices(broker_port: int, count: int) -> None:
    command = [
        sys.executable,
        "-m",
        "edge_agent",
        "simulate",
        "--devices",
        str(count),
        "--site",
        SITE,
        "--broker-port",
        str(broker_port),
        "--forever",
        "--interval",
        "2",
        "--credentials",
        str(WORK / "device-credentials.txt"),
        "--data-dir",
        str(WORK / "devices"),
    ]
    processes.append(launch("devices", command))
    say(f"devices: {count} simulated door stations on site {SITE!r}, outboxes in .demo/devices")


processes: list[Process] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=3, help="How many simulated devices.")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (another if busy).")
    args = parser.parse_args()
    # `kill` (SIGTERM) stops the demo as cleanly as Ctrl-C does, children included.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    devices = [f"sim-{n:02d}" for n in range(1, args.devices + 1)]
    try:
        broker_port, users = start_broker(devices)
        http_port = args.port if not is_listening(args.port) else free_port()
        api, headers = start_coordinator(broker_port, users[COORDINATOR_USER], http_port)
        start_devices(broker_port, args.devices)
        say(f"open the console:  {api}/docs   (events: {api}/api/v1/events)")
        say(f"logs are in {WORK}; press Ctrl-C to stop everything")
        while all(process.poll() is None for process in processes):
            time.sleep(5)
            say(f"{stored_events(api, headers)} events stored so far")
        say(f"a process stopped unexpectedly; see the logs in {WORK}")
    except KeyboardInterrupt:
        say("stopping")
    finally:
        for process in reversed(processes):  # devices first, so their goodbyes are stored
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
