"""Liveness across the frames of one attempt: is this a live head, or a flat print or screen?

Every frame of a flat object (a printed photo, a phone or tablet showing a still) is the same
plane seen from another place, so each frame's aligned chip maps onto the first by one
homography (8 parameters), however the object is moved, turned, scaled or tilted towards the
camera. A live head does not: as it turns, the nose moves against the cheeks (parallax), eyes
blink, lips move. So each chip is registered onto the first with the best homography
(Lucas-Kanade, brightness-normalised) and what the homography cannot explain is the evidence of
depth. An affine map (6 parameters), used before, cannot explain a tilt's perspective, so a
tilted print looked like depth to it.

A second cue, which a still cannot give, can be demanded by the policy:
- a head turn (when the station has a display and asks for one): the nose's offset from the
  eyes' midpoint, in eye distances, must change by `min_head_turn` across the attempt; a print's
  keypoints keep their ratio under any tilt, to first order;
- a blink: the eye opening measured by a caller (for example the iris-landmark model's eye
  contour) must drop by `min_blink_drop` below its open value in some frame.

What this does not stop: a video replayed on a screen (it shows parallax and blinks), a 3D mask,
or a print bent into a curve large enough to be non-planar. It raises the bar for stills; it is
not a presentation-attack certification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from vision.decisions import LivenessCue
from vision.errors import ConfigurationError
from vision.images import RGBImage, sample_bilinear, to_grey

Grey = npt.NDArray[np.float32]
REGISTRATION_STEPS = 40
# Residual left by independent noise of s grey levels in two frames, per unit of
# hypot(s1, s2) / face contrast; measured on synthetic prints with camera noise from 0.5 to 12.
NOISE_RESIDUAL_GAIN = 0.5
# Parameter steps below this (about 0.05 px at the chip's edge) count as converged.
STEP_TOLERANCE = 1e-3
GRID_STRIDE = 2
# The largest parameter change per step (about 5 px at the chip's edge): damps overshoot.
MAX_STEP = 0.1
PARAMETERS = 8  # a homography with h22 fixed at 1


class LivenessStrength(StrEnum):
    """OFF trusts every attempt; NORMAL and STRICT differ in how much change they demand."""

    OFF = "off"
    NORMAL = "normal"
    STRICT = "strict"


# strength -> (minimum frames, non-planar change needed, frames that must show it)
PRESETS: dict[LivenessStrength, tuple[int, float, int]] = {
    LivenessStrength.OFF: (1, 0.0, 0),
    LivenessStrength.NORMAL: (3, 0.03, 1),
    LivenessStrength.STRICT: (5, 0.045, 2),
}


@dataclass(frozen=True)
class LivenessPolicy:
    """How much evidence of a live head an attempt needs (from the firmware profile).

    `head_turn` asks for a head turn (a station with a display prompts for it); `blink` asks
    for a blink in the eye openings the caller measured.
    """

    strength: LivenessStrength = LivenessStrength.NORMAL
    head_turn: bool = False
    min_head_turn: float = 0.1
    blink: bool = False
    min_blink_drop: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.min_head_turn < 1 or not 0 < self.min_blink_drop < 1:
            raise ConfigurationError(
                f"liveness min_head_turn {self.min_head_turn} / min_blink_drop "
                f"{self.min_blink_drop} out of range: use values between 0 and 1"
            )

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
    """Per later frame, the non-planar change against the first; the verdict; the failed cue."""

    changes: tuple[float, ...]
    is_live: bool
    failed_cue: LivenessCue | None = None
    head_turn: float | None = None
    blink_drop: float | None = None


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


def _inner(size: int) -> slice:
    """The face's inner area of a chip, forehead to chin and cheek to cheek."""
    return slice(size // 6, size - size // 6)


def _project(
    params: npt.NDArray[np.float64], u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(u', v', w) of the homography [[1+p0, p1, p2], [p3, 1+p4, p5], [p6, p7, 1]]."""
    w = params[6] * u + params[7] * v + 1.0
    return (
        ((1 + params[0]) * u + params[1] * v + params[2]) / w,
        (params[3] * u + (1 + params[4]) * v + params[5]) / w,
        w,
    )


def homography_registration_residual(reference: Grey, moving: Grey) -> float:
    """Mean absolute difference (in units of the face's contrast) left after the best
    homography of `moving` onto `reference` over the inner face area.

    Gauss-Newton on the normal equations; coordinates are centred and scaled to about [-1, 1]
    so the 8 parameters are of one size. The image and its two gradients are sampled together.
    """
    size = reference.shape[0]
    centre, half = (size - 1) / 2, size / 2
    # Every other pixel of the (already smoothed) inner area: a quarter of the work, the same fit.
    inner = slice(_inner(size).start, _inner(size).stop, GRID_STRIDE)
    grid_y, grid_x = np.mgrid[inner, inner].astype(np.float64)
    u, v = ((grid_x - centre) / half).ravel(), ((grid_y - centre) / half).ravel()
    target = _normalised(reference[inner, inner]).ravel()
    grad_y, grad_x = np.gradient(moving)
    stack = np.stack([moving, grad_x * half, grad_y * half], axis=-1).astype(np.float32)
    params = np.zeros(PARAMETERS)
    best = float("inf")
    for _ in range(REGISTRATION_STEPS):
        pu, pv, w = _project(params, u, v)
        sampled = sample_bilinear(stack, centre + half * pu, centre + half * pv)
        warped = sampled[:, 0]
        spread = max(float(warped.std()), 1e-3)
        error = target - (warped - warped.mean()) / spread
        # The best fit seen counts: a step that overshoots must not make a print look deep.
        best = min(best, float(np.abs(error).mean()))
        gx, gy = sampled[:, 1] / (spread * w), sampled[:, 2] / (spread * w)
        radial = -(gx * pu + gy * pv)
        steepest = np.stack([gx * u, gx * v, gx, gy * u, gy * v, gy, radial * u, radial * v])
        hessian = steepest @ steepest.T
        step = np.linalg.solve(hessian + 1e-9 * np.eye(PARAMETERS), steepest @ error)
        step *= min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-12))
        params += step
        if np.abs(step).max() < STEP_TOLERANCE:
            break
    pu, pv, _ = _project(params, u, v)
    warped = _sample(moving, centre + half * pu, centre + half * pv)
    return min(best, float(np.abs(target - _normalised(warped)).mean()))


def _noise_sigma(grey: Grey) -> float:
    """Immerkaer's structure-blind estimate of the additive noise in a chip (grey levels)."""
    response = (
        grey[:-2, :-2] + grey[:-2, 2:] + grey[2:, :-2] + grey[2:, 2:]
        - 2 * (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:])
        + 4 * grey[1:-1, 1:-1]
    )  # fmt: skip
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def nonplanar_changes(chips: Sequence[RGBImage]) -> tuple[float, ...]:
    """For each chip after the first, what a homography (a flat object's motion) cannot explain,
    less what the two frames' camera noise alone leaves: fresh noise in every frame (a dim
    camera, or a screen adding it on purpose) must not pass for depth."""
    raw = [to_grey(chip) for chip in chips]
    greys = [_smooth(grey) for grey in raw]
    noise = [_noise_sigma(grey) for grey in raw]
    inner = _inner(greys[0].shape[0])
    contrast = max(float(greys[0][inner, inner].std()), 1e-3)
    return tuple(
        max(
            0.0,
            homography_registration_residual(greys[0], grey)
            - NOISE_RESIDUAL_GAIN * float(np.hypot(noise[0], sigma)) / contrast,
        )
        for grey, sigma in zip(greys[1:], noise[1:], strict=True)
    )


def head_turn_range(yaws: Sequence[float]) -> float:
    """How far the signed yaw (nose offset in eye distances) travelled across the frames."""
    return float(max(yaws) - min(yaws)) if yaws else 0.0


def blink_drop(openings: Sequence[float]) -> float:
    """The deepest closing, as a fraction of the widest opening seen in the attempt."""
    widest = max(openings, default=0.0)
    return float(1.0 - min(openings) / widest) if widest > 0 else 0.0


def judge_liveness(
    chips: Sequence[RGBImage],
    policy: LivenessPolicy,
    yaws: Sequence[float] = (),
    eye_openings: Sequence[float] = (),
) -> LivenessEvidence:
    """Evidence from one attempt's aligned chips (and the frames' yaws and eye openings when the
    policy asks for a head turn or a blink), judged against the policy."""
    if policy.strength is LivenessStrength.OFF:
        return LivenessEvidence((), is_live=True)
    if policy.min_frames < 2:
        raise ConfigurationError("liveness needs at least two frames to compare")
    if len(chips) < policy.min_frames:
        return LivenessEvidence((), False, LivenessCue.TOO_FEW_FRAMES)
    changes = nonplanar_changes(chips)
    turn = head_turn_range(yaws) if policy.head_turn else None
    drop = blink_drop(eye_openings) if policy.blink else None
    changed = sum(change >= policy.min_change for change in changes)
    failed: LivenessCue | None = None
    if changed < policy.min_changed_frames:
        failed = LivenessCue.FLAT
    elif turn is not None and turn < policy.min_head_turn:
        failed = LivenessCue.NO_HEAD_TURN
    elif drop is not None and drop < policy.min_blink_drop:
        failed = LivenessCue.NO_BLINK
    return LivenessEvidence(changes, failed is None, failed, turn, drop)
