"""The quality gate and the comparison with a person's templates."""

from __future__ import annotations

import numpy as np
import pytest

from vision.decisions import Reason
from vision.detector import FaceDetection
from vision.errors import ConfigurationError, TemplateFormatError
from vision.matching import MatchPolicy, compare
from vision.pipeline import FacePipeline, FaceReading
from vision.quality import QualityLimits, check_quality, sharpness


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    kernel = 2 * radius + 1
    padded = np.pad(
        image.astype(np.float32), ((radius, radius), (radius, radius), (0, 0)), mode="edge"
    )
    total = sum(
        padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
        for dy in range(kernel)
        for dx in range(kernel)
    )
    return np.asarray(total / kernel**2).astype(np.uint8)


def test_a_sharp_frontal_face_passes(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    assert reading.descriptor.shape == (128,)
    assert sharpness(reading.chip) > QualityLimits().min_sharpness


def test_a_blurred_face_is_refused(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    assert pipeline.read(_box_blur(astronaut, 4)) is Reason.FACE_BLURRED


def test_a_small_face_is_refused(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    small = astronaut[::3, ::3]  # eyes about 15 px apart
    assert pipeline.read(np.ascontiguousarray(small)) is Reason.FACE_TOO_SMALL


def _face_with_nose_at(nose_x: float) -> FaceDetection:
    keypoints = np.array(
        [[100, 100], [160, 100], [nose_x, 135], [130, 165], [70, 110], [190, 110]], dtype=np.float64
    )
    return FaceDetection((60.0, 60.0, 200.0, 200.0), keypoints, 0.9)


def test_a_turned_head_is_refused() -> None:
    sharp_chip = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    limits = QualityLimits()
    assert check_quality(_face_with_nose_at(132), sharp_chip, limits) is None
    assert check_quality(_face_with_nose_at(158), sharp_chip, limits) is Reason.FACE_TURNED


def _at_distance(template: np.ndarray, distance: float) -> np.ndarray:
    direction = np.zeros(128, dtype=np.float32)
    direction[3] = 1.0
    return np.asarray(template + distance * direction, dtype=np.float32)


@pytest.mark.parametrize(
    ("distance", "reason"),
    [
        (0.30, Reason.MATCH),
        (0.56, Reason.UNCERTAIN),
        (0.64, Reason.UNCERTAIN),
        (0.66, Reason.NO_MATCH),
        (1.2, Reason.NO_MATCH),
    ],
)
def test_distance_bands(distance: float, reason: Reason) -> None:
    template = np.random.default_rng(1).normal(0, 0.1, 128).astype(np.float32)
    decision = compare(_at_distance(template, distance), [template], MatchPolicy(0.6, 0.05))
    assert decision.reason is reason
    assert decision.distance == pytest.approx(distance, abs=1e-5)
    assert decision.is_accepted is (reason is Reason.MATCH)


def test_the_closest_template_decides() -> None:
    template = np.zeros(128, dtype=np.float32)
    far = _at_distance(template, 2.0)
    decision = compare(_at_distance(template, 0.2), [far, template], MatchPolicy())
    assert decision.reason is Reason.MATCH
    assert decision.distance == pytest.approx(0.2, abs=1e-6)


def test_no_templates_is_its_own_reason() -> None:
    assert compare(np.zeros(128, np.float32), [], MatchPolicy()).reason is Reason.NO_TEMPLATES


@pytest.mark.parametrize("bad", [np.zeros(127, np.float32), np.full(128, np.nan, np.float32)])
def test_a_malformed_template_is_an_error(bad: np.ndarray) -> None:
    with pytest.raises(TemplateFormatError, match="re-enrol"):
        compare(np.zeros(128, np.float32), [bad], MatchPolicy())


@pytest.mark.parametrize(("threshold", "margin"), [(0.0, 0.0), (0.6, 0.7), (2.5, 0.1)])
def test_a_meaningless_policy_is_refused(threshold: float, margin: float) -> None:
    with pytest.raises(ConfigurationError):
        MatchPolicy(threshold, margin)
    with pytest.raises(ValueError):  # the builtin it also is
        MatchPolicy(threshold, margin)
