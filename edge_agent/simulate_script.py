"""Scripted people at provisioned door stations: what `make demo` plays.

`edge-agent simulate --script FILE` opens real door stations that were provisioned like real
ones (their own key, the coordinator's signing keys trusted), waits until each holds a bundle
from the coordinator, and plays the script's taps on the real clock. A station never reads the
script: it only knows its bundle. The shared simulated hardware is in `edge_agent/simulate.py`.
"""

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.errors import ConfigError
from edge_agent.hardware.base import Frame
from edge_agent.runtime import DEVICE_KEY_FILE, DoorAgent, load_door_profile
from edge_agent.simulate import (
    DeviceReport,
    Faces,
    SimulatedDoor,
    SimulationPlan,
    astronaut,
    device_config,
    report,
    turned_head,
)
from edge_agent.stations.door import FaceVerifier
from protocols.ids import NAME_PATTERN
from vision import FacePipeline

log = logging.getLogger(__name__)

MAX_SCRIPT_BYTES = 1024 * 1024


DeviceId = Annotated[str, Field(pattern=NAME_PATTERN)]
PersonName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ScriptedPerson(BaseModel):
    """Someone the script makes tap: their card's UID as a reader gives it, and their face."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PersonName
    card: str = Field(pattern=r"^[0-9A-Fa-f: ]{4,64}$", description="Card UID, in hex.")
    face: Literal["astronaut"] = Field(
        default="astronaut", description="Which packaged face they show (skimage's sample)."
    )


class ScriptedTap(BaseModel):
    """`person` taps their card at `device`, `after_s` seconds after every device holds a
    bundle from the coordinator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: PersonName
    device: DeviceId
    after_s: float = Field(ge=0, le=24 * 3600, allow_inf_nan=False)


