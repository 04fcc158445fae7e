"""How open the eyes are, from MediaPipe's iris-landmark model: the blink cue of liveness.

Each eye is cut from the frame as a 64x64 crop centred on BlazeFace's eye keypoint, one eye
distance wide and turned so the eyes are level; the person's left eye is mirrored, as the model
was trained. Of the model's 71 eye-contour points the first 16 are the lids: the lower lid from
corner to corner (9), then the upper lid without the corners (7). The opening is the mean gap
between the lids divided by the eye's width: about 0.25 open, near 0 closed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from vision.detector import FaceDetection, Keypoint
from vision.images import Affine2x3, RGBImage, warp_to_chip
from vision.runtime import TfliteModel

CROP = 64
# Crop side in eye distances: the lids and corners with a margin, as MediaPipe's 2.3 eye widths.
CROP_EYE_DISTANCES = 1.0
LOWER_LID = slice(1, 8)  # between the corners
UPPER_LID = slice(9, 16)
CORNERS = (0, 8)


def eye_crop_transform(face: FaceDetection, eye: Keypoint) -> Affine2x3:
    """Crop pixels -> frame pixels for one eye: level, one eye distance wide, the left mirrored."""
    eyes = face.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE]]
    axis = eyes[1] - eyes[0]
    angle = float(np.arctan2(axis[1], axis[0]))
    scale = CROP_EYE_DISTANCES * face.eye_distance / CROP
    mirror = -1.0 if eye is Keypoint.LEFT_EYE else 1.0
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[cos * mirror, -sin], [sin * mirror, cos]])
    centre = face.keypoints[eye] - linear @ np.array([CROP / 2, CROP / 2])
    return np.hstack([linear, centre[:, None]])


def lid_opening(contour: npt.NDArray[np.float32]) -> float:
    """Mean lid gap over eye width, from the model's (71, 3) contour in crop pixels."""
    width = float(np.linalg.norm(contour[CORNERS[1], :2] - contour[CORNERS[0], :2]))
    gap = float(contour[LOWER_LID, 1].mean() - contour[UPPER_LID, 1].mean())
    return gap / max(width, 1e-6)


class EyeOpening:
    """The iris-landmark model: `opening(frame, face)` is the mean opening of both eyes."""

    def __init__(self, model_path: Path, num_threads: int = 1) -> None:
        self.model = TfliteModel(model_path, num_threads)

    def opening(self, frame: RGBImage, face: FaceDetection) -> float:
        openings = []
        for eye in (Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE):
            crop = warp_to_chip(frame, eye_crop_transform(face, eye), CROP)
            outputs = self.model.run((crop.astype(np.float32) / 255.0)[None])
            contour = outputs["output_eyes_contours_and_brows"].reshape(-1, 3)
            openings.append(lid_opening(contour))
        return float(np.mean(openings))
