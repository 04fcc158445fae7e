"""The demo campus: a private Mosquitto, the coordinator on SQLite, and simulated door stations.

Run by `make demo` inside the project's virtual environment. It seeds a small campus through the
coordinator's API (a site, a building, three rooms with geofences, exam sessions starting in the
next minutes, supervisors assigned to them with cards and faces enrolled from scikit-image's
sample portrait), provisions three simulated door stations as a technician would (each makes its
own X25519 key, whose public half is registered; each trusts the coordinator's signing keys),
and starts them with a script of who taps where. The stations get their bundles from the
coordinator over MQTT and decide on their own; the demo prints every check-in and refusal as the
coordinator stores it. Everything it makes lives in .demo/ (generated passwords included) and is
replaced at the next start. Ctrl-C (or SIGTERM) stops it all cleanly.
"""

import argparse
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from pydantic import SecretStr

from coordinator.auth.admins import create_admin
from coordinator.auth.tokens import issue_access_token
from coordinator.broker_config import free_port, write_broker_config
from coordinator.bundles import keys
from coordinator.core.passwords import Passwords
from coordinator.db.migrate import upgrade
from coordinator.db.session import transaction
from edge_agent.profile import load_profile
from edge_agent.profile_parts import FakeLocationConfig
from edge_agent.runtime import DEVICE_KEY_FILE
from edge_agent.simulate_script import enrolment_photos
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key

REPO = Path(__file__).resolve().parent.parent
SITE = "demo"
PROFILE = "door-station-sim"
COORDINATOR_USER = "coordinator"
ADMIN_EMAIL = "admin@demo.campus"

# The campus, as data. Rooms: code, its door station, minutes from now to its exam session.
ROOMS = [
    ("B-101", "door-b101", 2),
    ("B-102", "door-b102", 3),
    ("B-103", "door-b103", -20),  # began 20 min ago: check-in closed 15 min after the start
]
# Supervisors: name, card UID, the room they are assigned to.
SUPERVISORS = [
    ("Ada Lovelace", "04A1B201", "B-101"),
    ("Grace Hopper", "04A1B202", "B-102"),
    ("Edsger Dijkstra", "04A1B203", "B-103"),
]
# Taps: who, at which room, seconds after the stations hold their bundles, what must happen
# ("check_in", or the reason code of the refusal).
TAPS = [
    ("Ada Lovelace", "B-101", 0, "check_in"),
    ("Grace Hopper", "B-102", 3, "check_in"),
    ("Edsger Dijkstra", "B-103", 6, "outside_window"),  # arrives late
    ("Ada Lovelace", "B-102", 9, "no_assignment"),  # at the wrong room
]
# How a refusal reads to a person; codes not listed are shown as they are.
REASONS = {
    "no_assignment": "not assigned here",
    "outside_window": "outside the check-in window",
    "unknown_card": "unknown card",
    "already_checked_in": "already checked in",
    "face_mismatch": "the face does not match",
    "face_uncertain": "the face could not be confirmed",
    "not_live": "not a live face (a photo?)",
    "no_face": "no face seen",
    "no_template": "no enrolled face",
    "outside_geofence": "the station is not at its room",
}

Process = subprocess.Popen[bytes]
processes: list[Process] = []


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def launch(work: Path, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
    log = (work / f"{name}.log").open("ab")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)


def wait_until(is_ready: Callable[[], bool], what: str, work: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"[demo] {what} did not happen in {timeout:.0f} s; the logs are in {work}")


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


# --- the broker and the coordinator ----------------------------------------------------------


def start_broker(work: Path, devices: list[str]) -> tuple[int, dict[str, str]]:
    port = free_port()
    users = {name: secrets.token_urlsafe(16) for name in [COORDINATOR_USER, *devices]}
    files = write_broker_config(
        work / "broker", port=port, persistence=True, coordinator_user=COORDINATOR_USER, users=users
    )
    credentials = work / "device-credentials.txt"
    credentials.touch(mode=0o600)
    credentials.write_text("".join(f"{d} {users[d]}\n" for d in devices))
    processes.append(launch(work, "mosquitto", ["mosquitto", "-c", str(files.config)]))
    wait_until(lambda: is_listening(port), "mosquitto's start", work)
    say(f"broker: private mosquitto on 127.0.0.1:{port} (passwords and ACL in {work}/broker)")
    return port, users


