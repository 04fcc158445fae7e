"""Firmware profiles: what a class of device is built from, as validated data.

One YAML file per device class in `firmware_profiles/` (pins, camera, reader, location,
thresholds, features), read into a pydantic model with `extra="forbid"` and discriminated by the
station type. The agent's config names the profile; `load_profile` finds, reads and validates it,
and a wrong profile stops the agent at start with the file, the field and the fix.

`Profile.vision_settings()` is the one conversion from profile thresholds to what `vision` takes.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from edge_agent.errors import ConfigError
from vision import LivenessPolicy, LivenessStrength, MatchPolicy, VisionSettings

PROFILE_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"
"""Where profiles live: the source checkout's folder, which the wheel also installs."""

MAX_PROFILE_BYTES = 64 * 1024
NAME = r"^[a-z0-9][a-z0-9-]{0,63}$"

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


class ProfileError(ConfigError):
    """A firmware profile is missing or wrong; the message names the file, field and fix."""


class _Section(BaseModel):
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


class RelayPins(_Section):
    """The door relay."""

    pin: BcmPin
    active_high: bool = Field(
        default=True, description="True if the relay board energises its coil on a high pin."
    )
    lock: LockWiring = Field(description="fail_safe: energised = locked; fail_secure: the reverse.")
    pulse_s: Seconds = Field(default=3.0, le=30, description="How long a granted door unlocks.")


class LedPins(_Section):
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


class BuzzerPin(_Section):
    pin: BcmPin
    active_high: bool = True


class DoorContactPin(_Section):
    """A reed switch between the pin and ground, closed while the door is shut."""

    pin: BcmPin
    pull_up: bool = Field(default=True, description="Use the Pi's internal pull-up resistor.")
    open_is_active: bool = Field(
        default=False,
        description="True for a switch that closes when the door opens (normally open contact).",
    )
    bounce_s: float = Field(default=0.05, ge=0, le=1, description="Debounce time.")


class Pins(_Section):
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


class _CameraBase(_Section):
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


class _UidFraming(_Section):
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


class FakeReaderConfig(_Section):
    driver: Literal["fake"]


ReaderConfig = Annotated[
    EvdevReader | SerialReader | FakeReaderConfig, Field(discriminator="driver")
]


class EvdevQr(_Section):
    """A USB HID QR scanner that types the code's text, grabbed like a card reader."""

    driver: Literal["evdev"]
    device: DevicePath
    grab: bool = True
    max_chars: int = Field(default=1024, ge=16, le=4096)


class CameraQr(_Section):
    """QR passes read from the station's camera frames (edge_agent/hardware/qr_camera.py)."""

    driver: Literal["camera"]
    decoder: Literal["zxing+pyzbar", "zxing", "pyzbar"] = Field(
        default="zxing+pyzbar", description="Chosen by measurement: docs/performance.md."
    )


class FakeQrConfig(_Section):
    driver: Literal["fake"]


QrConfig = Annotated[CameraQr | EvdevQr | FakeQrConfig, Field(discriminator="driver")]


# --- location -----------------------------------------------------------------------------------

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class FixedLocation(_Section):
    """A device screwed to a wall: its surveyed coordinates."""

    driver: Literal["fixed"]
    latitude: Latitude
    longitude: Longitude
    accuracy_m: float = Field(default=5.0, ge=0, le=10_000)


class NmeaLocation(_Section):
    """A GNSS receiver writing NMEA 0183 sentences on a serial port."""

    driver: Literal["nmea"]
    port: DeviceName
    baudrate: int = Field(default=9600, ge=300, le=921_600)


class GpsdLocation(_Section):
    """A GNSS receiver shared through gpsd."""

    driver: Literal["gpsd"]
    host: DeviceName = "127.0.0.1"
    port: int = Field(default=2947, ge=1, le=65535)


class FakeLocationConfig(_Section):
    """Where a simulated device starts; a simulation may move it."""

    driver: Literal["fake"]
    latitude: Latitude
    longitude: Longitude


LocationConfig = Annotated[
    FixedLocation | NmeaLocation | GpsdLocation | FakeLocationConfig,
    Field(discriminator="driver"),
]


# --- thresholds and features --------------------------------------------------------------------


