"""The door station: a supervisor taps a card, the device decides on the spot, offline too.

card presented → look the card up in the roster → capture frames → face and liveness (`vision`)
→ geofence → assignment window → decision → event committed to the outbox → LEDs, buzzer, relay.

Each stage is a function in `STAGES` that either lets the attempt go on or ends it with a reason
code; the first refusal wins. The station is pure apart from its parts, its clocks and the
`record` callable it is given, so tests drive it with fakes and an injected clock.
"""

import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np
from geographiclib.geodesic import Geodesic

from edge_agent.errors import EdgeError
from edge_agent.hardware.base import (
    Beeps,
    Buzzer,
    Camera,
    CardReader,
    DoorRelay,
    Frame,
    LocationSource,
    StatusLed,
)
from edge_agent.hardware.errors import HardwareError
from edge_agent.stations.book import Assignment, DoorBook, Person
from edge_agent.stations.reasons import face_reason_code
from edge_agent.store.checkins import CheckInLog
from protocols import (
    Attempt,
    Attendance,
    AttendanceAction,
    Credential,
    EventPayload,
    Outcome,
    ReasonCode,
    Station,
)
from vision import Descriptor, Verification

log = logging.getLogger(__name__)

DEFAULT_GEOFENCE_RADIUS_M = 100.0
EVIDENCE_WIDTH = 96  # pixels: enough for a person to recognise a face, too small to be a photo


class Stage(StrEnum):
    """The named steps of one attempt; also the keys of `DoorDecision.timings`."""

    CARD = "card"
    CAPTURE = "capture"
    FACE = "face"
    GEOFENCE = "geofence"
    WINDOW = "window"
    COMMIT = "commit"


class FaceVerifier(Protocol):
    """What the station needs from `vision.FacePipeline`."""

    def verify(self, frames: Sequence[Frame], templates: Sequence[Descriptor]) -> Verification: ...


@dataclass(frozen=True)
class DoorParts:
    """The hardware a door station is composed of (built from the firmware profile)."""

    reader: CardReader
    camera: Camera
    relay: DoorRelay
    green: StatusLed
    red: StatusLed
    buzzer: Buzzer
    location: LocationSource


@dataclass(frozen=True)
class DoorPolicy:
    """The station's settings, converted once from the firmware profile."""

    frames: int = 5
    geofence_radius_m: float = DEFAULT_GEOFENCE_RADIUS_M
    relay_hold_s: float = 3.0
    keep_evidence: bool = False
    location_timeout_s: float = 0.5


@dataclass(frozen=True)
class DoorDecision:
    """What the station decided about one tap, and how long each stage took (seconds)."""

    reason: ReasonCode
    person_ref: str | None = None
    action: AttendanceAction | None = None
    assignment_ref: str | None = None
    face_distance: float | None = None
    detail: str | None = None
    evidence_ref: str | None = None
    timings: Mapping[Stage, float] = field(default_factory=dict)

    @property
    def is_accepted(self) -> bool:
        return self.reason is ReasonCode.OK


@dataclass
class _Attempt:
    """What one attempt has learnt so far, passed from stage to stage."""

    uid: str
    person: Person | None = None
    frames: list[Frame] = field(default_factory=list)
    face_distance: float | None = None
    assignment: Assignment | None = None
    action: AttendanceAction | None = None
    detail: str | None = None
    evidence_ref: str | None = None


