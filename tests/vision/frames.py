"""Synthetic camera frames from a still image: a photo moved in the hand, a head turning."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vision.alignment import invert_affine
from vision.images import sample_bilinear

# Where the astronaut's nose is, in skimage.data.astronaut() pixels.
ASTRONAUT_NOSE = (222.0, 125.0)


def warp_frame(
    image: np.ndarray,
    frame_to_image: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """A new frame whose pixel (x, y) is read from `image` at frame_to_image(x, y)."""
    grid_y, grid_x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    xs, ys = frame_to_image(grid_x, grid_y)
    return np.clip(np.rint(sample_bilinear(image, xs, ys)), 0, 255).astype(np.uint8)


def affine_frame(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The image moved by a 2x3 affine map, as a photo held up and moved would be."""
    back = invert_affine(matrix)
    return warp_frame(
        image,
        lambda x, y: (
            back[0, 0] * x + back[0, 1] * y + back[0, 2],
            back[1, 0] * x + back[1, 1] * y + back[1, 2],
        ),
    )


def small_rigid_motions(count: int, seed: int) -> list[np.ndarray]:
    """Hand-held jitter: a few degrees, a few percent of scale and shear, some pixels of shift."""
    rng = np.random.default_rng(seed)
    motions = []
    for _ in range(count):
        angle, scale = np.radians(rng.uniform(-4, 4)), rng.uniform(0.95, 1.05)
        shear = rng.uniform(-0.03, 0.03)
        motions.append(
            np.array(
                [
                    [scale * np.cos(angle), -scale * np.sin(angle) + shear, rng.uniform(-10, 10)],
                    [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-10, 10)],
                ]
            )
        )
    return motions


def turned_head_frame(image: np.ndarray, amount: float) -> np.ndarray:
    """The nose pushed sideways against the rest of the face: the parallax of a turning head."""
    cx, cy = ASTRONAUT_NOSE

    def displaced(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bump = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 25.0**2)
        return x - 6.0 * amount * bump, y

    return warp_frame(image, displaced)
