"""Alignment: similarity transforms and the chip cut from keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from vision.alignment import CHIP_SIZE, CHIP_TEMPLATE, align_face, similarity_transform
from vision.detector import FaceDetection


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.radians(angle_deg)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([rotation, np.array(shift)[:, None]])


def test_similarity_transform_recovers_a_known_map() -> None:
    truth = _similarity(17.0, 1.7, (40.0, -12.0))
    source = np.random.default_rng(0).uniform(0, 200, (6, 2))
    target = source @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(similarity_transform(source, target), truth, atol=1e-9)


def test_similarity_transform_never_mirrors() -> None:
    source = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mirrored = source * np.array([-1.0, 1.0])
    matrix = similarity_transform(source, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_chip_puts_the_keypoints_on_the_template() -> None:
    # A synthetic frame: a bright dot at each keypoint of a face turned by 20 degrees.
    to_frame = _similarity(20.0, 2.0, (300.0, 150.0))
    keypoints4 = CHIP_TEMPLATE @ to_frame[:, :2].T + to_frame[:, 2]
    frame = np.zeros((600, 700, 3), dtype=np.uint8)
    for x, y in keypoints4:
        frame[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = 255
    keypoints = np.vstack([keypoints4, keypoints4[:2]])  # ears unused by alignment
    face = FaceDetection((0.0, 0.0, 10.0, 10.0), keypoints, 0.9)
    chip = align_face(frame, face)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    for x, y in CHIP_TEMPLATE:
        assert chip[round(y), round(x), 0] > 200
    assert chip.mean() < 20  # nothing but the dots


def test_alignment_is_the_same_for_a_moved_frame(pipeline, astronaut) -> None:  # type: ignore[no-untyped-def]
    from tests.vision.frames import affine_frame

    moved = affine_frame(astronaut, _similarity(8.0, 0.9, (20.0, 15.0)))
    first, second = pipeline.read(astronaut), pipeline.read(moved)
    difference = np.abs(first.chip.astype(float) - second.chip.astype(float))[25:125, 25:125]
    assert difference.mean() < 15  # same face, same place, up to 1-2 px of keypoint jitter
    # A third of the match threshold: the same face, whichever embedder is the default.
    assert np.linalg.norm(first.descriptor - second.descriptor) < pipeline.match.threshold / 3


@pytest.mark.parametrize("shape", [(100, 100), (100, 100, 4)])
def test_frames_that_are_not_rgb_are_refused(pipeline, shape: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    from vision.errors import ImageFormatError

    with pytest.raises(ImageFormatError, match="RGB"):
        pipeline.read(np.zeros(shape, dtype=np.uint8))
