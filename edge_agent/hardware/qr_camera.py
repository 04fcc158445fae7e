"""A `QrScanner` driver that reads QR codes from a `Camera`'s frames.

Each frame is turned to grayscale once and handed to a decoder: zxing-cpp, pyzbar on ZBar
(Debian `libzbar0`), or the default, chosen by measurement (`bench/gate.py`, figures in
docs/performance.md): zxing-cpp, then pyzbar only when zxing-cpp located a code but could not
decode it. zxing-cpp alone read more codes than pyzbar on tilted and blurred frames at about a
third of the CPU time, but missed a few that pyzbar read; the fallback costs nothing on an empty
frame (nothing located) and reads at least what each of the two reads alone.

Passes are alphanumeric-mode codes, so their text is ASCII; a code whose bytes are not is still
returned (as Latin-1, one character a byte) so the gate refuses it with a reason, instead of the
driver dropping it silently.
"""

from __future__ import annotations

import math
import time
from collections import deque
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.hardware.base import Camera, Clock, Frame, QrScanner
from edge_agent.hardware.errors import HardwareError

Gray = npt.NDArray[np.uint8]
MAX_CODE_CHARS = 4096  # the largest QR code holds 4296 alphanumeric characters


class QrDecoder(StrEnum):
    """Which library decodes the frames."""

    ZXING = "zxing"
    PYZBAR = "pyzbar"
    # zxing-cpp, and pyzbar only on a frame where zxing-cpp located a code it could not decode
    ZXING_THEN_PYZBAR = "zxing+pyzbar"


DEFAULT_DECODER = QrDecoder.ZXING_THEN_PYZBAR


def to_gray(frame: Frame | Gray) -> Gray:
    """A frame as one 8-bit channel: what both decoders read fastest."""
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise HardwareError(f"camera frame has shape {frame.shape}; expected H x W x 3 RGB")
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def decode_qr(gray: Gray, decoder: QrDecoder = DEFAULT_DECODER) -> list[str]:
    """The texts of the QR codes in a grayscale frame, in the decoder's order."""
    if decoder is QrDecoder.PYZBAR:
        raw = _pyzbar(gray)
    else:
        raw, is_located = _zxing(gray)
        if not raw and is_located and decoder is QrDecoder.ZXING_THEN_PYZBAR:
            raw = _pyzbar(gray)
    return [data.decode("latin-1")[:MAX_CODE_CHARS] for data in raw]


def _zxing(gray: Gray) -> tuple[list[bytes], bool]:
    """The codes read, and whether a code was located at all (even if it did not decode).

    Local-average thresholding first, then one global threshold if that read nothing: the second
    pass reads strongly tilted and blurred codes the first misses, for ~2 ms on an empty frame.
    """
    import zxingcpp  # noqa: PLC0415  (imported when chosen: a Pi may have only one of the two)

    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    is_located = False
    for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
        results = zxingcpp.read_barcodes(
            gray, formats=qr_only, binarizer=binarizer, return_errors=True
        )
        found = [bytes(result.bytes) for result in results if result.valid]
        if found:
            return found, True
        is_located = is_located or bool(results)
    return [], is_located


def _pyzbar(gray: Gray) -> list[bytes]:
    from pyzbar.pyzbar import ZBarSymbol, decode  # noqa: PLC0415  (see _zxing)

    return [symbol.data for symbol in decode(gray, symbols=[ZBarSymbol.QRCODE])]


class CameraQrScanner(QrScanner):
    """Reads the camera until a frame holds a QR code, or the timeout passes.

    At most `fps * timeout + 1` frames are read per call, so a camera (or fake) that returns
    frames faster than real time cannot keep `read` busy forever. Several codes in one frame are
    returned one per `read`. The camera is owned by the caller and not closed here.
    """

    def __init__(
        self,
        camera: Camera,
        *,
        decoder: QrDecoder = DEFAULT_DECODER,
        clock: Clock = time.monotonic,
        fps: float = 30.0,
    ) -> None:
        if not 0 < fps <= 1000:
            raise ValueError(f"fps must be between 0 and 1000, got {fps}")
        self.camera, self.decoder, self.clock, self.fps = camera, decoder, clock, fps
        self._waiting: deque[str] = deque()

    def read(self, timeout_s: float) -> str | None:
        deadline = self.clock() + max(timeout_s, 0.0)
        for _ in range(math.floor(self.fps * max(timeout_s, 0.0)) + 1):
            if self._waiting:
                break
            self._waiting.extend(decode_qr(to_gray(self.camera.capture()), self.decoder))
            if self.clock() >= deadline:
                break
        return self._waiting.popleft() if self._waiting else None
