"""Simulated door stations: real stations on fake hardware, with scripted people.

Each device is a `DoorAgent` on the `door-station-sim` profile (gpiozero's MockFactory pins, a
scripted camera and card reader, a fake location), with a real outbox, a real MQTT link and the
real face pipeline. Its roster is a `protocols.bundle.Bundle` sealed to a key the device made,
read through `book_from_bundle` like a bundle from the coordinator. People are scripted: a
supervisor with a card and a face (skimage's astronaut portrait, which ships with scikit-image,
moving like a live head), so every event comes from the station's own decision.

Sessions are laid out on a simulated day (one every three hours); the station decides against
that day's clock, so a supervisor can check in and out many times in a short run. Envelopes
keep the real wall-clock time.

With a script (`run_script`, `edge-agent simulate --script FILE`, what `make demo` runs) the
devices are provisioned ones instead: each holds its own key and the coordinator's trusted
signing keys in its data folder, receives its bundle from the coordinator over MQTT (the real
downlink) and decides on the real clock; the script says only who taps which card at which
device and when. The station knows nothing but its bundle.
"""

import itertools
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import SecretStr

from edge_agent.app import App
from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.errors import ConfigError
from edge_agent.hardware.base import Frame
from edge_agent.hardware.fakes import FakeCamera, FakeCardReader
from edge_agent.profile_parts import FakeLocationConfig
from edge_agent.runtime import DoorAgent, load_door_profile
from edge_agent.stations.book import book_from_bundle
from edge_agent.stations.door import FaceVerifier
from protocols import Station
from protocols.bundle import (
    Bundle,
    BundleSession,
    DeviceBinding,
    Geofence,
    PersonKind,
    RosterEntry,
    RosterRole,
    RosterSession,
    SealedTemplates,
    person_ref,
)
from protocols.cards import card_uid_hash
from protocols.sealing import context, seal
from protocols.templates import pack_templates
from vision import Descriptor, FacePipeline, FaceReading

log = logging.getLogger(__name__)

PROFILE = "door-station-sim"
SESSION_EVERY = timedelta(hours=3)
MAX_SIM_SESSIONS = 500  # a bundle holds at most 2000; after these, taps are already checked in
NOSE = (222.0, 125.0)  # where the astronaut's nose is, in skimage.data.astronaut() pixels


@dataclass(frozen=True)
class SimulationPlan:
    """How many devices, and what each does: `attendance` taps and `heartbeats`.

    With `forever`, devices keep going (one tap per interval, heartbeats every `heartbeat_every`
    intervals) until stopped; otherwise they stop once everything is acked. With `refusals`,
    every fourth tap is a refused one (an unknown card, or a photo held to the camera).
    """

    devices: int
    site: str
    data_dir: Path
    broker: BrokerConfig
    credentials: dict[str, str]
    attendance: int = 3
    heartbeats: int = 1
    interval_s: float = 1.0
    heartbeat_every: int = 5
    forever: bool = False
    id_prefix: str = "sim"
    refusals: bool = False


@dataclass(frozen=True)
class DeviceReport:
    """What a device recorded; what is still in its outbox (not receipted by a coordinator);
    whether all of that at least reached the broker (which holds it for the coordinator)."""

    device_id: str
    recorded: int
    left_in_outbox: int
    all_sent: bool


@dataclass(frozen=True)
class Faces:
    """The scripted supervisor's face: enrolment descriptors, live frames and a held photo."""

    templates: list[Descriptor]
    live: list[Frame]
    photo: list[Frame]
    model: str  # the embedder the templates were made with

    @classmethod
    def load(cls, pipeline: FacePipeline, frames: int) -> "Faces":
        portrait = astronaut()
        reading = pipeline.read(portrait)
        if not isinstance(reading, FaceReading):
            raise ConfigError(f"the simulated face is not readable ({reading}); check `vision`")
        turns = [0.6, -0.8, 1.0, -1.0, 0.9, -0.7] * 5
        live = [portrait] + [turned_head(portrait, amount) for amount in turns[: frames - 1]]
        return cls([reading.descriptor], live, [portrait] * frames, pipeline.model)


