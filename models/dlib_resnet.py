"""dlib's face-recognition ResNet read and run in plain numpy.

`parse_dlib_resnet(data)` reads `dlib_face_recognition_resnet_model_v1.dat` (dlib's own
serialization, see dlib/serialize.h, dlib/cuda/tensor.h, dlib/dnn/core.h and layers.h) into a
`DlibResNet`: the input mean and a bottom-up list of layers. `reference_descriptor(net, chip)`
runs it with dlib's semantics and is the TensorFlow-free, dlib-free oracle that the build and the
golden tests compare the .tflite embedder with. Build tooling only: devices never import this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
Float32Array: TypeAlias = npt.NDArray[np.float32]

CHIP_SIZE = 150
INPUT_SCALE = 256.0
# dlib float_details uses these exponents to mark non-finite values.
_EXPONENT_INF, _EXPONENT_NINF, _EXPONENT_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes are not the dlib face ResNet this module knows how to read."""


@dataclass(frozen=True)
class Conv:
    """con_: filters (num_filters, channels, rows, cols), cross-correlation as in TF."""

    filters: Float32Array
    bias: Float32Array
    stride: int
    padding: int


@dataclass(frozen=True)
class Affine:
    """affine_ in conv mode: x * gamma[c] + beta[c]."""

    gamma: Float32Array
    beta: Float32Array


@dataclass(frozen=True)
class Relu:
    """relu_."""


@dataclass(frozen=True)
class Pool:
    """max_pool_ or avg_pool_; size 0 means the whole spatial extent."""

    kind: str
    size: int
    stride: int
    padding: int


@dataclass(frozen=True)
class Tag:
    """tagN: remembers the tensor flowing through it under `tag_id`."""

    tag_id: int


@dataclass(frozen=True)
class Skip:
    """skipN: continues from the tensor remembered by tagN."""

    tag_id: int


@dataclass(frozen=True)
class AddPrev:
    """add_prevN: adds the tensor remembered by tagN, zero-padding the smaller one."""

    tag_id: int


@dataclass(frozen=True)
class FullyConnected:
    """fc_ without bias: weights (num_inputs, num_outputs)."""

    weights: Float32Array


Layer: TypeAlias = Conv | Affine | Relu | Pool | Tag | Skip | AddPrev | FullyConnected


@dataclass(frozen=True)
class DlibResNet:
    """The parsed network: input mean (R, G, B), bottom-up layers, and bytes consumed."""

    mean_rgb: tuple[float, float, float]
    layers: list[Layer]
    loss_margin: float
    loss_distance_threshold: float
    bytes_consumed: int = field(default=0)


# -- the architecture (dlib examples/dnn_face_recognition_ex.cpp, anet_type), bottom-up ----------


def _block(filters: int, stride: int) -> list[str]:
    return [f"con{filters}/{stride}", "affine", "relu", f"con{filters}/1", "affine"]


def _ares(filters: int) -> list[str]:
    return ["tag1", *_block(filters, 1), "add_prev1", "relu"]


def _ares_down(filters: int) -> list[str]:
    return ["tag1", *_block(filters, 2), "tag2", "skip1", "avg_pool2", "add_prev2", "relu"]


def anet_layout() -> list[str]:
    """Every layer of dlib's anet_type from the input up, as short names."""
    layout = ["con32/2", "affine", "relu", "max_pool3"]
    levels = [(32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True)]
    for filters, repeats, has_down in levels:
        if has_down:
            layout += _ares_down(filters)
        for _ in range(repeats):
            layout += _ares(filters)
    return [*layout, "avg_pool_everything", "fc128"]


# -- dlib's serialization primitives --------------------------------------------------------------


