"""Building a station's parts from its profile: the simulated profile fully, the Pi profiles
as far as this machine has their hardware, and failures that name the part and the fix."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge_agent.hardware.errors import DriverUnavailableError, HardwareError
from edge_agent.hardware.factory import build_parts, probe_parts
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


@pytest.mark.filterwarnings("ignore::gpiozero.PinFactoryFallback")
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


def gate_without_hardware(tmp_path: Path, qr: dict[str, Any]) -> Path:
    """gate-station-pi5 with simulated pins, camera, reader and location, and the given QR."""
    raw = yaml.safe_load((PROFILE_DIR / "gate-station-pi5.yaml").read_text())
    raw["pins"]["pin_factory"] = "mock"
    raw["camera"] = {"driver": "fake"}
    raw["reader"] = {"driver": "fake"}
    raw["location"] = {"driver": "fixed", "latitude": 1, "longitude": 2}
    raw["qr"] = qr
    path = tmp_path / "gate-station-pi5.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_gate_reads_passes_from_a_hid_scanner(tmp_path: Path) -> None:
    hid = {"driver": "evdev", "device": "/dev/input/by-id/campus-qr-scanner-event-kbd"}
    with pytest.raises(HardwareError, match=r"campus-qr-scanner.*input group"):
        build_parts(load_profile(gate_without_hardware(tmp_path, hid)))  # not plugged in here
    with build_parts(load_profile(gate_without_hardware(tmp_path, {"driver": "fake"}))) as parts:
        assert parts.qr is not None and parts.camera is not None


def test_a_gate_reads_passes_from_its_camera_by_the_profile_decoder(tmp_path: Path) -> None:
    from edge_agent.hardware.qr_camera import CameraQrScanner, QrDecoder

    profile = load_profile(gate_without_hardware(tmp_path, {"driver": "camera"}))
    with build_parts(profile) as parts:
        assert isinstance(parts.qr, CameraQrScanner)
        assert parts.qr.camera is parts.camera
        assert parts.qr.decoder is QrDecoder(profile.qr.decoder)  # type: ignore[union-attr]
        assert parts.qr.read(0) is None  # a grey frame holds no code


def test_probe_opens_every_simulated_part() -> None:
    checks = probe_parts(load_profile("door-station-sim"))
    assert [check.part for check in checks] == [
        "location",
        "camera",
        "reader",
        "pins.pin_factory",
        "pins.relay",
        "pins.leds.green",
        "pins.leds.red",
        "pins.leds.amber",
        "pins.buzzer",
        "pins.door_contact",
    ]
    assert all(check.is_ok for check in checks), checks
    assert {c.part: c.detail for c in checks}["pins.relay"] == "GpioDoorRelay"


@pytest.mark.filterwarnings("ignore::gpiozero.PinFactoryFallback")  # no Pi here: expected
def test_probe_reports_every_missing_part_with_its_fix() -> None:
    checks = {check.part: check for check in probe_parts(load_profile("door-station-pi4"))}
    # None of the Pi 4's devices exist on this machine: each is reported, not just the first.
    assert "systemctl status gpsd" in checks["location"].detail
    assert "python3-picamera2" in checks["camera"].detail
    assert "input group" in checks["reader"].detail
    assert not any(check.is_ok for name, check in checks.items() if name != "pins.pin_factory")
    assert "pins.relay" in checks["pins.relay"].detail