class Thresholds(_Section):
    """The numbers a station decides with."""

    face_model: str | None = Field(
        default=None,
        description="Face embedder model (a models/MANIFEST name, e.g. sface-2021dec); templates "
        "of another model are not compared. Unset: the manifest's default.",
    )
    face_distance: float | None = Field(
        default=None,
        gt=0,
        le=2,
        description="L2 distance below which a face is the person; unset: the model's "
        "calibrated threshold from models/MANIFEST.",
    )
    face_margin: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Band of +- margin around it that is 'uncertain'; set with face_distance.",
    )
    liveness: LivenessStrength = LivenessStrength.NORMAL
    frames_per_attempt: int = Field(default=5, ge=1, le=30, description="Frames captured per tap.")
    geofence_radius_m: float = Field(default=100, gt=0, le=50_000)
    checkin_before_min: int = Field(
        default=30,
        ge=0,
        le=24 * 60,
        description="Minutes before the session start a check-in opens.",
    )
    checkin_after_min: int = Field(
        default=15, ge=0, le=24 * 60, description="Minutes after the session start it closes."
    )
    door_held_open_s: Seconds = Field(default=30, description="An open door alarms after this.")

    @model_validator(mode="after")
    def _margin_inside_threshold(self) -> Self:
        if (self.face_distance is None) != (self.face_margin is None):
            raise ValueError("set face_distance and face_margin together (or neither)")
        if self.face_margin is not None and self.face_margin >= (self.face_distance or 0):
            raise ValueError("face_margin must be smaller than face_distance")
        return self

    @property
    def checkin_before(self) -> timedelta:
        return timedelta(minutes=self.checkin_before_min)

    @property
    def checkin_after(self) -> timedelta:
        return timedelta(minutes=self.checkin_after_min)


class Features(_Section):
    """Switches for behaviour that differs between device classes."""

    evidence_crops: bool = Field(
        default=False, description="Keep a small local face crop of refused attempts (never sent)."
    )
    camera_tamper: bool = Field(default=True, description="Report a covered or moved camera.")
    door_tamper: bool = Field(
        default=True, description="Report doors forced or held open (needs pins.door_contact)."
    )
    display: bool = Field(
        default=False,
        description="The station has a display that asks for a short head turn; liveness then "
        "demands one (a cue a photo cannot give).",
    )
    blink_check: bool = Field(
        default=False,
        description="Liveness also demands a blink, seen by the iris-landmark model (capture "
        "frames over about a second).",
    )


# --- the profile --------------------------------------------------------------------------------


class _ProfileBase(_Section):
    schema_version: Literal[1] = 1
    name: str = Field(pattern=NAME, description="Same as the file name without .yaml.")
    description: str = Field(default="", max_length=500)
    pins: Pins
    location: LocationConfig
    thresholds: Thresholds = Field(default_factory=Thresholds)
    features: Features = Field(default_factory=Features)

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file the profile was read from, if any."""
        return self._source

    def resolve(self, path: Path) -> Path:
        """A path from the profile, relative to the profile's own folder."""
        base = self._source.parent if self._source is not None else Path.cwd()
        return path if path.is_absolute() else base / path

    def vision_settings(self, num_threads: int = 1) -> VisionSettings:
        """What `vision` receives from this profile: the one conversion, kept here."""
        limits = self.thresholds
        match = (
            None  # the model's calibration in models/MANIFEST
            if limits.face_distance is None or limits.face_margin is None
            else MatchPolicy(threshold=limits.face_distance, margin=limits.face_margin)
        )
        return VisionSettings(
            match=match,
            embedder_model=limits.face_model,
            liveness=LivenessPolicy(
                strength=limits.liveness,
                head_turn=self.features.display,
                blink=self.features.blink_check,
            ),
            num_threads=num_threads,
        )


class DoorStationProfile(_ProfileBase):
    """A supervisor check-in station at an exam-room door: card, face, location."""

    station: Literal["door"]
    camera: CameraConfig
    reader: ReaderConfig

    @model_validator(mode="after")
    def _door_tamper_needs_contact(self) -> Self:
        if self.features.door_tamper and self.pins.door_contact is None:
            raise ValueError("features.door_tamper needs pins.door_contact (or set it to false)")
        return self