class _Reader:
    """A cursor over dlib-serialized bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DlibFormatError(f"file ends early at byte {self.pos} (wanted {count} more)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        specials = {_EXPONENT_INF: np.inf, _EXPONENT_NINF: -np.inf, _EXPONENT_NAN: np.nan}
        if exponent in specials:
            return float(specials[exponent])
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        return self.take(self.integer()).decode("ascii")

    def boolean(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at {self.pos - 1}")
        return char == b"1"

    def tensor(self) -> Float32Array:
        self.expect_version(2, "tensor")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.take(4 * count), dtype="<f4")
        return values.astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, ...]:
        self.expect_version(1, "alias_tensor")
        return tuple(self.integer() for _ in range(4))

    def expect_version(self, version: int, what: str) -> None:
        found = self.integer()
        if found != version:
            raise DlibFormatError(f"{what}: version {found}, expected {version}")

    def expect_name(self, *names: str) -> str:
        found = self.string()
        if found not in names:
            raise DlibFormatError(f"layer {found!r} found where {names} was expected")
        return found


# -- layer details --------------------------------------------------------------------------------


def _read_conv(reader: _Reader) -> Conv:
    params = reader.tensor().ravel()
    num_filters, rows, cols = reader.integer(), reader.integer(), reader.integer()
    stride_y, stride_x = reader.integer(), reader.integer()
    padding_y, padding_x = reader.integer(), reader.integer()
    filters_shape = reader.alias_tensor()
    reader.alias_tensor()  # the bias alias: its size follows from the filters
    for _ in range(4):
        reader.real()  # learning-rate and weight-decay multipliers: training only
    if (stride_y, padding_y) != (stride_x, padding_x) or rows != cols:
        raise DlibFormatError("only square convolutions are expected in this network")
    filters_size = int(np.prod(filters_shape))
    filters = params[:filters_size].reshape(filters_shape)
    bias = params[filters_size:]
    if filters.shape[0] != num_filters or bias.size != num_filters:
        raise DlibFormatError("convolution parameter sizes do not match num_filters")
    return Conv(filters, bias, stride_y, padding_y)


def _read_affine(reader: _Reader) -> Affine:
    params = reader.tensor().ravel()
    gamma_shape = reader.alias_tensor()
    reader.alias_tensor()
    mode = reader.integer()
    if mode != 0:  # dlib CONV_MODE
        raise DlibFormatError(f"affine layer in mode {mode}, expected conv mode")
    channels = int(np.prod(gamma_shape))
    return Affine(params[:channels].copy(), params[channels:].copy())


def _read_pool(reader: _Reader, kind: str) -> Pool:
    rows, cols, stride_y, stride_x = (reader.integer() for _ in range(4))
    padding_y, padding_x = reader.integer(), reader.integer()
    if (rows, stride_y, padding_y) != (cols, stride_x, padding_x):
        raise DlibFormatError("only square pooling is expected in this network")
    return Pool(kind, rows, stride_y, padding_y)


def _read_fc(reader: _Reader) -> FullyConnected:
    num_outputs, num_inputs = reader.integer(), reader.integer()
    params = reader.tensor().ravel()
    reader.alias_tensor()
    reader.alias_tensor()
    bias_mode = reader.integer()
    for _ in range(4):
        reader.real()
    if bias_mode != 1:  # FC_NO_BIAS
        raise DlibFormatError(f"fc layer with bias mode {bias_mode}, expected no bias")
    weights = params[: num_inputs * num_outputs].reshape(num_inputs, num_outputs)
    return FullyConnected(weights)


def _read_details(reader: _Reader) -> Layer:
    name = reader.expect_name(
        "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2"
    )
    if name == "con_4":
        return _read_conv(reader)
    if name == "affine_":
        return _read_affine(reader)
    if name in ("max_pool_2", "avg_pool_2"):
        return _read_pool(reader, name.split("_")[0])
    if name == "fc_2":
        return _read_fc(reader)
    if name == "relu_":
        return Relu()
    return AddPrev(tag_id=0)  # the tag id lives in the C++ type; the layout supplies it


def _read_wrapper_tail(reader: _Reader, is_innermost: bool) -> None:
    """Training state after each layer's details: read and dropped."""
    for _ in range(3):
        reader.boolean()
    reader.tensor()  # x_grad
    reader.tensor()  # cached_output
    reader.tensor()  # params_grad, or grad_final for the innermost layer
    if is_innermost:
        reader.integer()  # sample expansion factor


# -- the whole file -------------------------------------------------------------------------------


def _read_loss(reader: _Reader) -> tuple[float, float]:
    reader.expect_version(1, "add_loss_layer")
    reader.expect_name("loss_metric_2")
    return reader.real(), reader.real()


def _read_input(reader: _Reader) -> tuple[float, float, float]:
    reader.expect_name("input_rgb_image_sized")
    mean = (reader.real(), reader.real(), reader.real())
    rows, cols = reader.integer(), reader.integer()
    if (rows, cols) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError(f"input is {rows}x{cols}, expected {CHIP_SIZE}x{CHIP_SIZE}")
    return mean


def _bind_layout(parsed: list[Layer | None]) -> list[Layer]:
    """Check the parsed layers against anet_type and fill in tags, skips and tag ids."""
    layout = anet_layout()
    if len(parsed) != len(layout):
        raise DlibFormatError(f"{len(parsed)} layers found, anet_type has {len(layout)}")
    layers: list[Layer] = []
    for name, layer in zip(layout, parsed, strict=True):
        layers.append(_bind_one(name, layer))
    return layers