def coordinator_env(work: Path, broker_port: int, password: str, http_port: int) -> dict[str, str]:
    face_model = load_profile(PROFILE).thresholds.face_model  # enrol as the stations compare
    return os.environ | {
        "COORDINATOR_SECRET_KEY": demo_secret_key(work),
        "COORDINATOR_DATABASE_URL": f"sqlite:///{work / 'coordinator.sqlite3'}",
        "COORDINATOR_HTTP_PORT": str(http_port),
        "COORDINATOR_MQTT_PORT": str(broker_port),
        "COORDINATOR_MQTT_USERNAME": COORDINATOR_USER,
        "COORDINATOR_MQTT_PASSWORD": password,
        **({"COORDINATOR_FACE_MODEL": face_model} if face_model else {}),
    }


def start_coordinator(
    work: Path, env: dict[str, str]
) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """Migrate, make the admin and the signing key, serve; the API's address, the admin's
    headers and the signing keys for devices to trust."""
    upgrade(env["COORDINATOR_DATABASE_URL"])  # what `coordinator migrate` does, in-process
    headers = create_admin_account(work, env)
    trusted = signing_keys(env)  # before `serve`, so only this process writes the first key
    processes.append(
        launch(work, "coordinator", [sys.executable, "-m", "coordinator", "serve"], env)
    )
    api = f"http://127.0.0.1:{env['COORDINATOR_HTTP_PORT']}"
    wait_until(lambda: ingest_connected(api), "the coordinator's start", work)
    say(f"coordinator: on SQLite ({work}/coordinator.sqlite3), API at {api}")
    return api, headers, trusted


def demo_secret_key(work: Path) -> str:
    """The coordinator refuses to start without a strong root secret; the demo makes its own
    and keeps it in .demo/ (owner-only), never a shared key from the repository."""
    path = work / "secret-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def create_admin_account(work: Path, env: dict[str, str]) -> dict[str, str]:
    """An admin to sign in with (printed once; what `coordinator create-admin` makes), and a
    token for this script's own calls."""
    password = secrets.token_urlsafe(12)
    with transaction(env["COORDINATOR_DATABASE_URL"]) as session:
        admin = create_admin(
            session, Passwords(), email=ADMIN_EMAIL, full_name="Demo Admin", password=password
        )
        admin_id = admin.id
    (work / "admin-password.txt").write_text(password + "\n")
    say(
        f"sign in as {ADMIN_EMAIL} / {password} (also in {work}/admin-password.txt);"
        " the first sign-in enrols an authenticator app (TOTP)"
    )
    return bearer(env, admin_id, "admin")


def bearer(env: dict[str, str], user_id: int, role: str) -> dict[str, str]:
    """This script's own token for a person it acts for; never handed to anyone."""
    token = issue_access_token(
        SecretStr(env["COORDINATOR_SECRET_KEY"]),
        user_id=user_id,
        role=role,
        second_factor=role == "admin",  # the script stands in for the admin's sign-in
        lifetime=timedelta(days=1),
    )
    return {"Authorization": f"Bearer {token}"}


def signing_keys(env: dict[str, str]) -> list[tuple[str, str]]:
    """The coordinator's bundle-signing keys (made on first use), for the devices to trust:
    what `coordinator keys list` prints to a technician."""
    with transaction(env["COORDINATOR_DATABASE_URL"]) as session:
        keys.ensure_active_key(session, SecretStr(env["COORDINATOR_SECRET_KEY"]))
        return [(key.key_id, key.public_key) for key in keys.trusted_keys(session)]


# --- the campus, through the API -------------------------------------------------------------


@dataclass
class Campus:
    """What the seed made, for the script and for printing what the coordinator stores."""

    room_of_device: dict[str, str] = field(default_factory=dict)
    device_of_room: dict[str, str] = field(default_factory=dict)
    session_starts: dict[str, datetime] = field(default_factory=dict)  # by room code
    session_rooms: dict[int, str] = field(default_factory=dict)  # session id → room code
    names: dict[int, str] = field(default_factory=dict)  # user id → name


