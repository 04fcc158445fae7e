"""Firmware profiles: what a class of device is built from, as validated data.

One YAML file per device class in `firmware_profiles/` (pins, camera, reader, location,
thresholds, features), read into a pydantic model with `extra="forbid"` and discriminated by the
station type. The agent's config names the profile; `load_profile` finds, reads and validates it,
and a wrong profile stops the agent at start with the file, the field and the fix.

`Profile.vision_settings()` is the one conversion from profile thresholds to what `vision` takes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from edge_agent.errors import ConfigError
from edge_agent.profile_parts import (
    CameraConfig,
    CameraQr,
    LocationConfig,
    Pins,
    QrConfig,
    ReaderConfig,
    Seconds,
    Section,
)
from vision import LivenessPolicy, LivenessStrength, MatchPolicy, VisionSettings

PROFILE_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"
"""Where profiles live: the source checkout's folder, which the wheel also installs."""

MAX_PROFILE_BYTES = 64 * 1024
NAME = r"^[a-z0-9][a-z0-9-]{0,63}$"


class ProfileError(ConfigError):
    """A firmware profile is missing or wrong; the message names the file, field and fix."""


# --- thresholds and features --------------------------------------------------------------------


class Thresholds(Section):
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


class Features(Section):
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


class _ProfileBase(Section):
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
