"""The hardware parts of a firmware profile: GPIO pins, camera, card reader, QR scanner and
location, each a validated pydantic section (`extra="forbid"`), one class per driver.

`edge_agent/profile.py` puts them together with the thresholds into a station's profile.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# BCM numbers of the 40-pin header's GPIOs; 0 and 1 are the HAT EEPROM's I2C and stay free.
BcmPin = Annotated[
    int,
    Field(
        ge=2,
        le=27,
        description="BCM GPIO number (e.g. 17 for header pin 11); 0 and 1 are reserved for HATs.",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]


def _printable(value: Any) -> Any:
    # A NUL in a device path would reach open() as "embedded null byte" (a ValueError, not the
    # OSError drivers report); refuse it, and other control characters, here.
    if any(ord(char) < 32 or ord(char) == 127 for char in str(value)):
        raise ValueError("must not contain control characters (NUL, newline, ...)")
    return value


DeviceName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]


def _sized(path: Path) -> Path:
    if not 0 < len(str(path)) <= 4096 or str(path) == ".":
        raise ValueError("must be a path of 1 to 4096 characters")
    return path


DevicePath = Annotated[Path, AfterValidator(_printable), AfterValidator(_sized)]

# Where each BCM GPIO is on the 40-pin header (Pi 2 and later, Pi 4 and Pi 5 alike).
HEADER_PIN = {
    2: 3, 3: 5, 4: 7, 5: 29, 6: 31, 7: 26, 8: 24, 9: 21, 10: 19, 11: 23, 12: 32, 13: 33,
    14: 8, 15: 10, 16: 36, 17: 11, 18: 12, 19: 35, 20: 38, 21: 40, 22: 15, 23: 16, 24: 18,
    25: 22, 26: 37, 27: 13,
}  # fmt: skip


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- GPIO ---------------------------------------------------------------------------------------


class PinFactory(StrEnum):
    """gpiozero's pin factory: `default` lets gpiozero choose (lgpio on Bookworm).

    `mock` is gpiozero's MockFactory: simulated pins that record their states.
    """

    DEFAULT = "default"
    LGPIO = "lgpio"
    RPIGPIO = "rpigpio"
    PIGPIO = "pigpio"
    MOCK = "mock"


class LockWiring(StrEnum):
    """Fail-safe locks (maglocks) open when power is lost; fail-secure strikes stay locked."""

    FAIL_SAFE = "fail_safe"
    FAIL_SECURE = "fail_secure"


class RelayPins(Section):
    """The door relay."""

    pin: BcmPin
    active_high: bool = Field(
        default=True, description="True if the relay board energises its coil on a high pin."
    )
    lock: LockWiring = Field(description="fail_safe: energised = locked; fail_secure: the reverse.")
    pulse_s: Seconds = Field(default=3.0, le=30, description="How long a granted door unlocks.")


class LedPins(Section):
    """Status lamps by colour; at least one."""

    green: BcmPin | None = None
    red: BcmPin | None = None
    amber: BcmPin | None = None
    active_high: bool = True

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not self.lamps():
            raise ValueError("give at least one of green, red, amber")
        return self

    def lamps(self) -> dict[str, int]:
        named = {"green": self.green, "red": self.red, "amber": self.amber}
        return {colour: pin for colour, pin in named.items() if pin is not None}


class BuzzerPin(Section):
    pin: BcmPin
    active_high: bool = True


class DoorContactPin(Section):
    """A reed switch between the pin and ground, closed while the door is shut."""

    pin: BcmPin
    pull_up: bool = Field(default=True, description="Use the Pi's internal pull-up resistor.")
    open_is_active: bool = Field(
        default=False,
        description="True for a switch that closes when the door opens (normally open contact).",
    )
    bounce_s: float = Field(default=0.05, ge=0, le=1, description="Debounce time.")


class Pins(Section):
    """Every GPIO the station drives or reads. No pin may be used twice."""

    pin_factory: PinFactory = PinFactory.DEFAULT
    relay: RelayPins | None = None
    leds: LedPins
    buzzer: BuzzerPin | None = None
    door_contact: DoorContactPin | None = None

    @model_validator(mode="after")
    def _each_pin_once(self) -> Self:
        seen: dict[int, str] = {}
        for use, pin in self.uses().items():
            if pin in seen:
                raise ValueError(f"GPIO {pin} is used by both {seen[pin]} and {use}")
            seen[pin] = use
        return self

    def uses(self) -> dict[str, int]:
        """Each pin by what it drives, e.g. {"relay": 17, "leds.green": 22}."""
        uses = {f"leds.{colour}": pin for colour, pin in self.leds.lamps().items()}
        for name, part in (
            ("relay", self.relay),
            ("buzzer", self.buzzer),
            ("door_contact", self.door_contact),
        ):
            if part is not None:
                uses[name] = part.pin
        return uses


# --- camera -------------------------------------------------------------------------------------


class _CameraBase(Section):
    width: int = Field(default=640, ge=64, le=4096)
    height: int = Field(default=480, ge=64, le=4096)


class Picamera2Camera(_CameraBase):
    """The Raspberry Pi camera module through picamera2 (libcamera)."""

    driver: Literal["picamera2"]
    index: int = Field(default=0, ge=0, le=7, description="Which camera, on a Pi 5 with two.")


class OpenCvCamera(_CameraBase):
    """A USB (V4L2) camera by index, or a device or video path, through OpenCV."""

    driver: Literal["opencv"]
    device: Annotated[int, Field(ge=0, le=63)] | DeviceName


class FilesCamera(_CameraBase):
    """Frames from an image file, a folder of images (in name order) or a video file."""

    driver: Literal["files"]
    path: DevicePath = Field(description="Relative paths are read from the profile's folder.")
    loop: bool = True


class FakeCameraConfig(_CameraBase):
    """Scripted frames (a simulation supplies them); grey frames until it does."""

    driver: Literal["fake"]


CameraConfig = Annotated[
    Picamera2Camera | OpenCvCamera | FilesCamera | FakeCameraConfig, Field(discriminator="driver")
]


# --- card reader and QR -------------------------------------------------------------------------


class UidFormat(StrEnum):
    """How a reader writes a UID: hex digits, or one decimal number (many wedge readers)."""

    HEX = "hex"
    DECIMAL = "decimal"


class _UidFraming(Section):
    uid_format: UidFormat = UidFormat.HEX
    reverse_bytes: bool = Field(
        default=False, description="The reader sends the UID least significant byte first."
    )
    max_chars: int = Field(default=32, ge=4, le=64, description="Longer reads are refused.")


class EvdevReader(_UidFraming):
    """A USB HID keyboard-wedge reader, grabbed so its keystrokes reach no other program."""

    driver: Literal["evdev"]
    device: DevicePath = Field(description="e.g. /dev/input/by-id/usb-...-event-kbd (stable name).")
    grab: bool = True


class SerialReader(_UidFraming):
    """A reader on a serial port (UART or USB serial) with start/end framing bytes."""

    driver: Literal["serial"]
    port: DeviceName = Field(description="e.g. /dev/ttyUSB0, or a pyserial URL.")
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    start: Annotated[int, Field(ge=0, le=255)] | None = Field(
        default=0x02, description="Byte that begins a frame (STX), or null for none."
    )
    end: Annotated[int, Field(ge=0, le=255)] = Field(
        default=0x03, description="Byte that ends a frame (ETX; 13 for CR-terminated readers)."
    )

    @model_validator(mode="after")
    def _start_differs_from_end(self) -> Self:
        if self.start == self.end:
            raise ValueError(
                "start and end must differ; for a reader without a start byte use null"
            )
        return self


class FakeReaderConfig(Section):
    driver: Literal["fake"]


ReaderConfig = Annotated[
    EvdevReader | SerialReader | FakeReaderConfig, Field(discriminator="driver")
]


class EvdevQr(Section):
    """A USB HID QR scanner that types the code's text, grabbed like a card reader."""

    driver: Literal["evdev"]
    device: DevicePath
    grab: bool = True
    max_chars: int = Field(default=1024, ge=16, le=4096)