class RefusedError(RuntimeError):
    """The coordinator refused a call; the message has its reason."""


class Api:
    """The API as the admin; a refusal stops the demo with the coordinator's reason."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=120)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; a 500 is tried again twice, saying so (on SQLite the coordinator answers
        500 "database is locked" when another write lands during the request's transaction,
        which was rolled back; a call that had in fact been stored would come back 409)."""
        for attempt in range(3):
            answer = self.client.request(method, path, **kwargs)
            if answer.status_code != 500 or attempt == 2:
                break
            say(f"the coordinator answered 500 to {method} {path} (its log says why); again")
            time.sleep(1 + attempt)
        if answer.is_error:
            raise RefusedError(f"{method} {path} was refused ({answer.status_code}): {answer.text}")
        return answer.json() if answer.content else None


def seed_campus(api: Api, env: dict[str, str], public_keys: dict[str, str]) -> Campus:
    """The campus through the API, as an admin and the supervisors would make it. The stations
    are registered last: until then no change has a bundle to mark stale, so the builder does
    not write while the seed does (SQLite has one writer at a time)."""
    campus = Campus()
    site = api.call("POST", "/sites", json={"code": SITE, "name": "Demo campus",
                                            "time_zone": "Europe/Vienna"})  # fmt: skip
    building = api.call("POST", "/buildings", json={"site_id": site["id"], "code": "B",
                                                    "name": "Building B"})  # fmt: skip
    exam = api.call("POST", "/exams", json={"code": "PHYS-1", "title": "Physics I"})
    now = datetime.now(UTC).replace(microsecond=0)
    room_ids = {}
    for code, device_id, starts_in_min in ROOMS:
        room_ids[code] = seed_room(api, building["id"], code)["id"]
        starts = now + timedelta(minutes=starts_in_min)
        exam_session = api.call("POST", "/exam-sessions", json={
            "exam_id": exam["id"], "room_id": room_ids[code], "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=90)).isoformat(),
        })  # fmt: skip
        campus.session_rooms[exam_session["id"]] = code
        campus.session_starts[code] = starts
        campus.room_of_device[device_id], campus.device_of_room[code] = code, device_id
    seed_supervisors(api, env, campus)
    for code, device_id, _ in ROOMS:
        api.call("POST", "/devices", json={
            "id": device_id, "site_id": site["id"], "room_id": room_ids[code], "profile": PROFILE,
            "status": "active", "public_key": public_keys[device_id],
        })  # fmt: skip
        say(f"registered: station {device_id} in room {code}, with its own public key")
    return campus


def seed_room(api: Api, building_id: int, code: str) -> dict[str, Any]:
    """A room whose geofence is where the simulated stations stand (their profile's location)."""
    location = load_profile(PROFILE).location
    assert isinstance(location, FakeLocationConfig)
    room: dict[str, Any] = api.call("POST", "/rooms", json={
        "building_id": building_id, "code": code, "name": f"Room {code}", "capacity": 40,
        "latitude": location.latitude, "longitude": location.longitude, "geofence_radius_m": 100,
    })  # fmt: skip
    return room


def seed_supervisors(api: Api, env: dict[str, str], campus: Campus) -> None:
    """Each supervisor: an account, a card, a face enrolled from photos, an assignment the admin
    proposes and the supervisor accepts (with their own token, as in the console)."""
    photos = enrolment_photo_files()
    session_of_room = {room: session_id for session_id, room in campus.session_rooms.items()}
    for name, card, room in SUPERVISORS:
        email = name.split()[0].lower() + "@demo.campus"
        user = api.call("POST", "/users", json={"email": email, "full_name": name,
                                                "role": "supervisor"})  # fmt: skip
        campus.names[user["id"]] = name
        api.call("POST", "/cards", json={"uid": card, "user_id": user["id"]})
        api.call("POST", f"/users/{user['id']}/face-templates", files=photos)
        assignment = api.call("POST", "/assignments", json={
            "session_id": session_of_room[room], "supervisor_id": user["id"],
        })  # fmt: skip
        api.call(
            "POST",
            f"/assignments/{assignment['id']}/accept",
            headers=bearer(env, user["id"], "supervisor"),
        )
        starts = campus.session_starts[room].astimezone()
        say(f"seeded: {name} supervises room {room} at {starts:%H:%M}, card {card}, face enrolled")


