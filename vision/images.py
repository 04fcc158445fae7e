"""Small numpy image operations: checks, the detector's letterbox, and warps to a chip.

Only the pixels actually needed are sampled: the detector input is 128x128 and a face chip is
150x150, so nothing is transformed over the whole camera frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from vision.errors import ImageFormatError

RGBImage: TypeAlias = npt.NDArray[np.uint8]
FloatImage: TypeAlias = npt.NDArray[np.float32]
Affine2x3: TypeAlias = npt.NDArray[np.float64]


def check_rgb(image: npt.NDArray[np.generic]) -> RGBImage:
    """The image itself if it is H x W x 3 uint8, else ImageFormatError."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageFormatError(tuple(image.shape), str(image.dtype))
    return np.asarray(image, dtype=np.uint8)


def sample_bilinear(
    image: npt.NDArray[np.generic], xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> FloatImage:
    """Pixels at fractional (x, y) positions; outside the image reads as black.

    Only the four neighbours of each requested point are read: the frame is never copied.
    """
    height, width, channels = image.shape
    x0, y0 = np.floor(xs), np.floor(ys)
    fx = (xs - x0).astype(np.float32)[..., None]
    fy = (ys - y0).astype(np.float32)[..., None]
    x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
    flat = image.reshape(-1, channels)
    total = np.zeros((*xs.shape, channels), dtype=np.float32)
    for dy, dx, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        px, py = x0i + dx, y0i + dy
        inside = ((px >= 0) & (px < width) & (py >= 0) & (py < height))[..., None]
        index = np.clip(py, 0, height - 1) * width + np.clip(px, 0, width - 1)
        total += flat[index] * (weight * inside)
    return total


def warp_to_chip(image: RGBImage, chip_to_image: Affine2x3, size: int) -> RGBImage:
    """The size x size chip whose pixel (x, y) comes from chip_to_image @ (x, y, 1)."""
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float64)
    xs = chip_to_image[0, 0] * grid_x + chip_to_image[0, 1] * grid_y + chip_to_image[0, 2]
    ys = chip_to_image[1, 0] * grid_x + chip_to_image[1, 1] * grid_y + chip_to_image[1, 2]
    chip = sample_bilinear(image, xs, ys)
    return np.clip(np.rint(chip), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the detector's square input: scale, then offset."""

    scale: float
    offset_x: float
    offset_y: float

    def to_frame(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Map (..., 2) points in input pixels back to frame pixels."""
        shifted = points - np.array([self.offset_x, self.offset_y])
        return np.asarray(shifted / self.scale, dtype=np.float64)


def _block_mean(image: RGBImage, factor: int) -> FloatImage:
    """Shrink by an integer factor with a box filter, so bilinear resizing does not alias."""
    if factor <= 1:
        return image.astype(np.float32)
    height, width = image.shape[0] // factor, image.shape[1] // factor
    # Rows first, then columns: two contiguous reductions instead of one over a 5-d view.
    accumulator = np.uint16 if factor < 16 else np.uint32  # 255 * factor^2 must fit
    rows = image[: height * factor, : width * factor].reshape(height, factor, width * factor, 3)
    summed = rows.sum(axis=1, dtype=accumulator).reshape(height, width, factor, 3)
    total = summed.sum(axis=2, dtype=accumulator)
    return np.asarray(total / np.float32(factor * factor), dtype=np.float32)


def _resize_axis(image: FloatImage, at: npt.NDArray[np.float64], axis: int) -> FloatImage:
    """Linear interpolation along one axis at in-range positions `at`: bilinear resizing is two
    of these (rows, then columns), a third of the work of sampling four neighbours per pixel."""
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, image.shape[axis] - 1)
    shape = [1, 1, 1]
    shape[axis] = len(at)
    weight = (at - low).astype(np.float32).reshape(shape)
    near, far = np.take(image, low, axis=axis), np.take(image, high, axis=axis)
    return np.asarray(near + (far - near) * weight, dtype=np.float32)


def letterbox(image: RGBImage, side: int) -> tuple[FloatImage, Letterbox]:
    """The frame scaled to fit side x side, centred on black, as float32 0..255."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    factor = max(1, int(1 / scale))
    small = _block_mean(image, factor)
    new_w, new_h = round(width * scale), round(height * scale)
    offset_x, offset_y = (side - new_w) // 2, (side - new_h) // 2
    step_x, step_y = small.shape[1] / new_w, small.shape[0] / new_h
    xs = np.clip((np.arange(new_w) + 0.5) * step_x - 0.5, 0, small.shape[1] - 1)
    ys = np.clip((np.arange(new_h) + 0.5) * step_y - 0.5, 0, small.shape[0] - 1)
    # Rounded down to whole grey levels first, as the models' calibration was measured with.
    levels = np.clip(small, 0, 255).astype(np.uint8).astype(np.float32)
    resized = _resize_axis(_resize_axis(levels, ys, axis=0), xs, axis=1)
    canvas = np.zeros((side, side, 3), dtype=np.float32)
    canvas[offset_y : offset_y + new_h, offset_x : offset_x + new_w] = resized
    return canvas, Letterbox(scale, offset_x, offset_y)


def to_grey(image: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """ITU-R BT.601 luma as float32."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(image.astype(np.float32) @ weights, dtype=np.float32)