class CameraQr(Section):
    """QR passes read from the station's camera frames (edge_agent/hardware/qr_camera.py)."""

    driver: Literal["camera"]
    decoder: Literal["zxing+pyzbar", "zxing", "pyzbar"] = Field(
        default="zxing+pyzbar", description="Chosen by measurement: docs/performance.md."
    )


class FakeQrConfig(Section):
    driver: Literal["fake"]


QrConfig = Annotated[CameraQr | EvdevQr | FakeQrConfig, Field(discriminator="driver")]


# --- location -----------------------------------------------------------------------------------

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class FixedLocation(Section):
    """A device screwed to a wall: its surveyed coordinates."""

    driver: Literal["fixed"]
    latitude: Latitude
    longitude: Longitude
    accuracy_m: float = Field(default=5.0, ge=0, le=10_000)


class NmeaLocation(Section):
    """A GNSS receiver writing NMEA 0183 sentences on a serial port."""

    driver: Literal["nmea"]
    port: DeviceName
    baudrate: int = Field(default=9600, ge=300, le=921_600)


class GpsdLocation(Section):
    """A GNSS receiver shared through gpsd."""

    driver: Literal["gpsd"]
    host: DeviceName = "127.0.0.1"
    port: int = Field(default=2947, ge=1, le=65535)


class FakeLocationConfig(Section):
    """Where a simulated device starts; a simulation may move it."""

    driver: Literal["fake"]
    latitude: Latitude
    longitude: Longitude


LocationConfig = Annotated[
    FixedLocation | NmeaLocation | GpsdLocation | FakeLocationConfig,
    Field(discriminator="driver"),
]
