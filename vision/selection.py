"""Which face in the frame is the person at the station."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.decisions import Reason
from vision.detector import FaceDetection


@dataclass(frozen=True)
class SelectionRules:
    """A second face at least `rival_ratio` as prominent as the first makes the frame ambiguous."""

    rival_ratio: float = 0.6


def prominence(face: FaceDetection, frame_width: int, frame_height: int) -> float:
    """Area, discounted by the distance from the frame centre (half the frame away: x0.5)."""
    centre_x, centre_y = face.centre
    off_x = (centre_x - frame_width / 2) / frame_width
    off_y = (centre_y - frame_height / 2) / frame_height
    return face.area * (1.0 - min(1.0, float(np.hypot(off_x, off_y))))


def choose_face(
    faces: list[FaceDetection], frame_width: int, frame_height: int, rules: SelectionRules
) -> FaceDetection | Reason:
    """The most prominent face, or NO_FACE / SEVERAL_FACES."""
    if not faces:
        return Reason.NO_FACE
    ranked = sorted(faces, key=lambda f: prominence(f, frame_width, frame_height), reverse=True)
    if len(ranked) > 1:
        first = prominence(ranked[0], frame_width, frame_height)
        second = prominence(ranked[1], frame_width, frame_height)
        if second >= rules.rival_ratio * first:
            return Reason.SEVERAL_FACES
    return ranked[0]