@dataclass
class SimulatedDoor:
    """One simulated device: its agent, its app, its scripted parts and its simulated day."""

    agent: DoorAgent
    app: App
    card: str
    day: datetime
    now: datetime
    recorded: int = 0
    taps: int = 0
    supervisor_taps: int = 0

    @property
    def device_id(self) -> str:
        return self.agent.config.device_id

    def tap(self, card: str, frames: list[Frame], at: datetime) -> None:
        """A person presents `card` and shows `frames` to the camera at simulated time `at`."""
        parts = self.agent.parts
        assert parts is not None and self.agent.station is not None
        assert isinstance(parts.camera, FakeCamera) and isinstance(parts.reader, FakeCardReader)
        self.now = at
        parts.camera.show(*frames)
        parts.reader.present(card)
        decision = self.agent.station.serve(0)
        self.recorded += decision is not None
        if decision is not None:
            log.info("%s: %s %s", self.device_id, decision.reason, decision.action or "")


def device_ids(plan: SimulationPlan) -> list[str]:
    return [f"{plan.id_prefix}-{number:02d}" for number in range(1, plan.devices + 1)]


def device_config(plan: SimulationPlan, device_id: str) -> AgentConfig:
    password = plan.credentials.get(device_id)
    broker = plan.broker.model_copy(
        update={"username": device_id, "password": SecretStr(password)} if password else {}
    )
    return AgentConfig(
        device_id=device_id,
        site=plan.site,
        profile=PROFILE,
        data_dir=plan.data_dir / device_id,
        broker=broker,
    )


def run_simulation(
    plan: SimulationPlan, stop: threading.Event, drain_timeout_s: float = 30
) -> list[DeviceReport]:
    """Run every device's script; returns what each recorded and what it could not deliver."""
    profile = load_door_profile(device_config(plan, device_ids(plan)[0]))
    pipeline = FacePipeline(settings=profile.vision_settings())  # one thread serves all devices
    faces = Faces.load(pipeline, profile.thresholds.frames_per_attempt)
    doors: list[SimulatedDoor] = []
    try:
        for number, device_id in enumerate(device_ids(plan), start=1):
            doors.append(_open_door(plan, device_id, number, faces, pipeline))
        _play(plan, doors, faces, stop)
        for door in doors:
            # Without a coordinator nothing is receipted: what reached the broker is delivered;
            # with one online (its retained state says so), wait for its receipts too.
            uplink = door.agent.uplink
            assert uplink is not None
            if uplink.wait_sent(drain_timeout_s) and uplink.coordinator.is_online:
                uplink.wait_drained(drain_timeout_s)
        return [report(door) for door in doors]
    finally:
        for door in doors:
            door.app.stop()


def report(door: SimulatedDoor) -> DeviceReport:
    assert door.agent.outbox is not None and door.agent.uplink is not None
    sent = door.agent.uplink.wait_sent(0)
    return DeviceReport(door.device_id, door.recorded, door.agent.outbox.count(), sent)


def _open_door(
    plan: SimulationPlan, device_id: str, number: int, faces: Faces, verifier: FaceVerifier
) -> SimulatedDoor:
    config = device_config(plan, device_id)
    profile = load_door_profile(config)
    location = profile.location
    if not isinstance(location, FakeLocationConfig):
        raise ConfigError(f"profile {PROFILE} must have a fake location to simulate")
    day = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    card = f"{0x04A10000 + number:08X}"
    device_key = X25519PrivateKey.generate()  # as a real device makes its own at enrolment
    bundle = _bundle(plan, device_id, number, card, faces, day, device_key, location)
    book = book_from_bundle(bundle, device_key)
    door: SimulatedDoor | None = None

    def decision_clock() -> datetime:
        assert door is not None
        return door.now

    agent = DoorAgent(
        config,
        profile,
        book=lambda: book,
        make_verifier=lambda _: verifier,
        wall_clock=decision_clock,
    )
    door = SimulatedDoor(agent, agent.app(), card, day, day)
    door.app.start()
    return door


