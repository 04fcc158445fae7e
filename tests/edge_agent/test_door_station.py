"""The door station's decision, stage by stage, with fake parts, a scripted face verifier and an
injected clock: no sleeps, no broker, no models."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import OutboxError
from edge_agent.hardware.base import Beeps, Frame
from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.fakes import (
    FakeBuzzer,
    FakeCamera,
    FakeCardReader,
    FakeDoorRelay,
    FakeLocation,
    FakeStatusLed,
)
from edge_agent.stations.book import Assignment, DoorBook, Geofence, Person
from edge_agent.stations.door import DoorDecision, DoorParts, DoorPolicy, DoorStation, Stage
from edge_agent.stations.reasons import FACE_REASONS
from edge_agent.store.checkins import CheckInLog
from protocols import Attempt, Attendance, AttendanceAction, EventPayload, Outcome, ReasonCode
from vision import Decision, Descriptor, Reason, Verification

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ROOM = (48.2082, 16.3738)
CARD = "04A1B2C3"
TEMPLATE = np.zeros(128, dtype=np.float32)


def _hash(uid: str) -> str:
    return hashlib.sha256(uid.encode()).hexdigest()


class Clock:
    """Wall and monotonic time that only move when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.seconds = 0.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds


@dataclass
class ScriptedVerifier:
    """Answers every verification with the scripted reason; remembers what it was given."""

    reason: Reason = Reason.MATCH
    distance: float | None = 0.31
    calls: list[tuple[int, int]] = field(default_factory=list)

    def verify(self, frames: Sequence[Frame], templates: Sequence[Descriptor]) -> Verification:
        self.calls.append((len(frames), len(templates)))
        return Verification(Decision(self.reason, self.distance, 0.6, 0.05), None, len(frames))


def _assignment(ref: str = "assignment-1") -> Assignment:
    return Assignment(
        session_ref="session-1",
        assignment_ref=ref,
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        check_in_opens_at=START - timedelta(minutes=30),
        check_in_closes_at=START + timedelta(minutes=15),
    )


SUPERVISOR = Person("user-7", "Ada", (_assignment(),), templates=lambda: [TEMPLATE])


class Rig:
    """A door station on fake parts, recording events into a list."""

    def __init__(self, tmp_path: Path, *, keep_evidence: bool = False) -> None:
        self.clock = Clock(START - timedelta(minutes=10))
        self.verifier = ScriptedVerifier()
        self.events: list[EventPayload] = []
        self.location = FakeLocation()
        self.location.move_to(*ROOM)
        self.parts = DoorParts(
            reader=FakeCardReader(),
            camera=FakeCamera([np.full((480, 640, 3), 120, dtype=np.uint8)]),
            relay=FakeDoorRelay(self.clock.monotonic),
            green=FakeStatusLed(self.clock.monotonic, "green"),
            red=FakeStatusLed(self.clock.monotonic, "red"),
            buzzer=FakeBuzzer(self.clock.monotonic),
            location=self.location,
        )
        self.book = DoorBook(
            hash_card=_hash,
            people={_hash(CARD): SUPERVISOR},
            geofence=Geofence(*ROOM, radius_m=None),
        )
        self.station = DoorStation(
            parts=self.parts,
            book=lambda: self.book,
            verifier=self.verifier,
            record=self.events.append,
            checkins=CheckInLog(tmp_path / "checkins.sqlite3"),
            policy=DoorPolicy(frames=5, keep_evidence=keep_evidence),
            wall_clock=self.clock.wall,
            monotonic=self.clock.monotonic,
            evidence_dir=tmp_path / "evidence",
        )

    def tap(self, uid: str = CARD) -> DoorDecision:
        self.parts.reader.present(uid)  # type: ignore[attr-defined]
        decision = self.station.serve(timeout_s=0)
        assert decision is not None
        return decision


def _refusal(rig: Rig) -> Attempt:
    (event,) = rig.events
    assert isinstance(event, Attempt) and event.outcome is Outcome.REFUSED
    return event