class GateStationProfile(_ProfileBase):
    """A student gate: signed QR passes (and optionally cards), decided offline."""

    station: Literal["gate"]
    qr: QrConfig
    camera: CameraConfig | None = Field(
        default=None, description="For QR codes (qr.driver: camera) and camera tamper checks."
    )
    reader: ReaderConfig | None = None

    @model_validator(mode="after")
    def _camera_qr_needs_a_camera(self) -> Self:
        if isinstance(self.qr, CameraQr) and self.camera is None:
            raise ValueError("qr.driver camera needs a camera section")
        return self


Profile = Annotated[DoorStationProfile | GateStationProfile, Field(discriminator="station")]
_PROFILE: TypeAdapter[DoorStationProfile | GateStationProfile] = TypeAdapter(Profile)


# --- loading ------------------------------------------------------------------------------------


def profile_path(name_or_path: str | Path, profile_dir: Path = PROFILE_DIR) -> Path:
    """A profile name (`door-station-pi4`) is looked up in `profile_dir`; a path is taken as is."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return profile_dir / f"{text}.yaml"


def load_profile(
    name_or_path: str | Path, profile_dir: Path = PROFILE_DIR
) -> DoorStationProfile | GateStationProfile:
    """Read and validate a profile; ProfileError names the file, the field and the fix."""
    path = profile_path(name_or_path, profile_dir)
    raw = _read_yaml(path, profile_dir)
    try:
        profile = _PROFILE.validate_python(raw)
    except ValidationError as error:
        raise ProfileError(_explain(path, error)) from None
    if profile.name != path.stem:
        raise ProfileError(
            f"{path}: field name: is {profile.name!r} but the file is {path.name}; "
            f"fix: set name: {path.stem} (a profile is known by its file name)"
        )
    profile._source = path.resolve()
    return profile


def available_profiles(profile_dir: Path = PROFILE_DIR) -> list[str]:
    return sorted(path.stem for path in profile_dir.glob("*.yaml"))


def _read_yaml(path: Path, profile_dir: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PROFILE_BYTES + 1)
    except OSError as error:
        known = ", ".join(available_profiles(profile_dir)) or "none"
        raise ProfileError(
            f"{path}: cannot read the firmware profile ({error.strerror}); fix: set `profile` in "
            f"the agent config to one of {known} in {profile_dir}, or to a profile file's path"
        ) from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{path}: larger than {MAX_PROFILE_BYTES} bytes; fix: is it a profile?")
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ProfileError(
            f"{path}: not UTF-8 text at byte {error.start}; fix: save as UTF-8"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ProfileError(
            f"{path}: not valid YAML at {where}; fix: {getattr(error, 'problem', error)}"
        ) from None
    if not isinstance(raw, dict):
        raise ProfileError(
            f"{path}: expected a mapping of settings, got {type(raw).__name__}; "
            "fix: start from one of the files in firmware_profiles/"
        )
    return raw


_FIXES = {
    "extra_forbidden": "remove it; it is not a setting here (a typo?)",
    "missing": "add it",
    "union_tag_invalid": "use one of the values the message lists",
    "union_tag_not_found": "add it, naming one of the choices in firmware_profiles/README.md",
    "literal_error": "use one of the values the message lists",
    "enum": "use one of the values the message lists",
}


def _explain(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: firmware profile is not valid:"]
    lines += [_explain_one(detail) for detail in error.errors(include_url=False)]
    return "\n  ".join(lines)


def _explain_one(detail: ErrorDetails) -> str:
    fix = _FIXES.get(detail["type"], "change the value as the message says")
    loc = detail["loc"]
    if detail["type"].startswith("union_tag"):  # the field at fault is the discriminator
        loc = (*loc, str(detail.get("ctx", {}).get("discriminator", "")).strip("'"))
    return f"field {_field_name(loc)}: {detail['msg']}; fix: {fix}"


_UNION_FIELDS = {"camera", "reader", "qr", "location"}
_DRIVERS = {"picamera2", "opencv", "files", "fake", "evdev", "serial", "fixed", "nmea", "gpsd"}
_DRIVERS |= {"camera"}


def _field_name(loc: tuple[str | int, ...]) -> str:
    """The field as written in the file: discriminated unions put the chosen tag (`door`,
    `opencv`) into the location, and that is a value, not a field."""
    parts = list(loc[1:] if loc and loc[0] in ("door", "gate") else loc)
    kept = [
        str(part)
        for index, part in enumerate(parts)
        if index == 0 or parts[index - 1] not in _UNION_FIELDS or part not in _DRIVERS
    ]
    return ".".join(kept) or "(top level)"
