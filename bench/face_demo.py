"""A face-verification demo on package-shipped images only (skimage's astronaut, public domain).

    .venv/bin/python bench/face_demo.py

Enrols the astronaut from three hand-held variants of her portrait, then verifies two attempts:
frames in which her nose moves against her cheeks as a turning head's does (live), and the same
portrait moved rigidly in the hand (a printed photo held to the camera).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordinator.enrolment import enrol, open_templates, seal_templates
from vision import FacePipeline
from vision.images import sample_bilinear

Warp = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
NOSE = (222.0, 125.0)  # in astronaut() pixels


def warped(image: np.ndarray, warp: Warp) -> np.ndarray:
    grid_y, grid_x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    xs, ys = warp(grid_x, grid_y)
    return np.clip(np.rint(sample_bilinear(image, xs, ys)), 0, 255).astype(np.uint8)


def held(angle_deg: float, shift: float) -> Warp:
    angle = np.radians(angle_deg)
    return lambda x, y: (
        np.cos(angle) * x + np.sin(angle) * y - shift,
        -np.sin(angle) * x + np.cos(angle) * y - shift / 2,
    )


def turning(amount: float) -> Warp:
    def warp(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bump = np.exp(-((x - NOSE[0]) ** 2 + (y - NOSE[1]) ** 2) / 25.0**2)
        return x - 6.0 * amount * bump, y

    return warp


def main() -> None:
    portrait = np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    pipeline = FacePipeline()
    photos = {
        f"photo-{i}": warped(portrait, held(a, s))
        for i, (a, s) in enumerate([(0, 0), (3, 6), (-4, -5)])
    }
    enrolment = enrol(pipeline, photos)
    print("enrolment:", [(v.photo_id, v.reason or "used") for v in enrolment.verdicts])
    key = os.urandom(32)
    sealed = seal_templates(enrolment.templates, key, "astronaut")
    templates = open_templates(sealed, key, "astronaut")
    print(f"sealed {len(templates)} templates into {len(sealed)} bytes")
    attempts = {
        "live head": [portrait] + [warped(portrait, turning(a)) for a in (0.6, -0.8, 1.0, -1.0)],
        "photo held up": [portrait]
        + [warped(portrait, held(a, s)) for a, s in [(2, 4), (-3, -6), (4, 8), (-2, 3)]],
    }
    for name, frames in attempts.items():
        decision = pipeline.verify(frames, templates).decision
        distance = "-" if decision.distance is None else f"{decision.distance:.3f}"
        cue = f", failed cue {decision.failed_cue}" if decision.failed_cue else ""
        print(
            f"{name}: {decision.reason} (distance {distance}, threshold {decision.threshold}{cue})"
        )


if __name__ == "__main__":
    main()
