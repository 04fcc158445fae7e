"""Tamper detectors at the hardware level: the door contact and the camera watch themselves.

The station polls them (`DoorWatch.poll`, `CameraWatch.check`) or subscribes (`when_tampered`)
and turns each `TamperFinding` into a violation event; nothing here knows about the wire.

- Door forced open: the contact opened while no access was granted (`DoorWatch.grant`).
- Door held open: the contact stayed open longer than the profile's `door_held_open_s`.
- Camera covered: frames are dark, or uniform (a hand, tape, a cap over the lens).
- Camera moved: the scene no longer matches a reference taken at install. The comparison uses
  normalised gradients of a small grey thumbnail, so light changing through the day does not
  count as a move; a person walking past does not either, because a finding needs several
  frames in a row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_agent.hardware.base import Camera, Clock, DoorContact, Frame
from edge_agent.hardware.errors import HardwareError


class TamperKind(StrEnum):
    DOOR_FORCED_OPEN = "door_forced_open"
    DOOR_HELD_OPEN = "door_held_open"
    CAMERA_COVERED = "camera_covered"
    CAMERA_MOVED = "camera_moved"


@dataclass(frozen=True)
class TamperFinding:
    """One tamper signal: what, when (the watch's clock), how sure, and a line for people."""

    kind: TamperKind
    at: float
    confidence: float
    detail: str


TamperCallback = Callable[[TamperFinding], None]


class DoorWatch:
    """Watches a door contact for forced and held-open doors.

    Call `grant(hold_s)` when the station unlocks the door, and `poll()` regularly (say once a
    second): it returns findings not returned before. `when_tampered`, if set, is also called
    with each finding: for a forced door at once, on the contact's thread; for a held door from
    `poll`. A door found open when the watch starts counts as opened then, not as forced.
    """

    def __init__(
        self,
        contact: DoorContact,
        *,
        held_open_after_s: float,
        clock: Clock | None = None,
        when_tampered: TamperCallback | None = None,
    ) -> None:
        self.clock: Clock = clock or time.monotonic
        self.held_open_after_s = held_open_after_s
        self.when_tampered = when_tampered
        self._contact = contact
        self._lock = threading.Lock()
        self._pending: list[TamperFinding] = []
        self._granted_until = -np.inf
        self._opened_at: float | None = self.clock() if contact.is_open else None
        self._held_reported = False
        contact.when_opened = self._on_opened
        contact.when_closed = self._on_closed

    def grant(self, hold_s: float) -> None:
        """The station unlocked the door: opening it within `hold_s` is not forced."""
        with self._lock:
            self._granted_until = max(self._granted_until, self.clock() + hold_s)

    def poll(self) -> list[TamperFinding]:
        """Findings since the last poll, including a door now held open too long."""
        with self._lock:
            held = self._check_held()
            found, self._pending = self._pending, []
        if held is not None and self.when_tampered is not None:
            self.when_tampered(held)
        return found

    def _check_held(self) -> TamperFinding | None:
        if self._opened_at is None or self._held_reported:
            return None
        open_for = self.clock() - self._opened_at
        if open_for < self.held_open_after_s:
            return None
        self._held_reported = True
        finding = TamperFinding(
            TamperKind.DOOR_HELD_OPEN,
            self.clock(),
            1.0,
            f"door open for {open_for:.0f} s (limit {self.held_open_after_s:.0f} s)",
        )
        self._pending.append(finding)
        return finding

    def _on_opened(self) -> None:
        with self._lock:
            now = self.clock()
            self._opened_at, self._held_reported = now, False
            if now <= self._granted_until:
                return
            finding = TamperFinding(
                TamperKind.DOOR_FORCED_OPEN, now, 1.0, "door opened with no access granted"
            )
            self._pending.append(finding)
        if self.when_tampered is not None:
            self.when_tampered(finding)

    def _on_closed(self) -> None:
        with self._lock:
            self._opened_at, self._held_reported = None, False
            self._granted_until = -np.inf  # one grant, one passage


# --- camera -------------------------------------------------------------------------------------

THUMB_W, THUMB_H = 64, 48
Signature = npt.NDArray[np.float32]


def thumbnail(frame: Frame) -> npt.NDArray[np.float32]:
    """A THUMB_W x THUMB_H grey image of the frame, by block means (frames of any size)."""
    grey = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    height, width = grey.shape
    if height < THUMB_H or width < THUMB_W:
        raise HardwareError(f"frame of {width}x{height} is too small to watch for tampering")
    rows = np.linspace(0, height, THUMB_H + 1).astype(int)
    cols = np.linspace(0, width, THUMB_W + 1).astype(int)
    # Sum over row bands, then column bands: two reductions over the whole frame, no copies.
    banded = np.add.reduceat(np.add.reduceat(grey, rows[:-1], axis=0), cols[:-1], axis=1)
    areas = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
    return np.asarray(banded / areas, dtype=np.float32)


def scene_signature(frame: Frame) -> Signature:
    """Gradient magnitudes of the thumbnail, zero mean and unit spread: the scene's edges,
    insensitive to overall brightness and contrast."""
    thumb = thumbnail(frame)
    grad_y, grad_x = np.gradient(thumb)
    edges = np.hypot(grad_x, grad_y)
    spread = float(edges.std())
    return np.asarray((edges - edges.mean()) / max(spread, 1e-6), dtype=np.float32)


def scene_similarity(a: Signature, b: Signature) -> float:
    """Normalised cross-correlation of two signatures: 1 same scene, ~0 unrelated."""
    return float(np.mean(a * b))


@dataclass(frozen=True)
class CameraTamperLimits:
    """When a frame counts as covered or moved, and how many in a row make a finding."""

    dark_mean: float = 18.0  # mean grey level (0..255) below which the lens is covered
    uniform_std: float = 4.0  # grey spread below which the frame shows nothing
    min_similarity: float = 0.45  # to the install-time reference, below which it moved
    frames_to_confirm: int = 3


class SceneReference:
    """The scene the camera saw when installed; saved next to the device's data."""

    def __init__(self, signature: Signature) -> None:
        if signature.shape != (THUMB_H, THUMB_W) or not np.all(np.isfinite(signature)):
            raise HardwareError(
                "camera reference is damaged; fix: take a new one (`edge-agent doctor`)"
            )
        self.signature = signature

    @classmethod
    def take(cls, frames: list[Frame]) -> SceneReference:
        """A reference from a few frames, averaged so one passer-by does not end up in it."""
        if not frames:
            raise HardwareError("a camera reference needs at least one frame")
        mean = np.mean([scene_signature(f) for f in frames], axis=0).astype(np.float32)
        return cls(mean)

    def save(self, path: Path) -> None:
        with path.open("wb") as file:
            np.save(file, self.signature, allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> SceneReference:
        try:
            with path.open("rb") as file:
                signature = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise HardwareError(
                f"cannot read the camera reference {path}: {error}; fix: take a new one"
            ) from None
        return cls(np.asarray(signature, dtype=np.float32))


class CameraWatch:
    """Checks frames for a covered or moved camera; each finding is reported once per episode.

    `check(frame)` returns the findings this frame confirmed; a finding is confirmed after
    `frames_to_confirm` consecutive frames agree, and reported again only after the camera was
    seen normal in between. Without a reference, only covering is checked.
    """

    def __init__(
        self,
        reference: SceneReference | None,
        limits: CameraTamperLimits | None = None,
        *,
        clock: Clock | None = None,
        when_tampered: TamperCallback | None = None,
    ) -> None:
        self.reference = reference
        self.limits = limits or CameraTamperLimits()
        self.clock: Clock = clock or time.monotonic
        self.when_tampered = when_tampered
        self._streak = dict.fromkeys((TamperKind.CAMERA_COVERED, TamperKind.CAMERA_MOVED), 0)
        self._reported: set[TamperKind] = set()
        self.last_similarity: float | None = None

    def check(self, frame: Frame) -> list[TamperFinding]:
        seen = self._classify(frame)
        findings = []
        for kind in self._streak:
            if kind is not seen:
                self._streak[kind] = 0
                self._reported.discard(kind)
                continue
            self._streak[kind] += 1
            if self._streak[kind] >= self.limits.frames_to_confirm and kind not in self._reported:
                self._reported.add(kind)
                findings.append(self._finding(kind))
        for finding in findings:
            if self.when_tampered is not None:
                self.when_tampered(finding)
        return findings

    def _classify(self, frame: Frame) -> TamperKind | None:
        thumb = thumbnail(frame)
        if thumb.mean() < self.limits.dark_mean or thumb.std() < self.limits.uniform_std:
            self.last_similarity = None
            return TamperKind.CAMERA_COVERED
        if self.reference is None:
            return None
        self.last_similarity = scene_similarity(scene_signature(frame), self.reference.signature)
        return (
            TamperKind.CAMERA_MOVED if self.last_similarity < self.limits.min_similarity else None
        )

    def _finding(self, kind: TamperKind) -> TamperFinding:
        if kind is TamperKind.CAMERA_COVERED:
            return TamperFinding(kind, self.clock(), 0.9, "camera sees a dark or uniform image")
        similarity = self.last_similarity or 0.0
        confidence = min(1.0, max(0.0, 1 - similarity))
        return TamperFinding(
            kind,
            self.clock(),
            round(confidence, 3),
            f"scene matches the install-time reference at {similarity:.2f} "
            f"(limit {self.limits.min_similarity:.2f})",
        )


REFERENCE_FRAMES = 5


def load_or_take_reference(path: Path, camera: Camera) -> SceneReference:
    """The install-time reference at `path`; on the first start (no file yet) it is taken from
    the camera now and saved, so "install" is the first run after mounting. Delete the file
    after moving the camera on purpose."""
    if path.exists():
        return SceneReference.load(path)
    reference = SceneReference.take(camera.capture_burst(REFERENCE_FRAMES))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    reference.save(temporary)
    temporary.replace(path)  # a power cut leaves the old file or the new one, never half
    return reference


class TamperMonitor:
    """The tamper watches a profile asks for (`features.door_tamper`, `features.camera_tamper`),
    polled together from the station's loop.

    `poll()` returns the door's findings and, at most every `camera_every_s`, checks one camera
    frame; call `grant(hold_s)` whenever the station unlocks the door. Polling from the loop
    that also uses the camera for check-ins keeps the camera on one thread.
    """

    def __init__(
        self,
        *,
        door: DoorWatch | None,
        camera: Camera | None,
        camera_watch: CameraWatch | None,
        camera_every_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.door, self.camera, self.camera_watch = door, camera, camera_watch
        self.camera_every_s = camera_every_s
        self.clock: Clock = clock or time.monotonic
        self._camera_due = self.clock()

    def grant(self, hold_s: float) -> None:
        if self.door is not None:
            self.door.grant(hold_s)

    def poll(self) -> list[TamperFinding]:
        found = self.door.poll() if self.door is not None else []
        if self.camera is None or self.camera_watch is None or self.clock() < self._camera_due:
            return found
        self._camera_due = self.clock() + self.camera_every_s
        return found + self.camera_watch.check(self.camera.capture())
