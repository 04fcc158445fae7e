"""The hardware parts a station is composed from, as small abstract interfaces.

Every part has a real driver and a fake, chosen by the firmware profile (see `factory.py`), in the
manner of gpiozero's pin factories. A station holds parts, never subclasses them. Each part is a
context manager; `close()` releases the device and may be called more than once.

Conventions shared by all parts:
- blocking reads take `timeout_s` and return None when nothing arrived in time, so a station loop
  never hangs on a part;
- a part that fails raises `HardwareError` (or a subclass) with a message a technician can act on;
- times are seconds; positions are WGS84 degrees.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Self, TypeAlias

import numpy as np
import numpy.typing as npt

from edge_agent.hardware.errors import CardFormatError

Frame: TypeAlias = npt.NDArray[np.uint8]
"""An RGB camera frame, height x width x 3, uint8 (what `vision` reads)."""

Clock: TypeAlias = Callable[[], float]
"""Monotonic seconds; `time.monotonic` on a device, a counter in tests."""

Callback: TypeAlias = Callable[[], None]

# The coordinator hashes UIDs of 4..64 hex digits after dropping ':' and ' ' (auth/keys.py).
_UID = re.compile(r"[0-9A-F]{4,64}")


def normalise_uid(raw: str) -> str:
    """A card UID in the one form the roster's keyed hashes are made of: upper-case hex digits."""
    uid = raw.strip().upper().replace(":", "").replace(" ", "")
    if not _UID.fullmatch(uid):
        shown = raw[:80].encode("unicode_escape").decode("ascii")
        raise CardFormatError(
            f"card reader produced {shown!r}, which is not a UID of 4 to 64 hex digits; "
            "check the reader's output format (uid_format) in the firmware profile"
        )
    return uid


class Part(ABC):  # noqa: B024  (no abstract method: a part only shares the life cycle)
    """Life cycle shared by every part: usable after construction, released by `close()`."""

    def close(self) -> None:  # noqa: B027  (optional: most fakes hold nothing)
        """Release the device; safe to call twice. Override when the driver holds anything."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class Camera(Part):
    """Source of RGB frames for face verification and tamper checks.

    Must override `capture`. May override `capture_burst` when the hardware can deliver several
    frames faster than one `capture` after another, and `close`.
    """

    @abstractmethod
    def capture(self) -> Frame:
        """The newest frame (H x W x 3 RGB uint8); HardwareError when there is none."""

    def capture_burst(self, count: int) -> list[Frame]:
        """`count` consecutive frames, e.g. for liveness across frames."""
        return [self.capture() for _ in range(count)]


class CardReader(Part):
    """Card UIDs presented by people, already normalised by `normalise_uid`.

    Must override `read`. A driver drops reads that are not UIDs (logging why) instead of raising,
    because a bad swipe is not a hardware fault.
    """

    @abstractmethod
    def read(self, timeout_s: float) -> str | None:
        """The next presented card's UID, or None when none arrived within `timeout_s`."""


class QrScanner(Part):
    """Text of QR codes shown to the station (signed passes), as decoded.

    Must override `read`. Camera-based and USB HID (keyboard) scanners are drivers of this part.
    """

    @abstractmethod
    def read(self, timeout_s: float) -> str | None:
        """The next QR code's text, or None when none was shown within `timeout_s`."""


class DoorRelay(Part):
    """The relay that locks and unlocks a door or gate.

    `is_unlocked` is the lock's state, whatever the wiring: fail-safe (energised = locked) and
    fail-secure (energised = unlocked) differ only in the driver. Must override `unlock`, `lock`,
    `is_unlocked`; may override `pulse` when the hardware times the pulse itself.
    """

    @abstractmethod
    def unlock(self) -> None:
        """Unlock until `lock` is called."""

    @abstractmethod
    def lock(self) -> None:
        """Lock now (also ends a pulse)."""

    @property
    @abstractmethod
    def is_unlocked(self) -> bool:
        """True while the door can be opened."""

    @abstractmethod
    def pulse(self, hold_s: float, wait: bool = False) -> None:
        """Unlock for `hold_s` seconds, then lock; returns at once unless `wait`."""


class StatusLed(Part):
    """One status lamp (green, red, amber, ...). Must override `on`, `off`, `blink`, `is_lit`."""

    @abstractmethod
    def on(self) -> None: ...

    @abstractmethod
    def off(self) -> None: ...

    @abstractmethod
    def blink(
        self, on_s: float, off_s: float, times: int | None = None, wait: bool = False
    ) -> None:
        """Blink `times` times (None: until `on` or `off`), in the background unless `wait`."""

    @property
    @abstractmethod
    def is_lit(self) -> bool: ...


@dataclass(frozen=True)
class BeepPattern:
    """`count` beeps of `on_s` seconds with `off_s` of silence between them."""

    on_s: float
    off_s: float
    count: int

    @property
    def duration_s(self) -> float:
        return self.count * self.on_s + (self.count - 1) * self.off_s


class Beeps:
    """The patterns a station plays; one place, so every station sounds alike."""

    ACCEPTED = BeepPattern(on_s=0.15, off_s=0.0, count=1)
    REFUSED = BeepPattern(on_s=0.1, off_s=0.1, count=3)
    ALARM = BeepPattern(on_s=0.5, off_s=0.5, count=5)


class Buzzer(Part):
    """A buzzer that plays `BeepPattern`s. Must override `play`, `silence`, `is_sounding`."""

    @abstractmethod
    def play(self, pattern: BeepPattern, wait: bool = False) -> None:
        """Play the pattern in the background (or, with `wait`, before returning)."""

    @abstractmethod
    def silence(self) -> None: ...

    @property
    @abstractmethod
    def is_sounding(self) -> bool: ...


class DoorContact(Part):
    """A reed switch on the door: is it open? Must override `is_open`.

    `when_opened` and `when_closed` are called on a driver's thread when the state changes; keep
    them to recording or enqueueing. Drivers must call them through `_opened` and `_closed`.
    """

    def __init__(self) -> None:
        self.when_opened: Callback | None = None
        self.when_closed: Callback | None = None

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    def _opened(self) -> None:
        if self.when_opened is not None:
            self.when_opened()

    def _closed(self) -> None:
        if self.when_closed is not None:
            self.when_closed()


class FixSource(StrEnum):
    """Where a position came from."""

    FIXED = "fixed"
    GNSS = "gnss"


@dataclass(frozen=True)
class Position:
    """A device position in WGS84 degrees, with its uncertainty in metres when known."""

    latitude: float
    longitude: float
    accuracy_m: float | None
    source: FixSource
    fixed_at: datetime | None = None

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):  # also NaN
            raise ValueError(f"position {self.latitude}, {self.longitude} is not on Earth")
        if self.accuracy_m is not None and not 0 <= self.accuracy_m < 1e7:
            raise ValueError(f"position accuracy {self.accuracy_m} m is not a distance")


class LocationSource(Part):
    """Where the device is. Must override `read`.

    Fixed coordinates from the profile, a GNSS receiver over NMEA or gpsd, or a fake.
    """

    @abstractmethod
    def read(self, timeout_s: float) -> Position | None:
        """The newest position, or None when there is no fix within `timeout_s`."""