class SimulationScript(BaseModel):
    """What `edge-agent simulate --script FILE` plays: the devices (provisioned in `data_dir`,
    each with its key and trusted signing keys), the people, and their taps. `make demo`
    writes it from its seed; a station never reads it, it only knows its bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: DeviceId
    devices: list[DeviceId] = Field(min_length=1, max_length=500)
    people: list[ScriptedPerson] = Field(default_factory=list, max_length=1000)
    taps: list[ScriptedTap] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _taps_name_known_people_and_devices(self) -> "SimulationScript":
        if len(set(self.devices)) != len(self.devices):
            raise ValueError("devices: a device is listed twice")
        names = [person.name for person in self.people]
        if len(set(names)) != len(names):
            raise ValueError("people: two people have the same name")
        for number, tap in enumerate(self.taps, start=1):
            if tap.person not in names:
                raise ValueError(f"taps[{number}]: {tap.person!r} is not in people")
            if tap.device not in self.devices:
                raise ValueError(f"taps[{number}]: {tap.device!r} is not in devices")
        return self

    def person(self, name: str) -> ScriptedPerson:
        return next(person for person in self.people if person.name == name)


def load_script(path: Path) -> SimulationScript:
    """The script file, checked; a clear ConfigError for anything unreadable or wrong."""
    try:
        with path.open("rb") as file:
            text = file.read(MAX_SCRIPT_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read script {path}: {error.strerror}") from None
    if len(text) > MAX_SCRIPT_BYTES:
        raise ConfigError(f"script {path} is larger than {MAX_SCRIPT_BYTES} bytes")
    try:
        return SimulationScript.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "script"
        raise ConfigError(f"script {path}: {where}: {first['msg']}") from None


def enrolment_photos() -> list[Frame]:
    """Photos of the scripted face to enrol at the coordinator: the portrait and two turns."""
    portrait = astronaut()
    return [portrait, turned_head(portrait, 0.6), turned_head(portrait, -0.8)]


def run_script(
    plan: SimulationPlan,
    script: SimulationScript,
    stop: threading.Event,
    *,
    bundle_timeout_s: float = 120,
    drain_timeout_s: float = 30,
) -> list[DeviceReport]:
    """Open the script's provisioned devices, wait for their bundles from the coordinator, play
    the taps on the real clock, then (with `plan.forever`) keep sending heartbeats until stopped."""
    profile = load_door_profile(device_config(plan, script.devices[0]))
    pipeline = FacePipeline(settings=profile.vision_settings())  # one thread serves all devices
    faces = Faces.load(pipeline, profile.thresholds.frames_per_attempt)
    doors: dict[str, SimulatedDoor] = {}
    try:
        for device_id in script.devices:
            doors[device_id] = _open_provisioned_door(plan, device_id, pipeline)
        if not _wait_for_bundles(list(doors.values()), stop, bundle_timeout_s):
            return [report(door) for door in doors.values()]
        _play_script(plan, script, doors, faces, stop)
        for door in doors.values():
            assert door.agent.uplink is not None
            door.agent.uplink.wait_drained(drain_timeout_s)
        return [report(door) for door in doors.values()]
    finally:
        for door in doors.values():
            door.app.stop()


def _open_provisioned_door(
    plan: SimulationPlan, device_id: str, verifier: FaceVerifier
) -> SimulatedDoor:
    config = device_config(plan, device_id)
    key_path = config.data_dir / DEVICE_KEY_FILE
    if not key_path.exists():
        raise ConfigError(
            f"device {device_id} is not provisioned: no key at {key_path}; make one with "
            f"`edge-agent keys init --key-file {key_path}` and register its public key"
        )
    agent = DoorAgent(config, load_door_profile(config), make_verifier=lambda _: verifier)
    now = datetime.now(UTC)
    door = SimulatedDoor(agent, agent.app(), card="", day=now, now=now)
    door.app.start()
    return door


def _wait_for_bundles(doors: list[SimulatedDoor], stop: threading.Event, timeout_s: float) -> bool:
    """Until every device holds a bundle the downlink applied; False if stopped or timed out."""
    deadline = time.monotonic() + timeout_s
    waiting = {door.device_id for door in doors}
    while waiting and not stop.is_set():
        for door in doors:
            version = door.agent.current_book().version
            if door.device_id in waiting and version is not None:
                log.info("%s: serving bundle v%d from the coordinator", door.device_id, version)
                waiting.discard(door.device_id)
        if time.monotonic() > deadline:
            raise ConfigError(
                f"no bundle from the coordinator within {timeout_s:.0f} s for "
                f"{', '.join(sorted(waiting))}: is the device registered with its public key, "
                "and does its store trust the signing key? (GET /api/v1/sync says)"
            )
        stop.wait(0.2)
    return not waiting


def _play_script(
    plan: SimulationPlan,
    script: SimulationScript,
    doors: dict[str, SimulatedDoor],
    faces: Faces,
    stop: threading.Event,
) -> None:
    """Each tap at its time, heartbeats every `heartbeat_every` intervals, until the last tap
    (or, with `forever`, until stopped)."""
    started = time.monotonic()
    heartbeat_every_s = max(plan.interval_s * plan.heartbeat_every, 1.0)
    next_heartbeat = started
    pending = sorted(script.taps, key=lambda tap: tap.after_s)
    while not stop.is_set() and (pending or plan.forever):
        now = time.monotonic()
        if now >= next_heartbeat:
            for door in doors.values():
                door.agent.send_heartbeat()
                door.recorded += 1
            next_heartbeat = now + heartbeat_every_s
        while pending and started + pending[0].after_s <= now:
            tap = pending.pop(0)
            person = script.person(tap.person)
            log.info("%s taps at %s", person.name, tap.device)
            doors[tap.device].tap(person.card, faces.live, datetime.now(UTC))
        wake = min([next_heartbeat] + [started + tap.after_s for tap in pending[:1]])
        stop.wait(max(wake - time.monotonic(), 0.0))
