"""Alignment: a similarity transform from detector keypoints to the embedder's chip.

Each embedder names its chip size and where the four keypoints go in models/MANIFEST; the
defaults here are dlib's 150x150 chip.

Enrolment and verification must both use this module: descriptors of chips aligned in different
ways differ by about L2 0.16, a quarter of the match threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vision.detector import FaceDetection, Keypoint
from vision.images import Affine2x3, RGBImage, warp_to_chip

CHIP_SIZE = 150
# Where BlazeFace's eyes, nose tip and mouth fall, on average, inside dlib's 150x150 chips with
# padding 0.25 (the chips the ResNet was trained on); measured in the feasibility study.
CHIP_TEMPLATE = np.array(
    [
        [45.3, 46.4],  # right eye (image left)
        [101.4, 46.4],  # left eye
        [71.2, 77.4],  # nose tip
        [71.7, 105.9],  # mouth centre
    ]
)
ALIGNMENT_KEYPOINTS = (Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE, Keypoint.NOSE_TIP, Keypoint.MOUTH)


def similarity_transform(
    source: npt.NDArray[np.float64], target: npt.NDArray[np.float64]
) -> Affine2x3:
    """Least-squares rotation, uniform scale and shift from source to target (Umeyama)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - source_mean, target - target_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ reflection @ vt
    scale = float(np.trace(np.diag(singular) @ reflection) / (src**2).sum(axis=1).mean())
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def invert_affine(matrix: Affine2x3) -> Affine2x3:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.asarray(np.linalg.inv(full)[:2], dtype=np.float64)


def frame_to_chip(
    face: FaceDetection, template: npt.NDArray[np.float64] = CHIP_TEMPLATE
) -> Affine2x3:
    """The transform taking frame pixels to chip pixels for this face."""
    points = face.keypoints[list(ALIGNMENT_KEYPOINTS)]
    return similarity_transform(points, template)


def align_face(
    frame: RGBImage,
    face: FaceDetection,
    template: npt.NDArray[np.float64] = CHIP_TEMPLATE,
    size: int = CHIP_SIZE,
) -> RGBImage:
    """The size x size RGB chip the embedder expects, cut straight from the frame."""
    return warp_to_chip(frame, invert_affine(frame_to_chip(face, template)), size)
