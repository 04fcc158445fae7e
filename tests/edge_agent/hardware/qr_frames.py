"""QR codes drawn into camera frames, for the QR driver's tests, the gate tests and bench/gate.py.

A code is drawn as a phone or a sheet of paper would show it: dark modules on white with the
four-module quiet zone, at the error-correction level passes are issued with, placed into an
RGB frame, optionally tilted in perspective.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import segno

from protocols.passes import QR_ERROR_CORRECTION

Image = npt.NDArray[np.uint8]
QUIET_MODULES = 4


def code_image(content: str | bytes, module_px: int = 4) -> Image:
    """The code as a grayscale image, white quiet zone included, `module_px` pixels a module.

    Text goes in the mode segno picks (alphanumeric for a pass); bytes go in byte mode.
    """
    mode = "byte" if isinstance(content, bytes) else None
    qr = segno.make_qr(content, error=QR_ERROR_CORRECTION.lower(), mode=mode)
    dark = np.array([list(row) for row in qr.matrix], dtype=np.uint8)
    light = np.pad((1 - dark) * 255, QUIET_MODULES, constant_values=255).astype(np.uint8)
    return np.repeat(np.repeat(light, module_px, axis=0), module_px, axis=1)


def place(
    code: Image,
    size: tuple[int, int],
    *,
    corners: npt.NDArray[np.float32] | None = None,
    background: int = 128,
) -> Image:
    """An RGB frame of `size` (width, height) with the code warped onto `corners` (4 x 2, TL TR
    BR BL); by default, upright and centred at its own size."""
    width, height = size
    side = code.shape[0]
    if corners is None:
        left, top = (width - side) / 2, (height - side) / 2
        corners = np.array(
            [[left, top], [left + side, top], [left + side, top + side], [left, top + side]],
            dtype=np.float32,
        )
    source = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(source, corners)
    drawn = cv2.warpPerspective(code, warp, (width, height), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full_like(code, 255), warp, (width, height)) > 127
    gray = np.where(inside, drawn, np.uint8(background)).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def frame_with(text: str, size: tuple[int, int] = (640, 480), module_px: int = 4) -> Image:
    """A clean frame showing one code: what a fake camera is given in tests."""
    return place(code_image(text, module_px), size)