def _bundle(  # noqa: PLR0917 - one simulated device's whole roster
    plan: SimulationPlan,
    device_id: str,
    number: int,
    card: str,
    faces: Faces,
    day: datetime,
    device_key: X25519PrivateKey,
    location: FakeLocationConfig,
) -> Bundle:
    public = device_key.public_key()
    card_key = secrets.token_bytes(32)
    run = secrets.token_hex(4)  # a new run is a new plan: earlier check-ins do not count
    supervisor = person_ref(PersonKind.USER, number)
    sessions = [
        BundleSession(
            session_ref=f"{run}-s{index}",
            exam_code=f"SIM-{index}",
            starts_at=day + index * SESSION_EVERY,
            ends_at=day + index * SESSION_EVERY + timedelta(hours=2),
            check_in_opens_at=day + index * SESSION_EVERY - timedelta(minutes=30),
            check_in_closes_at=day + index * SESSION_EVERY + timedelta(minutes=15),
        )
        for index in range(MAX_SIM_SESSIONS)
    ]
    templates = pack_templates([t.tolist() for t in faces.templates])
    entry = RosterEntry(
        person_ref=supervisor,
        role=RosterRole.SUPERVISOR,
        name=f"Supervisor {number}",
        card_hashes=[card_uid_hash(card_key, card)],
        templates=SealedTemplates(
            model=faces.model,
            sealed=seal(templates, public, context(device_id, "face-templates", supervisor)),
        ),
        sessions=[
            RosterSession(session_ref=s.session_ref, assignment_ref=f"{run}-a{index}")
            for index, s in enumerate(sessions)
        ],
    )
    return Bundle(
        device_id=device_id,
        version=1,
        issued_at=day,
        valid_until=day + MAX_SIM_SESSIONS * SESSION_EVERY,
        key_id="simulation",
        binding=DeviceBinding(
            station=Station.DOOR,
            site=plan.site,
            room_ref=f"room-{number}",
            place_name=f"Simulated room {number}",
            geofence=Geofence(
                latitude=location.latitude, longitude=location.longitude, radius_m=100
            ),
        ),
        sessions=sessions,
        roster=[entry],
        card_key=seal(card_key, public, context(device_id, "card-key")),
    )


def _play(
    plan: SimulationPlan, doors: list[SimulatedDoor], faces: Faces, stop: threading.Event
) -> None:
    for step in _steps(plan):
        if stop.wait(plan.interval_s):
            return
        for door in doors:
            if step == "heartbeat":
                door.agent.send_heartbeat()
                door.recorded += 1
            else:
                _tap(plan, door, faces)


def _tap(plan: SimulationPlan, door: SimulatedDoor, faces: Faces) -> None:
    """The supervisor checks in before a session and out after it; with `refusals`, every
    fourth tap is an unknown card or a photo held to the camera instead."""
    number, door.taps = door.taps, door.taps + 1
    if plan.refusals and number % 4 == 3:
        card, frames = ("DEADBEEF", faces.live) if number % 8 == 3 else (door.card, faces.photo)
        door.tap(card, frames, door.now)
        return
    turn, door.supervisor_taps = door.supervisor_taps, door.supervisor_taps + 1
    start = door.day + (turn // 2 % MAX_SIM_SESSIONS) * SESSION_EVERY
    at = start - timedelta(minutes=10) if turn % 2 == 0 else start + timedelta(hours=2)
    door.tap(door.card, faces.live, at)


def _steps(plan: SimulationPlan) -> Iterator[str]:
    if plan.forever:
        for tick in itertools.count():
            yield "heartbeat" if tick % plan.heartbeat_every == 0 else "attendance"
    yield from ["heartbeat"] * min(plan.heartbeats, 1)
    yield from ["attendance"] * plan.attendance
    yield from ["heartbeat"] * max(plan.heartbeats - 1, 0)


def astronaut() -> Frame:
    try:
        import skimage.data  # noqa: PLC0415 - only simulations need the sample images
    except ImportError:
        raise ConfigError(
            "simulated faces come from scikit-image's sample images; "
            "fix: pip install '.[agent,vision,sim]'"
        ) from None
    return np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]


def turned_head(image: Frame, amount: float) -> Frame:
    """The nose pushed sideways against the rest of the face: the parallax of a turning head."""
    from vision.images import sample_bilinear  # noqa: PLC0415

    grid_y, grid_x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    bump = np.exp(-((grid_x - NOSE[0]) ** 2 + (grid_y - NOSE[1]) ** 2) / 25.0**2)
    warped = sample_bilinear(image, grid_x - 6.0 * amount * bump, grid_y)
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8)


def read_credentials(path: Path | None) -> dict[str, str]:
    """`device_id password` per line; blank lines and # comments are ignored."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read credentials {path}: {error.strerror}") from None
    credentials = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{number}: expected 'device_id password'")
        credentials[parts[0]] = parts[1]
    return credentials
