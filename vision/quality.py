"""Quality gate: is this face big, sharp and frontal enough to be worth comparing?

Sharpness is measured on the frame's own pixels around the face, never on the enlarged chip: an
enlarged small face looks soft however sharp it was, so the old measure refused resolution, not
blur. A large face is first reduced (box average, by a whole factor) to about
`SHARPNESS_EYE_DISTANCE_PX` between the eyes, the scale that matters to a 112-150 px chip. Camera
noise inflates a Laplacian's variance, so the noise's share, estimated with Immerkaer's
structure-blind operator, is subtracted: adding noise cannot make a blurred face pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.decisions import Reason
from vision.detector import FaceDetection, Keypoint
from vision.errors import ConfigurationError
from vision.images import RGBImage, to_grey

# Faces with wider-set eyes are box-averaged down to about this before sharpness is measured.
SHARPNESS_EYE_DISTANCE_PX = 48.0
# The 4-neighbour Laplacian's weights (1, 1, 1, 1, -4) square-sum to 20: white noise of
# variance s^2 gives the Laplacian a variance of 20 s^2.
LAPLACIAN_NOISE_GAIN = 20.0
# The noise estimate is itself noisy (about 1% in variance on a face region): subtracting 10%
# more keeps heavy noise on a blurred face from leaving a spurious remainder.
NOISE_SAFETY = 1.1


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds of the gate; a firmware profile may tighten or relax them.

    Calibrated on ordinary photos with bench/face_accuracy.py (docs/face-verification.md).
    """

    min_eye_distance_px: float = 24.0
    # Noise-corrected variance of the Laplacian around the face, at the face's own resolution.
    # Ordinary photos score 170-1,500; a Gaussian blur of 2 px at 48 px between the eyes (which
    # moves an SFace descriptor by 0.4-0.6) scores 1-20; of 1 px (0.2-0.35) scores 4-90.
    min_sharpness: float = 10.0
    # Nose-tip offset from the eyes' midpoint, as a fraction of the eye distance (yaw); ordinary
    # photos reach 0.22, and 0.35 refused 9% of an acceptance set that verified almost as well.
    max_yaw_ratio: float = 0.45
    max_roll_degrees: float = 35.0

    def __post_init__(self) -> None:
        if (
            self.min_eye_distance_px < 0
            or self.min_sharpness < 0
            or self.max_yaw_ratio <= 0
            or not 0 < self.max_roll_degrees <= 180
        ):
            raise ConfigurationError(
                "quality limits out of range: eye distance and sharpness >= 0, yaw ratio > 0, "
                "roll in (0, 180] degrees"
            )


def _laplacian(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1],
        dtype=np.float32,
    )


def noise_sigma(grey: npt.NDArray[np.float32]) -> float:
    """Immerkaer's fast estimate of additive noise (1996): structure-blind, one pass."""
    if min(grey.shape) < 3:
        return 0.0
    response = (
        grey[:-2, :-2] + grey[:-2, 2:] + grey[2:, :-2] + grey[2:, 2:]
        - 2 * (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:])
        + 4 * grey[1:-1, 1:-1]
    )  # fmt: skip
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def face_region(frame: RGBImage, face: FaceDetection) -> npt.NDArray[np.float32]:
    """Grey pixels of the eyes-nose-mouth square, at the frame's resolution (box-reduced when
    the face is larger than the measuring scale)."""
    points = face.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE, Keypoint.MOUTH]]
    centre = points.mean(axis=0)
    half = 0.8 * max(face.eye_distance, float(np.linalg.norm(points[2] - points[:2].mean(0))))
    height, width = frame.shape[:2]
    x0, x1 = (int(np.clip(centre[0] + s * half, 0, width)) for s in (-1, 1))
    y0, y1 = (int(np.clip(centre[1] + s * half, 0, height)) for s in (-1, 1))
    grey = to_grey(frame[y0:y1, x0:x1])
    factor = max(1, int(face.eye_distance / SHARPNESS_EYE_DISTANCE_PX))
    if factor > 1:
        rows, cols = grey.shape[0] // factor, grey.shape[1] // factor
        blocks = grey[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
        grey = np.asarray(blocks.mean(axis=(1, 3)), dtype=np.float32)
    return grey


def sharpness(frame: RGBImage, face: FaceDetection) -> float:
    """Variance of the Laplacian around the face, less what the camera's noise contributes."""
    grey = face_region(frame, face)
    if min(grey.shape) < 5:
        return 0.0
    variance = float(_laplacian(grey).var())
    return max(0.0, variance - NOISE_SAFETY * LAPLACIAN_NOISE_GAIN * noise_sigma(grey) ** 2)


def signed_yaw_ratio(face: FaceDetection) -> float:
    """Nose-tip offset along the eye axis, in eye distances; its sign says which way."""
    eyes = face.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE]]
    axis = eyes[1] - eyes[0]
    offset = face.keypoints[Keypoint.NOSE_TIP] - eyes.mean(axis=0)
    return float((offset @ axis) / max(float(axis @ axis), 1e-9))


def yaw_ratio(face: FaceDetection) -> float:
    return abs(signed_yaw_ratio(face))


def roll_degrees(face: FaceDetection) -> float:
    axis = face.keypoints[Keypoint.LEFT_EYE] - face.keypoints[Keypoint.RIGHT_EYE]
    return float(np.degrees(np.arctan2(axis[1], axis[0])))


def check_quality(face: FaceDetection, frame: RGBImage, limits: QualityLimits) -> Reason | None:
    """None when the face passes, else the reason it is refused."""
    if face.eye_distance < limits.min_eye_distance_px:
        return Reason.FACE_TOO_SMALL
    if yaw_ratio(face) > limits.max_yaw_ratio or abs(roll_degrees(face)) > limits.max_roll_degrees:
        return Reason.FACE_TURNED
    if sharpness(frame, face) < limits.min_sharpness:
        return Reason.FACE_BLURRED
    return None
