"""The quality gate and the comparison with a person's templates."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vision.decisions import Reason
from vision.detector import FaceDetection
from vision.errors import ConfigurationError, TemplateFormatError
from vision.matching import MatchPolicy, compare
from vision.pipeline import FacePipeline, FaceReading
from vision.quality import QualityLimits, check_quality, face_region, sharpness


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


def _with_noise(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noisy = image.astype(np.float64) + np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _shrunk(image: np.ndarray, side: int) -> np.ndarray:
    """Box-filtered down to side x side: a smaller face, as sharp as its pixels allow."""
    small = Image.fromarray(image).resize((side, side), Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(small))


def test_a_sharp_frontal_face_passes(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    reading = pipeline.read(astronaut)
    assert isinstance(reading, FaceReading)
    assert reading.descriptor.shape == (128,)
    assert sharpness(astronaut, reading.face) > 10 * QualityLimits().min_sharpness


def test_a_blurred_face_is_refused(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    assert pipeline.read(_box_blur(astronaut, 4)) is Reason.FACE_BLURRED


def test_noise_does_not_make_a_blurred_face_pass(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    for sigma in (4.0, 8.0, 16.0):
        assert pipeline.read(_with_noise(_box_blur(astronaut, 4), sigma)) is Reason.FACE_BLURRED


def test_a_small_sharp_face_is_measured_at_its_own_resolution(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    # Eyes about 28 px apart: the chip enlarges this face twice, which the old measure (taken on
    # the chip) refused as blurred although every pixel is sharp.
    small = _shrunk(astronaut, 340)
    reading = pipeline.read(small)
    assert isinstance(reading, FaceReading), reading
    assert 24 < reading.face.eye_distance < 40
    assert sharpness(small, reading.face) > QualityLimits().min_sharpness


def test_a_large_face_is_measured_at_the_embedders_scale(astronaut: np.ndarray) -> None:
    face = FaceDetection(
        (150.0, 60.0, 300.0, 220.0),
        np.array([[190, 110], [250, 110], [220, 140], [220, 170], [170, 120], [270, 120]], float),
        0.9,
    )
    assert face_region(astronaut, face).shape[0] > 60
    big = np.ascontiguousarray(np.repeat(np.repeat(astronaut, 3, axis=0), 3, axis=1))
    keypoints = face.keypoints * 3
    big_face = FaceDetection(tuple(v * 3 for v in face.box), keypoints, 0.9)  # type: ignore[arg-type]
    # Three times the pixels, reduced back by three: about the same sharpness, not a ninth.
    ratio = sharpness(big, big_face) / sharpness(astronaut, face)
    assert 0.5 < ratio < 2.0


def _face_with_nose_at(nose_x: float) -> FaceDetection:
    keypoints = np.array(
        [[100, 100], [160, 100], [nose_x, 135], [130, 165], [70, 110], [190, 110]], dtype=np.float64
    )
    return FaceDetection((60.0, 60.0, 200.0, 200.0), keypoints, 0.9)


def test_a_turned_head_is_refused() -> None:
    # Sharp edges, not noise: the gate discounts pure noise as not sharp at all.
    squares = ((np.arange(300)[:, None] // 4 + np.arange(300)[None, :] // 4) % 2) * 200 + 20
    sharp_frame = np.repeat(squares[..., None], 3, axis=2).astype(np.uint8)
    limits = QualityLimits()
    assert check_quality(_face_with_nose_at(132), sharp_frame, limits) is None
    # Yaw 0.42 passes the default (calibrated on ordinary photos), not a stricter profile.
    assert check_quality(_face_with_nose_at(155), sharp_frame, limits) is None
    strict = QualityLimits(max_yaw_ratio=0.35)
    assert check_quality(_face_with_nose_at(155), sharp_frame, strict) is Reason.FACE_TURNED
    assert check_quality(_face_with_nose_at(170), sharp_frame, limits) is Reason.FACE_TURNED


@pytest.mark.parametrize(
    "limits",
    [
        {"min_eye_distance_px": -1.0},
        {"min_sharpness": -5.0},
        {"max_yaw_ratio": 0.0},
        {"max_roll_degrees": 200.0},
    ],
)
def test_meaningless_quality_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        QualityLimits(**limits)


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
