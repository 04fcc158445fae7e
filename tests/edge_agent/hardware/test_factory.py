"""Building a station's parts from its profile: the simulated profile fully, the Pi profiles
as far as this machine has their hardware, and failures that name the part and the fix."""

from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.hardware.errors import DriverUnavailableError, HardwareError
from edge_agent.hardware.factory import build_parts
from edge_agent.hardware.fakes import FakeCamera, FakeCardReader, FakeLocation
from edge_agent.profile import PROFILE_DIR, load_profile

SIM = (PROFILE_DIR / "door-station-sim.yaml").read_text()


def test_the_simulated_door_station_is_built_on_gpiozero_mock_pins() -> None:
    with build_parts(load_profile("door-station-sim")) as parts:
        assert isinstance(parts.pin_factory, MockFactory)
        assert isinstance(parts.camera, FakeCamera)
        assert isinstance(parts.reader, FakeCardReader)
        assert isinstance(parts.location, FakeLocation)
        assert set(parts.leds) == {"green", "red", "amber"}
        assert parts.relay is not None and parts.buzzer is not None
        assert parts.door_contact is not None
        parts.relay.unlock()
        assert parts.pin_factory.pin(17).state is True  # fail-secure strike on GPIO 17
        parts.leds["red"].on()
        assert parts.pin_factory.pin(27).state is True
        frame = parts.camera.capture()
        assert frame.shape == (480, 640, 3) and frame.std() == 0 and frame.mean() == 128
        position = parts.location.read(0)
        assert position is not None and position.latitude == pytest.approx(48.2082)
    # Closed: the pins are released and may be claimed again.
    assert list(parts.all_parts()) == []


def test_files_camera_paths_are_read_from_the_profile_folder(tmp_path: Path) -> None:
    import cv2

    (tmp_path / "frames").mkdir()
    picture = np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "frames" / "a.png"), picture)
    text = SIM.replace("camera:\n  driver: fake\n", "camera:\n  driver: files\n  path: frames\n")
    (tmp_path / "door-station-sim.yaml").write_text(text)
    with build_parts(load_profile(tmp_path / "door-station-sim.yaml")) as parts:
        assert parts.camera is not None
        frame = parts.camera.capture()
        assert frame.shape == (480, 640, 3)  # resized to the profile's size


def test_the_pi4_profile_stops_at_its_first_missing_part_and_says_why() -> None:
    # gpsd is not running on this machine (and picamera2 exists only on a Pi).
    with pytest.raises(HardwareError, match=r"gpsd.*fix:"):
        build_parts(load_profile("door-station-pi4"))


def test_a_failing_part_closes_those_already_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    monkeypatch.setattr(FakeLocation, "close", lambda self: closed.append("location"))
    monkeypatch.setattr(FakeCamera, "close", lambda self: closed.append("camera"))
    text = SIM.replace(
        "reader:\n  driver: fake\n",
        "reader:\n  driver: serial\n  port: /dev/ttyNONEXISTENT\n",
    )
    (tmp_path / "door-station-sim.yaml").write_text(text)
    profile = load_profile(tmp_path / "door-station-sim.yaml")
    with pytest.raises(HardwareError, match=r"/dev/ttyNONEXISTENT.*dialout"):
        build_parts(profile)
    assert closed == ["camera", "location"]  # newest first


def test_picamera2_missing_says_how_to_get_it(tmp_path: Path) -> None:
    text = SIM.replace("camera:\n  driver: fake\n", "camera:\n  driver: picamera2\n")
    (tmp_path / "door-station-sim.yaml").write_text(text)
    with pytest.raises(DriverUnavailableError, match="python3-picamera2"):
        build_parts(load_profile(tmp_path / "door-station-sim.yaml"))