class DoorStation:
    """Serves taps at one door. `serve(timeout_s)` waits for a card and handles it;
    `present(uid)` handles a card already read. Thread-confined: one station, one thread.
    """

    def __init__(
        self,
        *,
        parts: DoorParts,
        book: Callable[[], DoorBook],
        verifier: FaceVerifier,
        record: Callable[[EventPayload], object],
        checkins: CheckInLog,
        policy: DoorPolicy | None = None,
        wall_clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        evidence_dir: Path | None = None,
        when_unlocking: Callable[[float], object] | None = None,
    ) -> None:
        self.parts = parts
        self._book = book
        self._verifier = verifier
        self._record = record
        self._checkins = checkins
        self.policy = policy or DoorPolicy()
        self._now = wall_clock
        self._monotonic = monotonic
        self._evidence_dir = evidence_dir
        self.when_unlocking = when_unlocking

    def serve(self, timeout_s: float) -> DoorDecision | None:
        """Wait up to `timeout_s` for a card and handle it; None if no card came."""
        uid = self.parts.reader.read(timeout_s)
        return None if uid is None else self.present(uid)

    def present(self, uid: str) -> DoorDecision:
        """Decide, commit the event, then show the decision: nobody sees what was not kept."""
        decision = self.decide(uid)
        started = self._monotonic()
        try:
            self._record(_event_for(decision))
            if decision.action is not None and decision.assignment_ref is not None:
                self._checkins.remember(decision.assignment_ref, decision.action, self._now())
        except EdgeError as error:
            log.error("the decision for a tap could not be kept, showing a fault: %s", error)
            decision = DoorDecision(ReasonCode.HARDWARE_FAULT, detail=str(error)[:500])
        decision = replace(
            decision, timings={**decision.timings, Stage.COMMIT: self._monotonic() - started}
        )
        self._show(decision)
        return decision

    def decide(self, uid: str) -> DoorDecision:
        """Run the stages in order; the first that refuses gives the reason."""
        attempt = _Attempt(uid)
        timings: dict[Stage, float] = {}
        reason = ReasonCode.OK
        for stage, check in STAGES:
            started = self._monotonic()
            try:
                refusal = check(self, attempt)
            except HardwareError as error:
                refusal, attempt.detail = ReasonCode.HARDWARE_FAULT, str(error)[:500]
            timings[stage] = timings.get(stage, 0.0) + self._monotonic() - started
            if refusal is not None:
                reason = refusal
                break
        if reason is not ReasonCode.OK and attempt.frames and self.policy.keep_evidence:
            attempt.evidence_ref = self._keep_evidence(attempt.frames[0])
        return _decision(reason, attempt, timings)

    # --- stages: each returns None to go on, or the reason that ends the attempt -----------

    def _look_up_card(self, attempt: _Attempt) -> ReasonCode | None:
        attempt.person = self._book().find_card(attempt.uid)
        return ReasonCode.UNKNOWN_CARD if attempt.person is None else None

    def _check_assigned(self, attempt: _Attempt) -> ReasonCode | None:
        assert attempt.person is not None
        return None if attempt.person.assignments else ReasonCode.NO_ASSIGNMENT

    def _capture(self, attempt: _Attempt) -> ReasonCode | None:
        attempt.frames = self.parts.camera.capture_burst(self.policy.frames)
        return None

    def _verify_face(self, attempt: _Attempt) -> ReasonCode | None:
        assert attempt.person is not None
        templates = attempt.person.templates()  # opened in memory for this attempt only
        verification = self._verifier.verify(attempt.frames, templates)
        distance = verification.decision.distance
        if distance is not None and math.isfinite(distance):  # the wire refuses NaN and inf
            attempt.face_distance = round(max(distance, 0.0), 4)
        code = face_reason_code(verification.decision.reason)
        return None if code is ReasonCode.OK else code

    def _check_geofence(self, attempt: _Attempt) -> ReasonCode | None:
        fence = self._book().geofence
        if fence is None:
            return None
        position = self.parts.location.read(self.policy.location_timeout_s)
        if position is None:
            attempt.detail = "no position fix, so the geofence cannot be checked"
            return ReasonCode.HARDWARE_FAULT
        radius = fence.radius_m or self.policy.geofence_radius_m
        here = (position.latitude, position.longitude)
        distance = geodesic_m(*here, fence.latitude, fence.longitude)
        if distance <= radius:
            return None
        attempt.detail = f"device is {distance:.0f} m from the room; allowed {radius:.0f} m"
        return ReasonCode.OUTSIDE_GEOFENCE

    def _check_window(self, attempt: _Attempt) -> ReasonCode | None:
        assert attempt.person is not None
        now = self._now()
        is_repeat = False
        for assignment in attempt.person.assignments:
            last = self._checkins.last_action(_assignment_key(attempt.person, assignment))
            if last is None and assignment.is_check_in_open(now):
                attempt.assignment, attempt.action = assignment, AttendanceAction.CHECK_IN
                return None
            if last is AttendanceAction.CHECK_IN and assignment.is_check_out_open(now):
                attempt.assignment, attempt.action = assignment, AttendanceAction.CHECK_OUT
                return None
            if last is not None and (
                assignment.is_check_in_open(now) or assignment.is_check_out_open(now)
            ):
                is_repeat = True
        return ReasonCode.ALREADY_CHECKED_IN if is_repeat else ReasonCode.OUTSIDE_WINDOW

    # --- showing ------------------------------------------------------------------------------

    def _show(self, decision: DoorDecision) -> None:
        parts = self.parts
        try:
            if decision.is_accepted:
                if self.when_unlocking is not None:  # the door watch: this opening is granted
                    self.when_unlocking(self.policy.relay_hold_s)
                parts.relay.pulse(self.policy.relay_hold_s)
                parts.green.blink(self.policy.relay_hold_s, 0.0, times=1)
                parts.buzzer.play(Beeps.ACCEPTED)
            else:
                parts.red.blink(0.2, 0.2, times=3)
                parts.buzzer.play(Beeps.REFUSED)
        except HardwareError as error:
            # The decision is already kept; a dead LED must not stop the next tap.
            log.error("could not show the decision: %s", error)

    def _keep_evidence(self, frame: Frame) -> str | None:
        """A thumbnail kept on the device as a binary PPM; its name goes in the event."""
        if self._evidence_dir is None:
            return None
        step = max(1, -(-frame.shape[1] // EVIDENCE_WIDTH))  # rounded up
        small = np.ascontiguousarray(frame[::step, ::step, :3], dtype=np.uint8)
        name = f"{uuid.uuid4()}.ppm"
        try:
            self._evidence_dir.mkdir(parents=True, exist_ok=True)
            header = f"P6 {small.shape[1]} {small.shape[0]} 255\n".encode()
            (self._evidence_dir / name).write_bytes(header + small.tobytes())
        except OSError as error:
            log.warning("evidence crop not kept: %s", error)
            return None
        return f"local:{name}"


def _assignment_key(person: Person, assignment: Assignment) -> str:
    return assignment.assignment_ref or f"{person.person_ref}@{assignment.session_ref}"


def _decision(reason: ReasonCode, attempt: _Attempt, timings: dict[Stage, float]) -> DoorDecision:
    person, assignment = attempt.person, attempt.assignment
    return DoorDecision(
        reason=reason,
        person_ref=None if person is None else person.person_ref,
        action=attempt.action if reason is ReasonCode.OK else None,
        assignment_ref=(
            None if person is None or assignment is None else _assignment_key(person, assignment)
        ),
        face_distance=attempt.face_distance,
        detail=attempt.detail,
        evidence_ref=attempt.evidence_ref,
        timings=timings,
    )


def _event_for(decision: DoorDecision) -> EventPayload:
    """An accepted tap is attendance; a refused one is an attempt with its reason."""
    if decision.is_accepted and decision.action is not None and decision.person_ref is not None:
        return Attendance(
            action=decision.action,
            person_ref=decision.person_ref,
            assignment_ref=decision.assignment_ref,
            face_distance=decision.face_distance,
        )
    return Attempt(
        station=Station.DOOR,
        credential=Credential.CARD,
        outcome=Outcome.REFUSED,
        reason=decision.reason,
        subject_ref=decision.person_ref,
        face_distance=decision.face_distance,
        detail=decision.detail,
        evidence_ref=decision.evidence_ref,
    )


Check = Callable[[DoorStation, _Attempt], ReasonCode | None]
STAGES: tuple[tuple[Stage, Check], ...] = (
    (Stage.CARD, DoorStation._look_up_card),
    (Stage.CARD, DoorStation._check_assigned),
    (Stage.CAPTURE, DoorStation._capture),
    (Stage.FACE, DoorStation._verify_face),
    (Stage.GEOFENCE, DoorStation._check_geofence),
    (Stage.WINDOW, DoorStation._check_window),
)


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two points on the WGS 84 ellipsoid (Karney's algorithm)."""
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"])