def _shown_refused(rig: Rig) -> bool:
    buzzer = rig.parts.buzzer
    assert isinstance(buzzer, FakeBuzzer)
    return (
        rig.parts.red.is_lit
        and not rig.parts.relay.is_unlocked
        and [pattern for _, pattern in buzzer.played] == [Beeps.REFUSED]
    )


def test_every_vision_reason_has_a_wire_reason_code() -> None:
    assert set(FACE_REASONS) == set(Reason)
    assert FACE_REASONS[Reason.MATCH] is ReasonCode.OK
    assert ReasonCode.OK not in {FACE_REASONS[r] for r in Reason if r is not Reason.MATCH}


def test_a_supervisor_in_the_window_checks_in_and_the_door_opens(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    decision = rig.tap()
    assert decision.is_accepted and decision.action is AttendanceAction.CHECK_IN
    assert rig.events == [
        Attendance(
            action=AttendanceAction.CHECK_IN,
            person_ref="user-7",
            assignment_ref="assignment-1",
            face_distance=0.31,
        )
    ]
    assert rig.parts.relay.is_unlocked and rig.parts.green.is_lit and not rig.parts.red.is_lit
    assert rig.verifier.calls == [(5, 1)]
    rig.clock.seconds += 3.0  # the pulse ends by itself
    assert not rig.parts.relay.is_unlocked
    assert set(decision.timings) == set(Stage)


def test_the_event_is_committed_before_anything_is_shown(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    seen_when_recorded: list[tuple[bool, bool, int]] = []

    def record(event: EventPayload) -> None:
        buzzer = rig.parts.buzzer
        assert isinstance(buzzer, FakeBuzzer)
        seen_when_recorded.append(
            (rig.parts.relay.is_unlocked, rig.parts.green.is_lit, len(buzzer.played))
        )

    rig.station._record = record
    rig.tap()
    assert seen_when_recorded == [(False, False, 0)]
    assert rig.parts.relay.is_unlocked


def test_an_unknown_card_is_refused_without_looking_at_the_camera(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    decision = rig.tap("DEADBEEF")
    assert decision.reason is ReasonCode.UNKNOWN_CARD
    assert _refusal(rig).subject_ref is None
    assert rig.verifier.calls == [] and _shown_refused(rig)


def test_a_person_with_no_assignment_here_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.book = DoorBook(hash_card=_hash, people={_hash(CARD): Person("user-8", "Bo")})
    assert rig.tap().reason is ReasonCode.NO_ASSIGNMENT
    assert _refusal(rig).subject_ref == "user-8"


@pytest.mark.parametrize("reason", [r for r in Reason if r is not Reason.MATCH])
def test_each_face_refusal_carries_its_own_code(tmp_path: Path, reason: Reason) -> None:
    rig = Rig(tmp_path)
    rig.verifier.reason = reason
    decision = rig.tap()
    assert decision.reason is FACE_REASONS[reason]
    event = _refusal(rig)
    assert event.reason is FACE_REASONS[reason] and event.subject_ref == "user-7"
    assert _shown_refused(rig)


def test_a_device_moved_away_from_the_room_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.location.move_to(48.2100, 16.3738)  # about 200 m north
    decision = rig.tap()
    assert decision.reason is ReasonCode.OUTSIDE_GEOFENCE
    assert decision.detail is not None and "allowed 100 m" in decision.detail


def test_the_room_s_own_radius_wins_over_the_profile_default(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.book = DoorBook(
        hash_card=_hash, people={_hash(CARD): SUPERVISOR}, geofence=Geofence(*ROOM, 500)
    )
    rig.location.move_to(48.2100, 16.3738)
    assert rig.tap().is_accepted


def test_no_position_fix_is_a_fault_not_a_pass(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.location.lose_fix()
    assert rig.tap().reason is ReasonCode.HARDWARE_FAULT


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-31), timedelta(hours=2, minutes=16)], ids=["early", "late"]
)
def test_a_tap_outside_the_window_is_refused(tmp_path: Path, offset: timedelta) -> None:
    rig = Rig(tmp_path)
    rig.clock.now = START + offset
    assert rig.tap().reason is ReasonCode.OUTSIDE_WINDOW


def test_a_second_tap_in_the_check_in_window_is_already_checked_in(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.tap().action is AttendanceAction.CHECK_IN
    rig.events.clear()
    assert rig.tap().reason is ReasonCode.ALREADY_CHECKED_IN
    assert _refusal(rig).reason is ReasonCode.ALREADY_CHECKED_IN


def test_after_the_check_in_window_a_checked_in_supervisor_checks_out(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.tap()
    rig.clock.now = START + timedelta(hours=2)
    decision = rig.tap()
    assert decision.is_accepted and decision.action is AttendanceAction.CHECK_OUT
    assert rig.tap().reason is ReasonCode.ALREADY_CHECKED_IN


def test_check_in_state_survives_a_restart(tmp_path: Path) -> None:
    Rig(tmp_path).tap()
    assert Rig(tmp_path).tap().reason is ReasonCode.ALREADY_CHECKED_IN


def test_a_refused_face_keeps_evidence_only_when_the_profile_says_so(tmp_path: Path) -> None:
    quiet, keeper = Rig(tmp_path / "a"), Rig(tmp_path / "b", keep_evidence=True)
    for rig in (quiet, keeper):
        rig.verifier.reason = Reason.NO_MATCH
        rig.tap()
    assert _refusal(quiet).evidence_ref is None
    assert not (tmp_path / "a" / "evidence").exists()
    ref = _refusal(keeper).evidence_ref
    assert ref is not None and ref.startswith("local:")
    kept = tmp_path / "b" / "evidence" / ref.removeprefix("local:")
    magic, width, height, _ = kept.read_bytes().split(maxsplit=4)[:4]
    assert magic == b"P6" and int(width) <= 96 and int(height) <= 96


def test_a_decision_that_cannot_be_kept_is_never_shown_as_accepted(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def broken(event: EventPayload) -> None:
        raise OutboxError("disk full")

    rig.station._record = broken
    decision = rig.tap()
    assert decision.reason is ReasonCode.HARDWARE_FAULT and _shown_refused(rig)


def test_a_camera_fault_refuses_with_a_fault(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def dead(count: int) -> list[Frame]:
        raise HardwareError("camera unplugged")

    rig.parts.camera.capture_burst = dead  # type: ignore[method-assign]
    decision = rig.tap()
    assert decision.reason is ReasonCode.HARDWARE_FAULT
    assert decision.detail == "camera unplugged"


def test_no_card_no_decision(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.station.serve(timeout_s=0) is None
    assert rig.events == []


def test_with_the_real_face_pipeline_a_live_head_checks_in_and_a_photo_does_not(
    tmp_path: Path,
) -> None:
    import skimage.data

    from tests.vision.frames import affine_frame, small_rigid_motions, turned_head_frame
    from vision import FacePipeline, FaceReading

    astronaut = np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    pipeline = FacePipeline()
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    live = [astronaut] + [turned_head_frame(astronaut, a) for a in (0.6, -0.8, 1.0, -1.0)]
    photo = [astronaut] + [affine_frame(astronaut, m) for m in small_rigid_motions(4, seed=4)]
    outcomes = []
    for name, frames in (("live", live), ("photo", photo)):
        rig = Rig(tmp_path / name)
        rig.station._verifier = pipeline
        rig.book = DoorBook(
            hash_card=_hash,
            people={
                _hash(CARD): Person("user-7", "Ada", (_assignment(),), lambda: [reading.descriptor])
            },
        )
        rig.parts.camera.show(*frames)  # type: ignore[attr-defined]
        outcomes.append(rig.tap().reason)
    assert outcomes == [ReasonCode.OK, ReasonCode.NOT_LIVE]


@pytest.mark.parametrize("distance", [float("nan"), float("inf"), -0.5])
def test_a_strange_distance_from_the_verifier_never_breaks_the_event(
    tmp_path: Path, distance: float
) -> None:
    rig = Rig(tmp_path)
    rig.verifier.reason, rig.verifier.distance = Reason.NO_MATCH, distance
    assert rig.tap().reason is ReasonCode.FACE_MISMATCH
    recorded = _refusal(rig).face_distance
    assert recorded is None or recorded == 0.0