def enrolment_photo_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    """The packaged portrait and two turns of the head, as PNG uploads."""
    files = []
    for number, frame in enumerate(enrolment_photos(), start=1):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        files.append(("photos", (f"portrait-{number}.png", buffer.getvalue(), "image/png")))
    return files


def provision_device(work: Path, device_id: str, trusted: list[tuple[str, str]]) -> str:
    """What a technician does for a new station: its own key pair (the private key stays in its
    data folder) and the coordinator's signing keys to trust. Returns the public key."""
    data_dir = work / "devices" / device_id
    public_key = create_device_key(data_dir / DEVICE_KEY_FILE)
    store = BundleStore(data_dir / "bundle.sqlite3")
    try:
        for key_id, key in trusted:
            store.trust(key_id, key)
    finally:
        store.close()
    return public_key


def write_script(work: Path) -> Path:
    """What the simulated stations' people do; the stations themselves know only their bundles."""
    device_of_room = {code: device_id for code, device_id, _ in ROOMS}
    script = {
        "site": SITE,
        "devices": list(device_of_room.values()),
        "people": [{"name": name, "card": card} for name, card, _ in SUPERVISORS],
        "taps": [
            {"person": name, "device": device_of_room[room], "after_s": after_s}
            for name, room, after_s, _ in TAPS
        ],
    }
    path = work / "script.json"
    path.write_text(json.dumps(script, indent=2) + "\n")
    return path


def start_devices(work: Path, broker_port: int, script: Path) -> None:
    command = [
        sys.executable, "-m", "edge_agent", "simulate", "--script", str(script),
        "--broker-port", str(broker_port), "--forever", "--interval", "2",
        "--credentials", str(work / "device-credentials.txt"),
        "--data-dir", str(work / "devices"),
    ]  # fmt: skip
    processes.append(launch(work, "devices", command))
    say(
        f"stations: {', '.join(device for _, device, _ in ROOMS)} ({PROFILE}) starting; each "
        "waits for its bundle from the coordinator"
    )


# --- what the coordinator stores --------------------------------------------------------------


