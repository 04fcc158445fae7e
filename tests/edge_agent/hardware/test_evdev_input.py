"""The evdev drivers against a stand-in input device: this machine has no /dev/uinput, so the
kernel side is replaced by a pipe that select() sees, and real evdev events are delivered."""

import os
from pathlib import Path
from typing import Any, ClassVar

import evdev
import pytest

from edge_agent.hardware import evdev_input
from edge_agent.hardware.errors import HardwareError
from edge_agent.profile_parts import EvdevQr, EvdevReader, UidFormat

DEVICE = Path("/dev/input/by-id/test-wedge-event-kbd")


class StandInDevice:
    """What evdev.InputDevice offers the driver: fd, grab/ungrab, read, close."""

    instances: ClassVar[list["StandInDevice"]] = []
    refuse_grab = False

    def __init__(self, path: str) -> None:
        if not path.startswith("/dev/input/"):
            raise FileNotFoundError(2, "No such file or directory")
        self.path = path
        self._read_end, self._write_end = os.pipe()
        self.fd = self._read_end
        self.events: list[evdev.InputEvent] = []
        self.grabbed = self.closed = False
        StandInDevice.instances.append(self)

    def grab(self) -> None:
        if StandInDevice.refuse_grab:
            raise OSError(16, "Device or resource busy")
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def type(self, text: str) -> None:
        """Key events as a wedge types them: shift held for capitals, Enter at the end."""
        for char in [*text, "\n"]:
            name = "KEY_ENTER" if char == "\n" else f"KEY_{char.upper()}"
            keys = [("KEY_LEFTSHIFT", 1), (name, 1), (name, 0), ("KEY_LEFTSHIFT", 0)]
            for key, value in keys if char.isupper() else keys[1:3]:
                code = evdev.ecodes.ecodes[key]
                self.events.append(evdev.InputEvent(0, 0, evdev.ecodes.EV_KEY, code, value))
                self.events.append(evdev.InputEvent(0, 0, evdev.ecodes.EV_SYN, 0, 0))
        os.write(self._write_end, b"x")

    def read(self) -> list[evdev.InputEvent]:
        if not self.events:
            raise BlockingIOError
        os.read(self._read_end, 1024)
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        self.closed = True
        os.close(self._read_end)
        os.close(self._write_end)


@pytest.fixture(autouse=True)
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Any:
    StandInDevice.instances, StandInDevice.refuse_grab = [], False
    monkeypatch.setattr(evdev, "InputDevice", StandInDevice)  # the module the driver uses
    return StandInDevice


def test_the_reader_grabs_its_device_and_reads_typed_uids() -> None:
    reader = evdev_input.EvdevCardReader(EvdevReader(driver="evdev", device=DEVICE))
    device = StandInDevice.instances[0]
    assert device.grabbed
    assert reader.read(0.01) is None
    device.type("04a1b2c3")
    assert reader.read(5) == "04A1B2C3"
    device.type("nonsense")  # not hex: logged and dropped
    assert reader.read(0.05) is None
    reader.close()
    assert not device.grabbed and device.closed


def test_decimal_readers_are_converted_to_hex() -> None:
    config = EvdevReader(driver="evdev", device=DEVICE, uid_format=UidFormat.DECIMAL)
    reader = evdev_input.EvdevCardReader(config)
    StandInDevice.instances[0].type("0011325123")
    assert reader.read(5) == "00ACCEC3"
    reader.close()


def test_the_qr_scanner_returns_the_typed_text() -> None:
    scanner = evdev_input.EvdevQrScanner(EvdevQr(driver="evdev", device=DEVICE))
    StandInDevice.instances[0].type("CP1abc")
    assert scanner.read(5) == "CP1abc"
    scanner.close()


def test_a_missing_device_and_a_held_grab_say_what_to_do() -> None:
    with pytest.raises(HardwareError, match=r"plugged in.*input group"):
        evdev_input.EvdevCardReader(EvdevReader(driver="evdev", device=Path("/nowhere")))
    StandInDevice.refuse_grab = True
    with pytest.raises(HardwareError, match="another program holds it"):
        evdev_input.EvdevCardReader(EvdevReader(driver="evdev", device=DEVICE))
    assert StandInDevice.instances[-1].closed
