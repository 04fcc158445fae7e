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
from pathlib import Path
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
from edge_agent.hardware.errors import DriverUnavailableError, HardwareError
from edge_agent.hardware.fakes import FakeCamera, FakeCardReader, FakeLocation, FakeQrScanner
from edge_agent.hardware.tamper import (
    CameraWatch,
    DoorWatch,
    TamperMonitor,
    load_or_take_reference,
)
from edge_agent.profile import DoorStationProfile, GateStationProfile
from edge_agent.profile_parts import (
    CameraQr,
    EvdevQr,
    EvdevReader,
    FakeCameraConfig,
    FakeLocationConfig,
    FakeQrConfig,
    FakeReaderConfig,
    FilesCamera,
    FixedLocation,
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
        if self.pin_factory is not None:
            factory, self.pin_factory = self.pin_factory, None
            factory.close()  # releases the pins (and, on a Pi, the GPIO chip)

    def __enter__(self) -> StationParts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class PartCheck:
    """What `probe_parts` found for one part: opened (with the driver), or why not and the fix."""

    part: str
    is_ok: bool
    detail: str


Opener = Callable[[StationParts], None]


def build_parts(profile: AnyProfile, *, clock: Clock | None = None) -> StationParts:
    """Open the profile's parts in order (inputs, then outputs); on a failure, close those
    already open and raise the part's HardwareError."""
    parts = StationParts()
    try:
        for _, open_part in _openers(profile, clock):
            open_part(parts)
    except BaseException:
        parts.close()
        raise
    return parts


def probe_parts(profile: AnyProfile) -> list[PartCheck]:
    """Open each part on its own and close it again, so that a technician (`edge-agent doctor`)
    sees every problem at once instead of the first; GPIO parts are skipped when the pin factory
    itself cannot start."""
    checks: list[PartCheck] = []
    with StationParts() as parts:
        for name, open_part in _openers(profile, None):
            if name.startswith("pins.") and not _pin_factory_ok(checks):
                checks.append(PartCheck(name, False, "not checked: the pin factory did not start"))
                continue
            before = len(parts._opened)
            try:
                open_part(parts)
            except (HardwareError, OSError, ValueError) as error:
                checks.append(PartCheck(name, False, str(error)))
                continue
            checks.append(PartCheck(name, True, _driver_name(parts, parts._opened[before:])))
    return checks


def _driver_name(parts: StationParts, opened: list[Part]) -> str:
    if opened:
        return type(opened[0]).__name__
    if parts.pin_factory is None:
        return "gpiozero's default pin factory (chosen when the first pin opens)"
    return type(parts.pin_factory).__name__


def _pin_factory_ok(checks: list[PartCheck]) -> bool:
    return all(check.is_ok for check in checks if check.part == "pins.pin_factory")


def _openers(profile: AnyProfile, clock: Clock | None) -> list[tuple[str, Opener]]:
    """Each part's name and how to open it into `parts`, in start order."""
    sections: list[tuple[str, Any, dict[type, Maker]]] = [
        ("location", profile.location, LOCATIONS),
        ("camera", profile.camera, CAMERAS),
        ("reader", profile.reader, READERS),
    ]
    openers = [
        (name, _section_opener(name, config, table, profile))
        for name, config, table in sections
        if config is not None
    ]
    if isinstance(profile, GateStationProfile):
        openers.append(("qr", lambda parts: _add(parts, "qr", _qr_scanner(profile, parts.camera))))
    return openers + _gpio_openers(profile, clock)


def _section_opener(
    name: str, config: Any, table: dict[type, Maker], profile: AnyProfile
) -> Opener:
    return lambda parts: _add(parts, name, table[type(config)](config, profile))


def _add(parts: StationParts, name: str, part: Any) -> None:
    setattr(parts, name, parts._keep(part))


def _qr_scanner(profile: GateStationProfile, camera: Camera | None) -> QrScanner:
    if isinstance(profile.qr, CameraQr):
        if camera is None:
            raise HardwareError("qr.driver camera needs the camera, which did not open")
        # The scanner reads the station's camera, so it is built from that part, not a section.
        try:
            qr_camera = importlib.import_module("edge_agent.hardware.qr_camera")
            for decoder, module in (("zxing", "zxingcpp"), ("pyzbar", "pyzbar")):
                if decoder in profile.qr.decoder:  # "zxing+pyzbar" needs both
                    importlib.import_module(module)
        except ImportError as error:
            raise DriverUnavailableError(
                "camera QR scanner",
                f"{error.name}",
                "fix: pip install '.[agent]' (zxing-cpp; pyzbar also needs Debian's libzbar0), "
                "or use a USB HID scanner (qr.driver: evdev)",
            ) from None
        scanner = qr_camera.CameraQrScanner(camera, decoder=qr_camera.QrDecoder(profile.qr.decoder))
        return scanner  # type: ignore[no-any-return]
    return QR_SCANNERS[type(profile.qr)](profile.qr, profile)  # type: ignore[no-any-return]


def _gpio_openers(profile: AnyProfile, clock: Clock | None) -> list[tuple[str, Opener]]:
    gpio = importlib.import_module("edge_agent.hardware.gpio")
    pins = profile.pins

    def pin_factory(parts: StationParts) -> None:
        parts.pin_factory = gpio.make_pin_factory(pins.pin_factory)

    openers: list[tuple[str, Opener]] = [("pins.pin_factory", pin_factory)]
    if (relay := pins.relay) is not None:
        openers.append(
            ("pins.relay", lambda p: _add(p, "relay", gpio.GpioDoorRelay(relay, p.pin_factory)))
        )
    for colour, pin in pins.leds.lamps().items():
        openers.append(
            (f"pins.leds.{colour}", _led_opener(gpio, pin, colour, pins.leds.active_high))
        )
    if (buzzer := pins.buzzer) is not None:
        openers.append(
            (
                "pins.buzzer",
                lambda p: _add(p, "buzzer", gpio.GpioBuzzerPart(buzzer, p.pin_factory, clock)),
            )
        )
    if (contact := pins.door_contact) is not None:
        openers.append(
            (
                "pins.door_contact",
                lambda p: _add(p, "door_contact", gpio.GpioDoorContact(contact, p.pin_factory)),
            )
        )
    return openers


def _led_opener(gpio: Any, pin: int, colour: str, active_high: bool) -> Opener:
    def open_led(parts: StationParts) -> None:
        led = gpio.GpioStatusLed(
            pin, colour=colour, active_high=active_high, pin_factory=parts.pin_factory
        )
        parts.leds[colour] = parts._keep(led)

    return open_led


def tamper_monitor(
    parts: StationParts,
    profile: AnyProfile,
    *,
    reference_path: Path,
    clock: Clock | None = None,
    camera_every_s: float = 60.0,
) -> TamperMonitor:
    """The tamper watches for a station built from `profile`, as its features ask.

    The camera reference is read from `reference_path` (under the agent's data folder), or
    taken on this first start and saved there.
    """
    door = None
    if profile.features.door_tamper and parts.door_contact is not None:
        door = DoorWatch(
            parts.door_contact, held_open_after_s=profile.thresholds.door_held_open_s, clock=clock
        )
    camera_watch = None
    if profile.features.camera_tamper and parts.camera is not None:
        reference = load_or_take_reference(reference_path, parts.camera)
        camera_watch = CameraWatch(reference, clock=clock)
    return TamperMonitor(
        door=door,
        camera=parts.camera,
        camera_watch=camera_watch,
        camera_every_s=camera_every_s,
        clock=clock,
    )
