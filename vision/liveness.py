"""Liveness across the frames of one attempt: is this a live head, or a photo held up?

A flat photo moved in front of the camera changes, from frame to frame, by one affine map (for
small motions) and nothing else. A live head does not: the nose moves against the cheeks as the
head turns, eyes blink, lips move, shading shifts. So each frame's aligned chip is registered onto
the first one with the best affine map (Lucas-Kanade, 6 parameters, brightness-normalised) and what
the map cannot explain is the evidence. A photo leaves only resampling noise.

A phone or screen replaying a video of the person shows such changes too; this check raises the
bar for printed or displayed stills, it is not a presentation-attack certification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from vision.errors import ConfigurationError
from vision.images import RGBImage, sample_bilinear, to_grey

Grey = npt.NDArray[np.float32]
# The face's inner area inside a 150x150 chip: forehead to chin, cheek to cheek.
INNER = slice(25, 125)
REGISTRATION_STEPS = 30


class LivenessStrength(StrEnum):
    """OFF trusts every attempt; NORMAL and STRICT differ in how much change they demand."""

    OFF = "off"
    NORMAL = "normal"
    STRICT = "strict"


# strength -> (minimum frames, non-rigid change needed, frames that must show it)
PRESETS: dict[LivenessStrength, tuple[int, float, int]] = {
    LivenessStrength.OFF: (1, 0.0, 0),
    LivenessStrength.NORMAL: (3, 0.08, 1),
    LivenessStrength.STRICT: (5, 0.12, 2),
}


@dataclass(frozen=True)
class LivenessPolicy:
    """How much evidence of a live head an attempt needs (from the firmware profile)."""

    strength: LivenessStrength = LivenessStrength.NORMAL

    @property
    def min_frames(self) -> int:
        return PRESETS[self.strength][0]

    @property
    def min_change(self) -> float:
        return PRESETS[self.strength][1]

    @property
    def min_changed_frames(self) -> int:
        return PRESETS[self.strength][2]


@dataclass(frozen=True)
class LivenessEvidence:
    """Per later frame, the non-rigid change against the first; and the verdict."""

    changes: tuple[float, ...]
    is_live: bool


def _normalised(grey: Grey) -> Grey:
    """Zero mean, unit spread: a camera's exposure changes are not evidence of life."""
    return np.asarray((grey - grey.mean()) / max(float(grey.std()), 1e-3), dtype=np.float32)


def _smooth(grey: Grey) -> Grey:
    padded = np.pad(grey, 1, mode="edge")
    total = sum(
        padded[dy : dy + grey.shape[0], dx : dx + grey.shape[1]]
        for dy in range(3)
        for dx in range(3)
    )
    return np.asarray(total / 9.0, dtype=np.float32)


def _sample(grey: Grey, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]) -> Grey:
    return sample_bilinear(grey[..., None], xs, ys)[..., 0]


def affine_registration_residual(reference: Grey, moving: Grey) -> float:
    """Mean absolute difference (in units of the face's contrast) left after the best affine
    map of `moving` onto `reference` over the inner face area."""
    grid_y, grid_x = np.mgrid[INNER, INNER].astype(np.float64)
    target = _normalised(reference[INNER, INNER])
    grad_y, grad_x = (np.asarray(g, dtype=np.float32) for g in np.gradient(moving))
    params = np.zeros(6)  # x' = (1+a)x + b y + e ; y' = c x + (1+d) y + f
    for _ in range(REGISTRATION_STEPS):
        xs = (1 + params[0]) * grid_x + params[1] * grid_y + params[4]
        ys = params[2] * grid_x + (1 + params[3]) * grid_y + params[5]
        warped = _sample(moving, xs, ys)
        spread = max(float(warped.std()), 1e-3)
        error = (target - (warped - warped.mean()) / spread).ravel()
        gx, gy = _sample(grad_x, xs, ys).ravel() / spread, _sample(grad_y, xs, ys).ravel() / spread
        gxx, gyy = grid_x.ravel(), grid_y.ravel()
        steepest = np.stack([gx * gxx, gx * gyy, gy * gxx, gy * gyy, gx, gy], axis=1)
        step, *_ = np.linalg.lstsq(steepest, error, rcond=None)
        params += step
        if np.abs(step).max() < 1e-4:
            break
    warped = _sample(
        moving,
        (1 + params[0]) * grid_x + params[1] * grid_y + params[4],
        params[2] * grid_x + (1 + params[3]) * grid_y + params[5],
    )
    return float(np.abs(target - _normalised(warped)).mean())


def nonrigid_changes(chips: Sequence[RGBImage]) -> tuple[float, ...]:
    """For each chip after the first, what an affine map cannot explain."""
    greys = [_smooth(to_grey(chip)) for chip in chips]
    return tuple(affine_registration_residual(greys[0], grey) for grey in greys[1:])


def judge_liveness(chips: Sequence[RGBImage], policy: LivenessPolicy) -> LivenessEvidence:
    """Evidence from one attempt's aligned chips, judged against the policy."""
    if policy.strength is LivenessStrength.OFF:
        return LivenessEvidence((), is_live=True)
    if policy.min_frames < 2:
        raise ConfigurationError("liveness needs at least two frames to compare")
    if len(chips) < policy.min_frames:
        return LivenessEvidence((), is_live=False)
    changes = nonrigid_changes(chips)
    changed = sum(change >= policy.min_change for change in changes)
    return LivenessEvidence(changes, is_live=changed >= policy.min_changed_frames)
