"""The station's hardware parts: small interfaces (`base`), fakes (`fakes`), real drivers, and
the factory that builds a station's parts from its firmware profile (`factory`)."""

from edge_agent.hardware.base import (
    BeepPattern,
    Beeps,
    Buzzer,
    Camera,
    CardReader,
    Clock,
    DoorContact,
    DoorRelay,
    FixSource,
    Frame,
    LocationSource,
    Part,
    Position,
    QrScanner,
    StatusLed,
    normalise_uid,
)
from edge_agent.hardware.errors import CardFormatError, DriverUnavailableError, HardwareError

__all__ = [
    "BeepPattern",
    "Beeps",
    "Buzzer",
    "Camera",
    "CardFormatError",
    "CardReader",
    "Clock",
    "DoorContact",
    "DoorRelay",
    "DriverUnavailableError",
    "FixSource",
    "Frame",
    "HardwareError",
    "LocationSource",
    "Part",
    "Position",
    "QrScanner",
    "StatusLed",
    "normalise_uid",
]
