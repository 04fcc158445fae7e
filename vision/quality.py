"""Quality gate: is this face big, sharp and frontal enough to be worth comparing?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.decisions import Reason
from vision.detector import FaceDetection, Keypoint
from vision.images import RGBImage, to_grey


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds of the gate; a firmware profile may tighten or relax them."""

    min_eye_distance_px: float = 24.0
    # Variance of the Laplacian over the aligned chip's centre; sharp faces score in the hundreds.
    min_sharpness: float = 40.0
    # Nose-tip offset from the eyes' midpoint, as a fraction of the eye distance (yaw).
    max_yaw_ratio: float = 0.35
    max_roll_degrees: float = 30.0


def sharpness(chip: RGBImage) -> float:
    """Variance of a 4-neighbour Laplacian over the chip's central face area."""
    grey = to_grey(chip[30:120, 30:120])
    laplacian = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    )
    return float(laplacian.var())


def yaw_ratio(face: FaceDetection) -> float:
    eyes = face.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE]]
    axis = eyes[1] - eyes[0]
    offset = face.keypoints[Keypoint.NOSE_TIP] - eyes.mean(axis=0)
    return float(abs(offset @ axis) / max(float(axis @ axis), 1e-9))


def roll_degrees(face: FaceDetection) -> float:
    axis = face.keypoints[Keypoint.LEFT_EYE] - face.keypoints[Keypoint.RIGHT_EYE]
    return float(np.degrees(np.arctan2(axis[1], axis[0])))


def check_quality(face: FaceDetection, chip: RGBImage, limits: QualityLimits) -> Reason | None:
    """None when the face passes, else the reason it is refused."""
    if face.eye_distance < limits.min_eye_distance_px:
        return Reason.FACE_TOO_SMALL
    if yaw_ratio(face) > limits.max_yaw_ratio or abs(roll_degrees(face)) > limits.max_roll_degrees:
        return Reason.FACE_TURNED
    if sharpness(chip) < limits.min_sharpness:
        return Reason.FACE_BLURRED
    return None
