"""Location from gpsd: its JSON protocol over TCP, `?WATCH` for TPV (time-position-velocity)
reports. The protocol is a line of JSON per report, small enough to read directly."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import datetime

from edge_agent.hardware.base import FixSource, LocationSource, Position
from edge_agent.hardware.errors import HardwareError
from edge_agent.profile_parts import GpsdLocation

log = logging.getLogger(__name__)

WATCH = b'?WATCH={"enable":true,"json":true}\n'
MAX_REPORT_BYTES = 16 * 1024  # gpsd's SKY reports with many satellites stay well below this
MODE_2D = 2


def position_from_tpv(report: object) -> Position | None:
    """A position from a gpsd TPV report with a 2D or 3D fix, else None."""
    if not isinstance(report, dict) or report.get("class") != "TPV":
        return None
    if not isinstance(report.get("mode"), int) or report["mode"] < MODE_2D:
        return None
    lat, lon = report.get("lat"), report.get("lon")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    errors = [report.get(key) for key in ("eph", "epx", "epy")]
    accuracy = next((float(e) for e in errors if isinstance(e, int | float)), None)
    fixed_at = _parse_time(report.get("time"))
    try:
        return Position(float(lat), float(lon), accuracy, FixSource.GNSS, fixed_at)  # type: ignore[arg-type]
    except ValueError as error:
        log.warning("gpsd reported an impossible position: %s", error)
        return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class GpsdLocationSource(LocationSource):
    """Connects to gpsd, watches its reports and keeps the newest fix."""

    def __init__(self, config: GpsdLocation) -> None:
        self._address = (config.host, config.port)
        try:
            self._socket = socket.create_connection(self._address, timeout=5)
            self._socket.sendall(WATCH)
        except OSError as error:
            raise HardwareError(
                f"cannot reach gpsd at {config.host}:{config.port}: {error}; fix: "
                "`systemctl status gpsd`, or location.host/port in the profile"
            ) from None
        self._buffer = bytearray()
        self._latest: Position | None = None

    def read(self, timeout_s: float) -> Position | None:
        deadline = time.monotonic() + max(timeout_s, 0)
        while True:
            if self._take_lines():
                return self._latest
            left = deadline - time.monotonic()
            if left <= 0 or not self._receive(left):
                return self._latest

    def _receive(self, timeout_s: float) -> bool:
        self._socket.settimeout(timeout_s)
        try:
            data = self._socket.recv(4096)
        except TimeoutError:
            return False
        except OSError as error:
            raise HardwareError(f"gpsd at {self._address} failed: {error}") from None
        if not data:
            raise HardwareError(f"gpsd at {self._address} closed the connection")
        self._buffer += data
        return True

    def _take_lines(self) -> bool:
        """Parse every complete line; True if one of them was a new fix."""
        is_new = False
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            try:
                position = position_from_tpv(json.loads(line))
            except (ValueError, RecursionError):
                position = None
            if position is not None:
                self._latest, is_new = position, True
        if len(self._buffer) > MAX_REPORT_BYTES:
            log.warning("gpsd sent a line longer than %d bytes; dropped", MAX_REPORT_BYTES)
            self._buffer.clear()
        return is_new

    def close(self) -> None:
        self._socket.close()