@dataclass
class Watch:
    """Prints each bundle applied, check-in and refusal once, as the coordinator stores them."""

    api: Api
    campus: Campus
    started: float  # time.monotonic() at the demo's start
    is_done: bool = False
    seen: set[tuple[str, int]] = field(default_factory=set)
    acked: dict[str, int] = field(default_factory=dict)
    problems: set[str] = field(default_factory=set)
    outcomes: set[tuple[str, str, str]] = field(default_factory=set)  # (name, room, outcome)

    def poll(self) -> None:
        try:
            self._bundles()
            self._new("attendance", self._attendance)
            self._new("attempts", self._attempt)
        except (httpx.HTTPError, RefusedError) as error:
            say(f"(the coordinator did not answer: {error})")
        if not self.is_done and not self.missing():
            self.is_done = True
            say(
                f"all {len(TAPS)} scripted taps stored, {time.monotonic() - self.started:.0f} s "
                "after the start; the stations keep sending heartbeats"
            )

    def _new(self, kind: str, show: Callable[[dict[str, Any]], str]) -> None:
        for item in self.api.call("GET", f"/{kind}", params={"limit": 100})["items"]:
            if (kind, item["id"]) not in self.seen:
                self.seen.add((kind, item["id"]))
                at = datetime.fromisoformat(item["at"]).astimezone()
                room = self.campus.room_of_device.get(item["device_id"] or "", "?")
                say(f"{at:%H:%M:%S} room {room}: {show(item)}")

    def _bundles(self) -> None:
        for row in self.api.call("GET", "/sync"):
            device_id, version = row["device_id"], row["acked_version"]
            room = self.campus.room_of_device.get(device_id, "?")
            if version and version != self.acked.get(device_id):
                self.acked[device_id] = version
                say(f"{device_id} (room {room}) applied bundle v{version} and acknowledged it")
            for problem in (row["build_problem"], row["refused_reason"]):
                if problem and f"{device_id}: {problem}" not in self.problems:
                    self.problems.add(f"{device_id}: {problem}")
                    say(f"{device_id} (room {room}) has no usable bundle: {problem}")

    def _attendance(self, item: dict[str, Any]) -> str:
        name = self.campus.names.get(item["user_id"], f"user {item['user_id']}")
        room = self.campus.session_rooms.get(item["session_id"], "?")
        if item["action"] == "check_out":
            return f"{name} checked out"
        self.outcomes.add((name, room, "check_in"))
        starts = self.campus.session_starts.get(room)
        if starts is None:
            return f"{name} checked in"
        late = datetime.fromisoformat(item["at"]) - starts
        when = "on time" if late <= timedelta(0) else f"{late // timedelta(minutes=1)} min late"
        return f"{name} checked in ({when})"

    def _attempt(self, item: dict[str, Any]) -> str:
        user_id = item["user_id"]
        name = self.campus.names.get(user_id, f"user {user_id}") if user_id else "an unknown card"
        room = self.campus.room_of_device.get(item["device_id"], "?")
        reason = item["reason"]
        self.outcomes.add((name, room, reason))
        text = f"refused {name}: {REASONS.get(reason, reason)}"
        starts = self.campus.session_starts.get(room)
        if reason == "outside_window" and starts and datetime.fromisoformat(item["at"]) > starts:
            minutes = (datetime.fromisoformat(item["at"]) - starts) // timedelta(minutes=1)
            text += f" (late: the exam began {minutes} min before)"
        return text

    def missing(self) -> list[str]:
        return [
            f"{name} at {room}: {outcome}"
            for name, room, _, outcome in TAPS
            if (name, room, outcome) not in self.outcomes
        ]


# --- main -------------------------------------------------------------------------------------


def run(work: Path, port: int, run_for: float | None) -> int:
    started = time.monotonic()
    devices = [device_id for _, device_id, _ in ROOMS]
    broker_port, users = start_broker(work, devices)
    http_port = port if not is_listening(port) else free_port()
    env = coordinator_env(work, broker_port, users[COORDINATOR_USER], http_port)
    api_url, headers, trusted = start_coordinator(work, env)
    public_keys = {device_id: provision_device(work, device_id, trusted) for device_id in devices}
    api = Api(api_url, headers)
    campus = seed_campus(api, env, public_keys)
    # Only now: a station's messages are written by ingest, and on SQLite a seed write that
    # meets an ingest write can be refused as "database is locked".
    start_devices(work, broker_port, write_script(work))
    say(f"open the API docs: {api_url}/docs   (check-ins: {api_url}/api/v1/attendance)")
    say(f"logs are in {work}; press Ctrl-C to stop everything")
    watch = Watch(api, campus, started)
    deadline = None if run_for is None else started + run_for
    while all(process.poll() is None for process in processes):
        watch.poll()
        if deadline is not None and time.monotonic() > deadline:
            missing = watch.missing()
            say(f"ran for {run_for:.0f} s; " + (f"missing: {missing}" if missing else "all seen"))
            return 1 if missing else 0
        time.sleep(1)
    say(f"a process stopped unexpectedly; see the logs in {work}")
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (another if busy).")
    parser.add_argument(
        "--run-for",
        type=float,
        default=None,
        help="Stop this many seconds after the start; exit 1 unless every scripted outcome "
        "was stored by then.",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / ".demo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # `kill` (SIGTERM) stops the demo as cleanly as Ctrl-C does, children included.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work: Path = args.work_dir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    status = 0
    try:
        status = run(work, args.port, args.run_for)
    except KeyboardInterrupt:
        say("stopping")
    except (RefusedError, httpx.HTTPError) as error:
        say(f"the coordinator refused the demo's seed: {error}; its log is in {work}")
        status = 1
    finally:
        for process in reversed(processes):  # devices first, so their goodbyes are stored
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    sys.exit(status)


if __name__ == "__main__":
    main()
