"""Tamper watches: doors forced or held open, cameras covered or moved; on injected clocks."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.factory import build_parts, tamper_monitor
from edge_agent.hardware.fakes import FakeCamera, FakeDoorContact
from edge_agent.hardware.tamper import (
    CameraTamperLimits,
    CameraWatch,
    DoorWatch,
    SceneReference,
    TamperFinding,
    TamperKind,
    load_or_take_reference,
)
from edge_agent.profile import PROFILE_DIR, load_profile

Image = np.ndarray[Any, np.dtype[np.uint8]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def kinds(findings: list[TamperFinding]) -> list[TamperKind]:
    return [finding.kind for finding in findings]


def test_door_opened_without_a_grant_is_forced_and_told_at_once(clock: Clock) -> None:
    contact = FakeDoorContact()
    told: list[TamperFinding] = []
    watch = DoorWatch(contact, held_open_after_s=30, clock=clock, when_tampered=told.append)
    contact.open_door()
    assert kinds(told) == [TamperKind.DOOR_FORCED_OPEN]
    assert kinds(watch.poll()) == [TamperKind.DOOR_FORCED_OPEN]
    assert watch.poll() == []  # reported once


def test_door_opened_within_a_grant_is_not_forced(clock: Clock) -> None:
    contact = FakeDoorContact()
    watch = DoorWatch(contact, held_open_after_s=30, clock=clock)
    watch.grant(3)
    clock.now += 2.9
    contact.open_door()
    contact.shut_door()
    assert watch.poll() == []


def test_a_grant_expires_and_serves_one_passage(clock: Clock) -> None:
    contact = FakeDoorContact()
    watch = DoorWatch(contact, held_open_after_s=30, clock=clock)
    watch.grant(3)
    clock.now += 3.1
    contact.open_door()
    assert kinds(watch.poll()) == [TamperKind.DOOR_FORCED_OPEN]
    contact.shut_door()
    watch.grant(3)
    contact.open_door()
    contact.shut_door()
    contact.open_door()  # tailgating on the same grant
    assert kinds(watch.poll()) == [TamperKind.DOOR_FORCED_OPEN]


def test_door_held_open_past_the_limit_is_reported_once_per_opening(clock: Clock) -> None:
    contact = FakeDoorContact()
    told: list[TamperFinding] = []
    watch = DoorWatch(contact, held_open_after_s=30, clock=clock, when_tampered=told.append)
    watch.grant(3)
    contact.open_door()
    clock.now += 29.9
    assert watch.poll() == []
    clock.now += 0.2
    found = watch.poll()
    assert kinds(found) == [TamperKind.DOOR_HELD_OPEN] and kinds(told) == kinds(found)
    assert "30 s" in found[0].detail
    clock.now += 100
    assert watch.poll() == []
    contact.shut_door()
    watch.grant(3)
    contact.open_door()
    clock.now += 31
    assert kinds(watch.poll()) == [TamperKind.DOOR_HELD_OPEN]


def test_a_door_open_at_start_counts_from_then_and_is_not_forced(clock: Clock) -> None:
    watch = DoorWatch(FakeDoorContact(is_open=True), held_open_after_s=10, clock=clock)
    assert watch.poll() == []
    clock.now += 10
    assert kinds(watch.poll()) == [TamperKind.DOOR_HELD_OPEN]


# --- camera -------------------------------------------------------------------------------------


def scene(seed: int = 7, height: int = 480, width: int = 640) -> Image:
    """A room-like scene: a few large bright and dark blocks on a textured wall."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 140, (height, width, 3)).astype(np.float32)
    for _ in range(12):
        y, x = rng.integers(0, height - 80), rng.integers(0, width - 80)
        h, w = rng.integers(40, 200), rng.integers(40, 200)
        image[y : y + h, x : x + w] = rng.integers(0, 256, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def watch_with_reference(clock: Clock, frames_to_confirm: int = 3) -> CameraWatch:
    reference = SceneReference.take([scene(), scene()])
    return CameraWatch(
        reference, CameraTamperLimits(frames_to_confirm=frames_to_confirm), clock=clock
    )


def feed(watch: CameraWatch, frame: Image, times: int) -> list[TamperKind]:
    found: list[TamperKind] = []
    for _ in range(times):
        found += kinds(watch.check(frame))
    return found


def test_the_installed_scene_is_not_tampering_even_in_other_light(clock: Clock) -> None:
    watch = watch_with_reference(clock)
    darker = (scene().astype(np.float32) * 0.55).astype(np.uint8)
    noisy = np.clip(
        scene().astype(np.int16) + np.random.default_rng(1).integers(-12, 13, (480, 640, 3)),
        0,
        255,
    ).astype(np.uint8)
    for frame in (scene(), darker, noisy):
        assert feed(watch, frame, 5) == []
        assert watch.last_similarity is not None and watch.last_similarity > 0.6


@pytest.mark.parametrize(
    "cover",
    [
        np.zeros((480, 640, 3), dtype=np.uint8),  # lens taped over
        np.full((480, 640, 3), 200, dtype=np.uint8),  # a hand in front, lit: uniform
    ],
    ids=["dark", "uniform"],
)
def test_a_covered_camera_is_reported_after_the_frames_to_confirm(
    clock: Clock, cover: Image
) -> None:
    watch = watch_with_reference(clock)
    assert feed(watch, cover, 2) == []
    assert feed(watch, cover, 1) == [TamperKind.CAMERA_COVERED]
    assert feed(watch, cover, 10) == []  # once per episode
    feed(watch, scene(), 1)
    assert feed(watch, cover, 3) == [TamperKind.CAMERA_COVERED]


def test_a_moved_camera_is_reported_and_a_passer_by_is_not(clock: Clock) -> None:
    watch = watch_with_reference(clock)
    passer_by = scene().copy()
    passer_by[100:400, 250:400] = 60  # someone stands in part of the view for one frame
    assert feed(watch, passer_by, 1) == []
    assert feed(watch, scene(), 1) == []
    turned = np.roll(scene(), 160, axis=1)  # camera turned sideways
    assert feed(watch, turned, 3) == [TamperKind.CAMERA_MOVED]
    assert watch.last_similarity is not None and watch.last_similarity < 0.45
    elsewhere = scene(seed=99)  # camera taken to another room
    assert feed(watch, elsewhere, 5) == []  # the same episode: not reported twice


def test_without_a_reference_only_covering_is_checked(clock: Clock) -> None:
    watch = CameraWatch(None, CameraTamperLimits(frames_to_confirm=1), clock=clock)
    assert feed(watch, scene(seed=99), 3) == []
    assert feed(watch, np.zeros((480, 640, 3), dtype=np.uint8), 1) == [TamperKind.CAMERA_COVERED]


def test_the_reference_survives_saving_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    reference = SceneReference.take([scene()])
    reference.save(tmp_path / "scene.npy")
    loaded = SceneReference.load(tmp_path / "scene.npy")
    assert np.array_equal(loaded.signature, reference.signature)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(HardwareError, match="take a new one"):
        SceneReference.load(tmp_path / "bad.npy")
    np.save(tmp_path / "nan.npy", np.full((48, 64), np.nan, dtype=np.float32))
    with pytest.raises(HardwareError, match="damaged"):
        SceneReference.load(tmp_path / "nan.npy")


def test_a_tiny_frame_is_refused_clearly(clock: Clock) -> None:
    with pytest.raises(HardwareError, match="too small"):
        CameraWatch(None, clock=clock).check(np.zeros((10, 10, 3), dtype=np.uint8))


def test_the_reference_is_taken_on_first_start_and_kept_after(tmp_path: Path) -> None:
    path = tmp_path / "state" / "camera-reference.npy"
    camera = FakeCamera([scene()])
    first = load_or_take_reference(path, camera)
    assert path.exists() and camera.captured == 5
    camera.show(scene(seed=99))  # the camera was moved later: the old reference is kept
    again = load_or_take_reference(path, camera)
    assert np.array_equal(again.signature, first.signature) and camera.captured == 5


def test_the_monitor_polls_the_door_and_checks_the_camera_at_its_interval(
    clock: Clock, tmp_path: Path
) -> None:
    with build_parts(load_profile("door-station-sim"), clock=clock) as parts:
        assert isinstance(parts.camera, FakeCamera) and parts.door_contact is not None
        parts.camera.show(scene())
        monitor = tamper_monitor(
            parts,
            load_profile("door-station-sim"),
            reference_path=tmp_path / "reference.npy",
            clock=clock,
            camera_every_s=60,
        )
        parts.camera.show(np.zeros((480, 640, 3), dtype=np.uint8))  # covered after install
        pin = parts.pin_factory.pin(24)
        pin.drive_low()  # door shut
        monitor.grant(3)
        pin.drive_high()  # opened within the grant, and shut again
        pin.drive_low()
        found: list[TamperKind] = []
        for _ in range(3):  # three checks a minute apart confirm the cover
            found += kinds(monitor.poll())
            clock.now += 60
        assert found == [TamperKind.CAMERA_COVERED]
        assert parts.camera.captured == 5 + 3  # reference burst, then one frame a minute
        pin.drive_high()  # opened with no grant
        assert kinds(monitor.poll()) == [TamperKind.DOOR_FORCED_OPEN]
        clock.now += 30  # door_held_open_s of the sim profile
        assert kinds(monitor.poll()) == [TamperKind.DOOR_HELD_OPEN]


def test_features_switch_the_watches_off(clock: Clock, tmp_path: Path) -> None:
    text = (PROFILE_DIR / "door-station-sim.yaml").read_text()
    text = text.replace("camera_tamper: true", "camera_tamper: false").replace(
        "door_tamper: true", "door_tamper: false"
    )
    (tmp_path / "door-station-sim.yaml").write_text(text)
    profile = load_profile(tmp_path / "door-station-sim.yaml")
    with build_parts(profile, clock=clock) as parts:
        monitor = tamper_monitor(parts, profile, reference_path=tmp_path / "r.npy", clock=clock)
        assert monitor.door is None and monitor.camera_watch is None
        assert monitor.poll() == [] and not (tmp_path / "r.npy").exists()