def _bind_one(name: str, layer: Layer | None) -> Layer:
    wrappers: dict[str, Layer] = {"tag1": Tag(1), "tag2": Tag(2), "skip1": Skip(1)}
    if name in wrappers:
        if layer is not None:
            raise DlibFormatError(f"expected {name} (no details) but found {layer!r:.40}")
        return wrappers[name]
    expected_type = {
        "con": Conv,
        "aff": Affine,
        "rel": Relu,
        "max": Pool,
        "avg": Pool,
        "add": AddPrev,
        "fc1": FullyConnected,
    }[name[:3]]
    if layer is None or not isinstance(layer, expected_type):
        raise DlibFormatError(f"expected {name} but found {type(layer).__name__}")
    if isinstance(layer, AddPrev):
        return AddPrev(int(name[-1]))
    return layer


def parse_dlib_resnet(data: bytes) -> DlibResNet:
    """Parse the whole .dat file; raises DlibFormatError unless every byte is consumed."""
    reader = _Reader(data)
    margin, distance_threshold = _read_loss(reader)
    versions: list[int] = []
    while not versions or versions[-1] != 3:  # the innermost add_layer is version 3
        versions.append(reader.integer())
        if versions[-1] not in (1, 2, 3):
            raise DlibFormatError(f"unexpected layer wrapper version {versions[-1]}")
    mean = _read_input(reader)
    parsed: list[Layer | None] = []
    for version in reversed(versions):
        if version == 1:  # tag or skip: a wrapper with no details of its own
            parsed.append(None)
            continue
        parsed.append(_read_details(reader))
        _read_wrapper_tail(reader, is_innermost=version == 3)
    if reader.pos != len(data):
        raise DlibFormatError(f"{len(data) - reader.pos} bytes left after the network")
    return DlibResNet(mean, _bind_layout(parsed), margin, distance_threshold, reader.pos)


# -- the numpy reference forward (dlib semantics, float64) ---------------------------------------


def _conv(x: FloatArray, conv: Conv) -> FloatArray:
    if conv.padding:
        pad = conv.padding
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    size = conv.filters.shape[2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(0, 1))
    windows = windows[:: conv.stride, :: conv.stride]  # (rows, cols, channels, kh, kw)
    weights = conv.filters.astype(np.float64)  # (filters, channels, kh, kw)
    out = np.tensordot(windows, weights, axes=([2, 3, 4], [1, 2, 3]))
    return np.asarray(out + conv.bias.astype(np.float64), dtype=np.float64)


def _pool(x: FloatArray, pool: Pool) -> FloatArray:
    if pool.size == 0:
        return np.asarray(x.mean(axis=(0, 1), keepdims=True), dtype=np.float64)
    if pool.padding:
        raise DlibFormatError("padded pooling is not used by this network")
    windows = np.lib.stride_tricks.sliding_window_view(x, (pool.size, pool.size), axis=(0, 1))
    windows = windows[:: pool.stride, :: pool.stride]
    reduced = windows.max(axis=(3, 4)) if pool.kind == "max" else windows.mean(axis=(3, 4))
    return np.asarray(reduced, dtype=np.float64)


def add_prev(a: FloatArray, b: FloatArray) -> FloatArray:
    """dlib's add_prev: the sum has the larger size in every dimension, zero-padded."""
    shape = tuple(max(sa, sb) for sa, sb in zip(a.shape, b.shape, strict=True))
    total = np.zeros(shape, dtype=np.float64)
    total[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    total[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return total


def _apply(x: FloatArray, layer: Layer, tags: dict[int, FloatArray]) -> FloatArray:
    if isinstance(layer, Tag):
        tags[layer.tag_id] = x
        return x
    if isinstance(layer, Skip):
        return tags[layer.tag_id]
    if isinstance(layer, AddPrev):
        return add_prev(x, tags[layer.tag_id])
    return _apply_plain(x, layer)


def _apply_plain(x: FloatArray, layer: Conv | Affine | Relu | Pool | FullyConnected) -> FloatArray:
    if isinstance(layer, Conv):
        return _conv(x, layer)
    if isinstance(layer, Affine):
        return np.asarray(x * layer.gamma + layer.beta, dtype=np.float64)
    if isinstance(layer, Relu):
        return np.maximum(x, 0.0)
    if isinstance(layer, Pool):
        return _pool(x, layer)
    return np.asarray(x.reshape(-1) @ layer.weights.astype(np.float64), dtype=np.float64)


def reference_descriptor(net: DlibResNet, chip_rgb: npt.NDArray[np.uint8]) -> FloatArray:
    """The 128-d descriptor of one aligned 150x150 RGB chip, computed as dlib does."""
    if chip_rgb.shape != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"chip must be {CHIP_SIZE}x{CHIP_SIZE}x3 RGB, got {chip_rgb.shape}")
    x = (chip_rgb.astype(np.float64) - np.array(net.mean_rgb)) / INPUT_SCALE
    tags: dict[int, FloatArray] = {}
    for layer in net.layers:
        x = _apply(x, layer, tags)
    return np.asarray(x.reshape(-1), dtype=np.float64)
