"""Building a station's parts from its firmware profile, as gpiozero builds devices on a pin
factory. Each driver is one row of a table from its profile section to its constructor, so a
new driver is one class and one row. Real drivers' modules are imported only when a profile
names them: a Pi without evdev or OpenCV can still run a profile that does not use them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.hardware.base import (
    Buzzer,
    Camera,
    CardReader,
    Clock,
    DoorContact,
    DoorRelay,
    FixSource,
    LocationSource,
    Part,
    Position,
    QrScanner,
    StatusLed,
)
from edge_agent.hardware.errors import DriverUnavailableError
from edge_agent.hardware.fakes import FakeCamera, FakeCardReader, FakeLocation, FakeQrScanner
from edge_agent.profile import (
    DoorStationProfile,
    EvdevQr,
    EvdevReader,
    FakeCameraConfig,
    FakeLocationConfig,
    FakeQrConfig,
    FakeReaderConfig,
    FilesCamera,
    FixedLocation,
    GateStationProfile,
    GpsdLocation,
    NmeaLocation,
    OpenCvCamera,
    Picamera2Camera,
    SerialReader,
)

log = logging.getLogger(__name__)

AnyProfile = DoorStationProfile | GateStationProfile


Maker = Callable[[Any, AnyProfile], Any]


def _lazy(module: str, name: str, package: str) -> Maker:
    """A maker that imports the driver's module when first used, and calls it with the
    profile section; a missing library says what to install."""

    def make(config: Any, profile: AnyProfile) -> Any:
        try:
            driver = getattr(importlib.import_module(f"edge_agent.hardware.{module}"), name)
        except ImportError as error:
            raise DriverUnavailableError(
                name, package, f"fix: pip install '.[agent]' ({error.name} is missing)"
            ) from None
        if isinstance(config, FilesCamera):  # its path is relative to the profile's folder
            return driver(config, profile.resolve(config.path))
        return driver(config)

    return make


def _fake_camera(config: FakeCameraConfig, profile: AnyProfile) -> FakeCamera:
    # Mid-grey until a simulation scripts faces: a black frame would read as a covered camera.
    return FakeCamera([np.full((config.height, config.width, 3), 128, dtype=np.uint8)])


def _fake_location(config: FakeLocationConfig, profile: AnyProfile) -> FakeLocation:
    return FakeLocation(Position(config.latitude, config.longitude, 5.0, FixSource.GNSS))


# Profile section type -> maker. A new driver is a class and one row here.
CAMERAS: dict[type, Maker] = {
    Picamera2Camera: _lazy("cameras", "Picamera2CameraDriver", "picamera2"),
    OpenCvCamera: _lazy("cameras", "OpenCvCameraDriver", "opencv-python-headless"),
    FilesCamera: _lazy("cameras", "FilesCameraDriver", "opencv-python-headless"),
    FakeCameraConfig: _fake_camera,
}
READERS: dict[type, Maker] = {
    EvdevReader: _lazy("evdev_input", "EvdevCardReader", "evdev"),
    SerialReader: _lazy("serial_input", "SerialCardReader", "pyserial"),
    FakeReaderConfig: lambda config, profile: FakeCardReader(),
}
QR_SCANNERS: dict[type, Maker] = {
    EvdevQr: _lazy("evdev_input", "EvdevQrScanner", "evdev"),
    FakeQrConfig: lambda config, profile: FakeQrScanner(),
}
LOCATIONS: dict[type, Maker] = {
    FixedLocation: _lazy("location", "FixedLocationSource", "nothing extra"),
    NmeaLocation: _lazy("serial_input", "NmeaLocationSource", "pyserial and pynmea2"),
    GpsdLocation: _lazy("gpsd", "GpsdLocationSource", "nothing extra"),
    FakeLocationConfig: _fake_location,
}


@dataclass
class StationParts:
    """Every part a station was built with; closes them in the reverse of the order opened.

    `pin_factory` is the gpiozero factory the GPIO parts share: with `pin_factory: mock` it is a
    MockFactory, whose `pin(n)` gives the simulated pin to drive or inspect.
    """

    location: LocationSource | None = None
    camera: Camera | None = None
    reader: CardReader | None = None
    qr: QrScanner | None = None
    relay: DoorRelay | None = None
    leds: dict[str, StatusLed] = field(default_factory=dict)
    buzzer: Buzzer | None = None
    door_contact: DoorContact | None = None
    pin_factory: Any = None
    _opened: list[Part] = field(default_factory=list, repr=False)

    def _keep(self, part: Any) -> Any:
        self._opened.append(part)
        return part

    def all_parts(self) -> Iterator[Part]:
        yield from self._opened

    def close(self) -> None:
        """Close every part, newest first; one failing part does not keep the rest open."""
        while self._opened:
            part = self._opened.pop()
            try:
                part.close()
            except Exception:
                log.exception("closing %s failed", type(part).__name__)

    def __enter__(self) -> StationParts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build_parts(profile: AnyProfile, *, clock: Clock | None = None) -> StationParts:
    """Open the profile's parts in order (inputs, then outputs); on a failure, close those
    already open and raise the part's HardwareError."""
    parts = StationParts()
    try:
        _open_inputs(parts, profile)
        _open_gpio(parts, profile, clock)
    except BaseException:
        parts.close()
        raise
    return parts


def _open_inputs(parts: StationParts, profile: AnyProfile) -> None:
    parts.location = parts._keep(LOCATIONS[type(profile.location)](profile.location, profile))
    if profile.camera is not None:
        parts.camera = parts._keep(CAMERAS[type(profile.camera)](profile.camera, profile))
    if profile.reader is not None:
        parts.reader = parts._keep(READERS[type(profile.reader)](profile.reader, profile))
    if isinstance(profile, GateStationProfile):
        parts.qr = parts._keep(_qr_scanner(profile, parts.camera))


def _qr_scanner(profile: GateStationProfile, camera: Camera | None) -> QrScanner:
    maker = QR_SCANNERS.get(type(profile.qr))
    if maker is None:
        raise DriverUnavailableError(
            "camera QR scanner",
            "a QR decoder",
            "this build reads QR passes with USB HID scanners (qr.driver: evdev) only",
        )
    return maker(profile.qr, profile)  # type: ignore[no-any-return]


def _open_gpio(parts: StationParts, profile: AnyProfile, clock: Clock | None) -> None:
    gpio = importlib.import_module("edge_agent.hardware.gpio")
    pins = profile.pins
    parts.pin_factory = factory = gpio.make_pin_factory(pins.pin_factory)
    if pins.relay is not None:
        parts.relay = parts._keep(gpio.GpioDoorRelay(pins.relay, factory))
    for colour, pin in pins.leds.lamps().items():
        led = gpio.GpioStatusLed(
            pin, colour=colour, active_high=pins.leds.active_high, pin_factory=factory
        )
        parts.leds[colour] = parts._keep(led)
    if pins.buzzer is not None:
        parts.buzzer = parts._keep(gpio.GpioBuzzerPart(pins.buzzer, factory, clock))
    if pins.door_contact is not None:
        parts.door_contact = parts._keep(gpio.GpioDoorContact(pins.door_contact, factory))
