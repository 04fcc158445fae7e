"""Turning a reader's raw output into card UIDs and QR texts: pure, bounded, testable.

Keyboard-wedge readers type a UID and press Enter; serial readers frame it with start and end
bytes. Both are decoded here, away from the device, so that the drivers only move bytes.
Every buffer is bounded: a stuck key or a noisy line ends as a dropped read, never as memory.
"""

from __future__ import annotations

import logging

from edge_agent.hardware.base import normalise_uid
from edge_agent.hardware.errors import CardFormatError
from edge_agent.profile_parts import UidFormat

log = logging.getLogger(__name__)

MAX_DECIMAL_DIGITS = 40  # 16 bytes of UID; longer "numbers" are noise


def uid_from_text(text: str, uid_format: UidFormat, *, reverse_bytes: bool = False) -> str:
    """The UID a reader meant, as upper-case hex (CardFormatError if it is not one)."""
    if uid_format is UidFormat.DECIMAL:
        digits = text.strip()
        if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_DECIMAL_DIGITS:
            raise CardFormatError(
                f"card reader sent {digits[:80]!r}, not a decimal UID; "
                "check uid_format in the firmware profile"
            )
        value = int(digits)
        hex_digits = f"{value:X}"
        # Keep whole bytes, and at least 4 of them: decimal readers drop leading zeros.
        text = hex_digits.zfill(max(8, len(hex_digits) + len(hex_digits) % 2))
    uid = normalise_uid(text)
    if reverse_bytes:
        if len(uid) % 2:
            raise CardFormatError(f"UID {uid} has an odd number of hex digits; cannot reverse")
        uid = "".join(reversed([uid[i : i + 2] for i in range(0, len(uid), 2)]))
    return uid


# Key names (evdev's KEY_*) to the characters a wedge reader or scanner types.
_PLAIN = {f"KEY_{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_PLAIN |= {f"KEY_{d}": d for d in "0123456789"}
_PLAIN |= {f"KEY_KP{d}": d for d in "0123456789"}
_PLAIN |= {
    "KEY_SPACE": " ",
    "KEY_MINUS": "-",
    "KEY_EQUAL": "=",
    "KEY_DOT": ".",
    "KEY_COMMA": ",",
    "KEY_SLASH": "/",
    "KEY_SEMICOLON": ";",
    "KEY_APOSTROPHE": "'",
    "KEY_LEFTBRACE": "[",
    "KEY_RIGHTBRACE": "]",
    "KEY_BACKSLASH": "\\",
    "KEY_GRAVE": "`",
}
_SHIFTED = {name: char.upper() for name, char in _PLAIN.items() if char.isalpha()}
_SHIFTED |= dict(zip([f"KEY_{d}" for d in "1234567890"], "!@#$%^&*()", strict=True))
_SHIFTED |= {
    "KEY_MINUS": "_",
    "KEY_EQUAL": "+",
    "KEY_DOT": ">",
    "KEY_COMMA": "<",
    "KEY_SLASH": "?",
    "KEY_SEMICOLON": ":",
    "KEY_APOSTROPHE": '"',
    "KEY_LEFTBRACE": "{",
    "KEY_RIGHTBRACE": "}",
    "KEY_BACKSLASH": "|",
    "KEY_GRAVE": "~",
}
_SHIFT_KEYS = {"KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"}
_ENTER_KEYS = {"KEY_ENTER", "KEY_KPENTER"}
KEY_UP, KEY_DOWN = 0, 1  # evdev key event values; 2 is autorepeat, which a reader never sends


class WedgeDecoder:
    """Key events of a keyboard-wedge reader to lines: characters until Enter.

    Feed (key name, value) pairs as evdev reports them. A line longer than `max_chars` is
    dropped whole (with the keys that follow it, up to the next Enter).
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._chars: list[str] = []
        self._shift = False
        self._overflow = False

    def feed(self, key: str, value: int) -> str | None:
        """The finished line when this event is Enter going down, else None."""
        if key in _SHIFT_KEYS:
            self._shift = value != KEY_UP
            return None
        if value != KEY_DOWN:
            return None
        if key in _ENTER_KEYS:
            return self._finish()
        char = (_SHIFTED if self._shift else _PLAIN).get(key)
        if char is None:
            log.debug("reader typed %s, which is not part of a code; ignored", key)
        elif len(self._chars) >= self.max_chars:
            self._overflow = True
        else:
            self._chars.append(char)
        return None

    def _finish(self) -> str | None:
        line, overflow = "".join(self._chars), self._overflow
        self._chars, self._overflow = [], False
        if overflow:
            log.warning(
                "reader typed more than %d characters before Enter; dropped", self.max_chars
            )
            return None
        return line or None


class ByteFramer:
    """A serial reader's bytes to frames: from `start` (if any) to `end`, at most `max_bytes`.

    Bytes outside a frame are noise and skipped; a frame that grows past `max_bytes` is dropped.
    """

    def __init__(self, start: int | None, end: int, max_bytes: int) -> None:
        self.start, self.end, self.max_bytes = start, end, max_bytes
        self._frame = bytearray()
        self._inside = start is None
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        """Every frame completed by these bytes, without the framing bytes."""
        frames = []
        for byte in data:
            frame = self._feed_byte(byte)
            if frame is not None:
                frames.append(frame)
        return frames

    def _feed_byte(self, byte: int) -> bytes | None:
        if not self._inside:
            if byte == self.start:
                self._inside = True
            return None
        if byte == self.end:
            return self._finish()
        if byte == self.start:  # a new frame began before this one ended: keep the new one
            self._frame.clear()
            self._overflow = False
        elif len(self._frame) >= self.max_bytes:
            self._overflow = True
        else:
            self._frame.append(byte)
        return None

    def _finish(self) -> bytes | None:
        frame, overflow = bytes(self._frame), self._overflow
        self._frame.clear()
        self._overflow = False
        self._inside = self.start is None
        if overflow:
            log.warning("serial reader frame longer than %d bytes; dropped", self.max_bytes)
            return None
        return frame or None
