"""Synthetic camera frames from a still image: a photo moved in the hand, a head turning."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

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


def _apply_homography(
    matrix: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    return (
        (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / w,
        (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / w,
    )


def plane_homography(
    size: tuple[int, int], yaw_deg: float, pitch_deg: float, distance: float, shift: float = 0.0
) -> np.ndarray:
    """Image -> frame map of a flat print turned by yaw and pitch, seen by a pinhole camera.

    The print fills the frame at distance 1 (focal length 1.2 frame widths); `distance` 1.2
    shows it 20% farther away.
    """
    height, width = size
    focal = 1.2 * width
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    turn_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    turn_x = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    rotation = turn_y @ turn_x
    # Plane point (X, Y, 0) -> camera rotation @ (X, Y, 0) + (shift, 0, focal * distance).
    plane_to_camera = np.column_stack(
        [rotation[:, 0], rotation[:, 1], [shift, 0.0, focal * distance]]
    )
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    centre = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]])
    return np.asarray(camera @ plane_to_camera @ centre, dtype=np.float64)


def printed(image: np.ndarray, seed: int) -> np.ndarray:
    """The photo as a print looks: squeezed range, soft, uneven paper, fixed grain."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    value = image.astype(np.float64) / 255.0
    value = 0.12 + 0.76 * value**1.1
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    value *= (1 + 0.03 * np.sin(5 * xx + 3 * yy + rng.uniform(0, 6)))[..., None]
    value += rng.normal(0, 0.012, (height, width, 1))  # paper grain, part of the print
    return np.clip(np.rint(value * 255), 0, 255).astype(np.uint8)


def with_camera_noise(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = frame.astype(np.float64) + rng.normal(0, sigma, frame.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def tilted_print_attempt(
    image: np.ndarray, tilt_deg: float, frames: int, seed: int, noise: float = 2.0
) -> list[np.ndarray]:
    """A print held to the camera and tilted by up to `tilt_deg` in perspective, also moved
    nearer and farther, with fresh camera noise in every frame."""
    rng = np.random.default_rng(seed)
    paper = printed(image, seed)
    attempt = []
    for index in range(frames):
        yaw = tilt_deg * (index / max(frames - 1, 1)) * rng.choice([-1, 1])
        pitch = rng.uniform(-0.5, 0.5) * tilt_deg
        distance = rng.uniform(0.9, 1.15)
        to_frame = plane_homography(image.shape[:2], yaw, pitch, distance, rng.uniform(-20, 20))
        frame = warp_frame(paper, partial(_apply_homography, np.linalg.inv(to_frame)))
        attempt.append(with_camera_noise(frame, noise, rng))
    return attempt


def head_depth(shape: tuple[int, int], nose: tuple[float, float]) -> np.ndarray:
    """A rough head's depth in pixels: an ellipsoid face with a nose standing out of it."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cx, cy = nose
    inside = 1 - ((xx - cx) / 75.0) ** 2 - ((yy - cy + 10) / 95.0) ** 2
    face = 45.0 * np.sqrt(np.clip(inside, 0, None))
    bump = 22.0 * np.exp(-((xx - cx) ** 2 + (yy - cy + 8) ** 2) / (2 * 11.0**2))
    return np.asarray(face + bump, dtype=np.float64)


def rotated_head_frame(image: np.ndarray, yaw_deg: float, nose: tuple[float, float]) -> np.ndarray:
    """The head turned by `yaw_deg` about a vertical axis through the face: points move
    sideways in proportion to their depth, so the nose moves against the cheeks."""
    depth = head_depth(image.shape[:2], nose)
    yaw = np.radians(yaw_deg)
    cx = nose[0]

    def back(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Depth read at the destination: a good inverse for a depth map this smooth.
        xi = np.clip(np.rint(x), 0, image.shape[1] - 1).astype(int)
        yi = np.clip(np.rint(y), 0, image.shape[0] - 1).astype(int)
        z = depth[yi, xi]
        return cx + (x - cx - z * np.sin(yaw)) / np.cos(yaw), y

    return warp_frame(image, back)


def blinked(image: np.ndarray, eyes: np.ndarray, eye_distance: float) -> np.ndarray:
    """Eyelids closed: each eye covered with the skin just below it, and a dark lash line."""
    closed = image.copy()
    half_w, half_h = int(0.28 * eye_distance), int(0.12 * eye_distance)
    for x, y in np.rint(eyes).astype(int):
        skin = image[y + 2 * half_h : y + 4 * half_h, x - half_w : x + half_w]
        closed[y - half_h : y + half_h, x - half_w : x + half_w] = skin
        closed[y + half_h // 2 : y + half_h // 2 + 2, x - half_w : x + half_w] //= 3
    return closed
