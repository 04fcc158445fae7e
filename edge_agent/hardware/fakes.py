"""Fakes of every part: scriptable, instantaneous, and keeping a history of what happened when.

They take an injected clock, so station tests run without sleeping. For GPIO parts in a running
simulation, the profile's `pin_factory: mock` gives the real gpiozero drivers on gpiozero's own
MockFactory instead; these fakes are for pure unit tests.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from edge_agent.hardware.base import (
    BeepPattern,
    Buzzer,
    Camera,
    CardReader,
    Clock,
    DoorContact,
    DoorRelay,
    FixSource,
    Frame,
    LocationSource,
    Position,
    QrScanner,
    StatusLed,
    normalise_uid,
)
from edge_agent.hardware.errors import HardwareError


@dataclass(frozen=True)
class Change:
    """One recorded change of a fake output: when, and the new state."""

    at: float
    state: object


class FakeCamera(Camera):
    """Plays scripted frames in order; loops over them when `loop`, else runs dry with an error."""

    def __init__(self, frames: Iterable[Frame] = (), *, loop: bool = True) -> None:
        self._frames: list[Frame] = [np.asarray(f, dtype=np.uint8) for f in frames]
        self._next = 0
        self.loop = loop
        self.captured = 0

    def show(self, *frames: Frame) -> None:
        """Replace the script: the next captures return these frames."""
        self._frames = [np.asarray(f, dtype=np.uint8) for f in frames]
        self._next = 0

    def capture(self) -> Frame:
        if not self._frames or (self._next >= len(self._frames) and not self.loop):
            raise HardwareError("fake camera has no frames to play; call show() first")
        frame = self._frames[self._next % len(self._frames)]
        self._next += 1
        self.captured += 1
        return frame.copy()


class _QueueReader:
    """What the fake reader and scanner share: a queue of presented values."""

    def __init__(self) -> None:
        self._waiting: queue.Queue[str] = queue.Queue()
        self.history: list[str] = []

    def _put(self, value: str) -> None:
        self.history.append(value)
        self._waiting.put(value)

    def _get(self, timeout_s: float) -> str | None:
        try:
            if timeout_s > 0:
                return self._waiting.get(timeout=timeout_s)
            return self._waiting.get_nowait()
        except queue.Empty:
            return None


class FakeCardReader(_QueueReader, CardReader):
    """`present(uid)` queues a card; `read` returns it (normalised) once."""

    def present(self, uid: str) -> None:
        self._put(normalise_uid(uid))

    def read(self, timeout_s: float) -> str | None:
        return self._get(timeout_s)


class FakeQrScanner(_QueueReader, QrScanner):
    """`show(text)` queues a QR code's text; `read` returns it once."""

    def show(self, text: str) -> None:
        self._put(text)

    def read(self, timeout_s: float) -> str | None:
        return self._get(timeout_s)


class _TimedOutput:
    """An output whose state may change by itself at a scheduled time (end of a pulse or pattern).

    State is worked out from the clock when asked, so nothing runs in the background.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.monotonic
        self.history: list[Change] = []
        self._state: object = False
        self._until: float | None = None  # when the timed state ends
        self._after: object = False

    def _set(self, state: object) -> None:
        self._settle()
        self._until = None
        if state != self._state:
            self._state = state
            self.history.append(Change(self.clock(), state))

    def _set_for(self, state: object, seconds: float, after: object) -> None:
        self._set(state)
        self._until, self._after = self.clock() + seconds, after

    def _settle(self) -> None:
        if self._until is not None and self.clock() >= self._until:
            until, self._until = self._until, None
            if self._after != self._state:
                self._state = self._after
                self.history.append(Change(until, self._after))

    @property
    def state(self) -> object:
        self._settle()
        return self._state


class FakeDoorRelay(_TimedOutput, DoorRelay):
    """Records (time, is_unlocked); a pulse locks again when the injected clock passes its end."""

    def unlock(self) -> None:
        self._set(True)

    def lock(self) -> None:
        self._set(False)

    @property
    def is_unlocked(self) -> bool:
        return self.state is True

    def pulse(self, hold_s: float, wait: bool = False) -> None:
        self._set_for(True, hold_s, after=False)


class FakeStatusLed(_TimedOutput, StatusLed):
    """Records (time, "on" | "off" | "blink"); a counted blink ends by itself on the clock."""

    def __init__(self, clock: Clock | None = None, name: str = "led") -> None:
        super().__init__(clock)
        self.name = name
        self._state = "off"
        self._after = "off"

    def on(self) -> None:
        self._set("on")

    def off(self) -> None:
        self._set("off")

    def blink(
        self, on_s: float, off_s: float, times: int | None = None, wait: bool = False
    ) -> None:
        if times is None:
            self._set("blink")
        else:
            self._set_for("blink", times * (on_s + off_s), after="off")

    @property
    def is_lit(self) -> bool:
        return self.state != "off"


class FakeBuzzer(_TimedOutput, Buzzer):
    """Records (time, pattern or None); `is_sounding` until the pattern's duration has passed."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._state = None
        self._after = None
        self.played: list[tuple[float, BeepPattern]] = []

    def play(self, pattern: BeepPattern, wait: bool = False) -> None:
        self.played.append((self.clock(), pattern))
        self._set_for(pattern, pattern.duration_s, after=None)

    def silence(self) -> None:
        self._set(None)

    @property
    def is_sounding(self) -> bool:
        return self.state is not None


class FakeDoorContact(DoorContact):
    """`open_door()` and `shut_door()` move the door and call the callbacks, as a reed switch."""

    def __init__(self, *, is_open: bool = False) -> None:
        super().__init__()
        self._is_open = is_open

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open_door(self) -> None:
        if not self._is_open:
            self._is_open = True
            self._opened()

    def shut_door(self) -> None:
        if self._is_open:
            self._is_open = False
            self._closed()


@dataclass
class FakeLocation(LocationSource):
    """A scripted position; `move_to` and `lose_fix` change what `read` returns."""

    position: Position | None = None
    reads: list[Position | None] = field(default_factory=list)

    def move_to(self, latitude: float, longitude: float, accuracy_m: float | None = 5.0) -> None:
        self.position = Position(latitude, longitude, accuracy_m, FixSource.GNSS)

    def lose_fix(self) -> None:
        self.position = None

    def read(self, timeout_s: float) -> Position | None:
        self.reads.append(self.position)
        return self.position
