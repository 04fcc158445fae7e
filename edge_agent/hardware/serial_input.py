"""Serial parts through pyserial: framed card readers and NMEA 0183 GNSS receivers.

`port` may be a device (`/dev/ttyUSB0`) or any pyserial URL (`loop://`, `socket://host:port`),
which is how tests drive the real driver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC

import pynmea2
import serial

from edge_agent.hardware.base import CardReader, FixSource, LocationSource, Position
from edge_agent.hardware.errors import CardFormatError, HardwareError
from edge_agent.hardware.framing import ByteFramer, uid_from_text
from edge_agent.profile_parts import NmeaLocation, SerialReader

log = logging.getLogger(__name__)

READ_CHUNK = 4096
MAX_NMEA_LINE = 82  # NMEA 0183: at most 82 characters including $ and CR LF
# Typical GNSS receivers' user equivalent range error: accuracy ~ HDOP x this, metres.
UERE_M = 5.0


def open_serial(port: str, baudrate: int, what: str) -> serial.SerialBase:
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=0)
    except (serial.SerialException, ValueError) as error:
        raise HardwareError(
            f"cannot open the {what} on {port}: {error}; fix: check the cable and the port in "
            "the firmware profile, and that the agent's user is in the dialout group"
        ) from None


def _read_until(port: serial.SerialBase, timeout_s: float, take: Callable[[bytes], bool]) -> None:
    """Feed bytes to `take` until it says it has what it wanted or the deadline passes."""
    deadline = time.monotonic() + max(timeout_s, 0)
    while True:
        data = _read_some(port, max(deadline - time.monotonic(), 0))
        if data and take(data):
            return
        if time.monotonic() >= deadline:
            return


def _read_some(port: serial.SerialBase, timeout_s: float) -> bytes:
    """Wait up to `timeout_s` for one byte, then take whatever else is already there.

    (`in_waiting` is not a byte count on every pyserial transport, so it is not relied on.)
    """
    try:
        port.timeout = timeout_s
        first = port.read(1)
        if not first:
            return b""
        port.timeout = 0
        return first + port.read(READ_CHUNK)
    except serial.SerialException as error:
        raise HardwareError(f"serial port {port.port} failed: {error}") from None


class SerialCardReader(CardReader):
    """A card reader that sends each UID as one frame, e.g. STX <hex digits> ETX."""

    def __init__(self, config: SerialReader) -> None:
        self._config = config
        self._port = open_serial(config.port, config.baudrate, "card reader")
        self._framer = ByteFramer(config.start, config.end, config.max_chars + 8)
        self._ready: list[str] = []

    def read(self, timeout_s: float) -> str | None:
        if not self._ready:
            _read_until(self._port, timeout_s, self._take)
        return self._ready.pop(0) if self._ready else None

    def _take(self, data: bytes) -> bool:
        for frame in self._framer.feed(data):
            try:
                text = frame.decode("ascii")
                self._ready.append(
                    uid_from_text(
                        text, self._config.uid_format, reverse_bytes=self._config.reverse_bytes
                    )
                )
            except (UnicodeDecodeError, CardFormatError) as error:
                log.warning("serial card reader: %s; frame dropped", error)
        return bool(self._ready)

    def close(self) -> None:
        self._port.close()


def position_from_nmea(line: str) -> Position | None:
    """A position from a GGA or RMC sentence with a valid checksum and a fix, else None."""
    try:
        sentence = pynmea2.parse(line.strip(), check=True)
    except (pynmea2.ParseError, ValueError, AttributeError, TypeError) as error:
        log.debug("NMEA line skipped: %s", error)
        return None
    if isinstance(sentence, pynmea2.GGA):
        if not sentence.gps_qual:
            return None
        hdop = float(sentence.horizontal_dil) if sentence.horizontal_dil else None
        accuracy = hdop * UERE_M if hdop is not None else None
        fixed_at = None
    elif isinstance(sentence, pynmea2.RMC):
        if sentence.status != "A":
            return None
        accuracy = None
        fixed_at = sentence.datetime.replace(tzinfo=UTC) if sentence.datestamp else None
    else:
        return None
    try:
        return Position(
            float(sentence.latitude), float(sentence.longitude), accuracy, FixSource.GNSS, fixed_at
        )
    except (ValueError, TypeError, AttributeError):
        return None


class NmeaLocationSource(LocationSource):
    """A GNSS receiver's NMEA sentences on a serial port; `read` gives the newest fix."""

    def __init__(self, config: NmeaLocation) -> None:
        self._port = open_serial(config.port, config.baudrate, "GNSS receiver")
        self._line = bytearray()
        self._latest: Position | None = None
        self._fresh = False

    def read(self, timeout_s: float) -> Position | None:
        self._fresh = False
        _read_until(self._port, timeout_s, self._take)
        return self._latest

    def _take(self, data: bytes) -> bool:
        for byte in data:
            if byte == 0x0A:  # LF ends a sentence
                self._sentence(bytes(self._line))
                self._line.clear()
            elif len(self._line) < MAX_NMEA_LINE:
                self._line.append(byte)
        return self._fresh

    def _sentence(self, raw: bytes) -> None:
        position = position_from_nmea(raw.decode("ascii", errors="replace"))
        if position is not None:
            self._latest, self._fresh = position, True

    def close(self) -> None:
        self._port.close()
