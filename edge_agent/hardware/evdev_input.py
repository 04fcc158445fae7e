"""USB HID keyboard-wedge card readers and QR scanners, read through Linux evdev.

The device is grabbed (EVIOCGRAB) so that its keystrokes reach this agent only: without the
grab, every card tapped would also be typed into whatever console has the focus.
"""

from __future__ import annotations

import contextlib
import logging
import select
import time
from pathlib import Path

import evdev

from edge_agent.hardware.base import CardReader, QrScanner
from edge_agent.hardware.errors import CardFormatError, HardwareError
from edge_agent.hardware.framing import WedgeDecoder, uid_from_text
from edge_agent.profile_parts import EvdevQr, EvdevReader

log = logging.getLogger(__name__)


class _WedgeDevice:
    """An input device read line by line, with a deadline instead of blocking."""

    def __init__(self, path: Path, *, grab: bool, max_chars: int) -> None:
        try:
            self._device = evdev.InputDevice(str(path))
        except OSError as error:
            raise HardwareError(
                f"cannot open the input device {path}: {error.strerror}; fix: check that the "
                "reader is plugged in and that the agent's user is in the input group"
            ) from None
        if grab:
            try:
                self._device.grab()
            except OSError as error:
                self._device.close()
                raise HardwareError(
                    f"cannot grab {path} ({error.strerror}); another program holds it"
                ) from None
        self._path = path
        self._decoder = WedgeDecoder(max_chars)

    def read_line(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + max(timeout_s, 0)
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._device.fd], [], [], max(left, 0))
            if not ready:
                return None
            line = self._drain()
            if line is not None or left <= 0:
                return line

    def _drain(self) -> str | None:
        try:
            events = list(self._device.read())
        except BlockingIOError:
            return None
        except OSError as error:
            raise HardwareError(f"input device {self._path} failed: {error}") from None
        for event in events:
            if event.type != evdev.ecodes.EV_KEY:
                continue
            name = evdev.ecodes.KEY.get(event.code)
            key = name[0] if isinstance(name, list) else name
            line = self._decoder.feed(str(key), event.value)
            if line is not None:
                # A line ends the read; keys after Enter in the same batch start the next one.
                return line
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):  # not grabbed, or already unplugged
            self._device.ungrab()
        self._device.close()


class EvdevCardReader(CardReader):
    """A keyboard-wedge card reader: it types the UID and presses Enter."""

    def __init__(self, config: EvdevReader) -> None:
        self._config = config
        self._input = _WedgeDevice(config.device, grab=config.grab, max_chars=config.max_chars)

    def read(self, timeout_s: float) -> str | None:
        line = self._input.read_line(timeout_s)
        if line is None:
            return None
        try:
            return uid_from_text(
                line, self._config.uid_format, reverse_bytes=self._config.reverse_bytes
            )
        except CardFormatError as error:
            log.warning("%s", error)
            return None

    def close(self) -> None:
        self._input.close()


class EvdevQrScanner(QrScanner):
    """A USB HID QR scanner that types the code's text and presses Enter."""

    def __init__(self, config: EvdevQr) -> None:
        self._input = _WedgeDevice(config.device, grab=config.grab, max_chars=config.max_chars)

    def read(self, timeout_s: float) -> str | None:
        return self._input.read_line(timeout_s)

    def close(self) -> None:
        self._input.close()
