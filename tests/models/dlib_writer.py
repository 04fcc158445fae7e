"""Write a network in dlib's serialization format, to test the parser without the real .dat.

The writer follows dlib's serialize() functions (serialize.h, tensor.h, core.h, layers.h) for the
layers anet_type uses; the synthetic network has anet_type's exact layer sequence with few
channels, so a parse of it exercises every code path that the real 22 MB file does.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from dlib_resnet import anet_layout


class DlibWriter:
    """Accumulates dlib-serialized values."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def integer(self, value: int) -> None:
        magnitude = abs(value).to_bytes(8, "little").rstrip(b"\0") or b"\0"
        self.parts.append(bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude)

    def real(self, value: float) -> None:
        fraction, exponent = math.frexp(value)
        self.integer(int(fraction * 2**53))
        self.integer(exponent - 53)

    def string(self, text: str) -> None:
        self.integer(len(text))
        self.parts.append(text.encode("ascii"))

    def boolean(self, value: bool) -> None:
        self.parts.append(b"1" if value else b"0")

    def tensor(self, values: np.ndarray, shape: tuple[int, int, int, int] | None = None) -> None:
        self.integer(2)
        for size in shape or (values.size, 1, 1, 1):
            self.integer(size)
        self.parts.append(struct.pack(f"<{values.size}f", *values.ravel().tolist()))

    def alias(self, shape: tuple[int, int, int, int]) -> None:
        self.integer(1)
        for size in shape:
            self.integer(size)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _write_conv(out: DlibWriter, filters: np.ndarray, bias: np.ndarray, stride: int) -> None:
    nf, channels, rows, cols = filters.shape
    out.string("con_4")
    out.tensor(np.concatenate([filters.ravel(), bias]))
    for value in (
        nf,
        rows,
        cols,
        stride,
        stride,
        0 if stride == 2 else rows // 2,
        0 if stride == 2 else cols // 2,
    ):
        out.integer(value)
    out.alias((nf, channels, rows, cols))
    out.alias((1, nf, 1, 1))
    for multiplier in (1.0, 1.0, 1.0, 0.0):
        out.real(multiplier)


def _write_details(
    out: DlibWriter,
    name: str,
    rng: np.random.Generator,
    *,
    channels: int,
    weights: dict[int, np.ndarray],
    index: int,
) -> None:
    if name.startswith("con"):
        stride = int(name.split("/")[1])
        in_channels = 3 if index == 0 else channels
        filters = rng.normal(0, 0.3, (channels, in_channels, 3, 3)).astype(np.float32)
        bias = rng.normal(0, 1e-3, channels).astype(np.float32)
        weights[index] = filters
        _write_conv(out, filters, bias, stride)
    elif name == "affine":
        out.string("affine_")
        out.tensor(rng.normal(1, 0.1, 2 * channels).astype(np.float32))
        out.alias((1, channels, 1, 1))
        out.alias((1, channels, 1, 1))
        out.integer(0)
    elif name == "relu":
        out.string("relu_")
    elif name.startswith(("max_pool", "avg_pool")):
        size, stride = (3, 2) if name == "max_pool3" else (2, 2) if name == "avg_pool2" else (0, 1)
        out.string(f"{name[:3]}_pool_2")
        for value in (size, size, stride, stride, 0, 0):
            out.integer(value)
    elif name.startswith("add_prev"):
        out.string("add_prev_")
    else:  # fc128
        matrix = rng.normal(0, 0.5, (channels, 3)).astype(np.float32)
        weights[index] = matrix
        out.string("fc_2")
        out.integer(3)
        out.integer(channels)
        out.tensor(matrix)
        out.alias((channels, 3, 1, 1))
        out.alias((1, 3, 1, 1))
        out.integer(1)
        for multiplier in (1.0, 1.0, 1.0, 0.0):
            out.real(multiplier)


def synthetic_resnet(channels: int = 4, seed: int = 7) -> tuple[bytes, dict[int, np.ndarray]]:
    """A dlib-format file with anet_type's layers and random weights; and its weights by layer."""
    rng = np.random.default_rng(seed)
    layout = anet_layout()
    out = DlibWriter()
    out.integer(1)
    out.string("loss_metric_2")
    out.real(0.04)
    out.real(0.6)
    for position, name in reversed(list(enumerate(layout))):
        out.integer(1 if name[:3] in ("tag", "ski") else 3 if position == 0 else 2)
    out.string("input_rgb_image_sized")
    for mean in (122.782, 117.001, 104.298):
        out.real(mean)
    out.integer(150)
    out.integer(150)
    weights: dict[int, np.ndarray] = {}
    for index, name in enumerate(layout):
        if name[:3] in ("tag", "ski"):
            continue
        _write_details(out, name, rng, channels=channels, weights=weights, index=index)
        for flag in (True, False, False):
            out.boolean(flag)
        for _ in range(3):  # x_grad, cached_output, params_grad or grad_final: empty
            out.tensor(np.zeros(0, dtype=np.float32), (0, 0, 0, 0))
        if index == 0:
            out.integer(1)
    return out.getvalue(), weights
