"""Rebuild dlib's face ResNet as a TensorFlow graph and convert it to .tflite variants.

Runs inside the build venv (models/.build/venv) that models/build.py creates; TensorFlow never
reaches a device. Weights are tf.constant values in a plain tf.function: Keras variables make the
converter emit resource ops with no weights in them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf  # type: ignore[import-untyped, import-not-found, unused-ignore]
from dlib_resnet import (
    CHIP_SIZE,
    INPUT_SCALE,
    AddPrev,
    Affine,
    Conv,
    DlibResNet,
    FullyConnected,
    Layer,
    Pool,
    Relu,
    Skip,
    Tag,
    parse_dlib_resnet,
    reference_descriptor,
)

Tensor = Any


def _fold(conv: Conv, affine: Affine | None, scale: float) -> tuple[Tensor, Tensor]:
    """Conv weights as HWIO with the following affine (and the input scale) folded in."""
    filters = conv.filters.astype(np.float64) / scale
    bias = conv.bias.astype(np.float64)
    if affine is not None:
        filters = filters * affine.gamma[:, None, None, None]
        bias = bias * affine.gamma + affine.beta
    hwio = np.transpose(filters, (2, 3, 1, 0)).astype(np.float32)
    return tf.constant(hwio), tf.constant(bias.astype(np.float32))


def _conv(x: Tensor, conv: Conv, weights: tuple[Tensor, Tensor]) -> Tensor:
    # dlib pads stride-1 3x3 convs by 1 (= SAME) and strided ones by 0 (= VALID).
    padding = "SAME" if conv.padding else "VALID"
    y = tf.nn.conv2d(x, weights[0], strides=conv.stride, padding=padding)
    return tf.nn.bias_add(y, weights[1])


def _add_prev(a: Tensor, b: Tensor) -> Tensor:
    """dlib add_prev: zero-pad the smaller operand at the bottom, right and extra channels."""
    target = [max(int(sa), int(sb)) for sa, sb in zip(a.shape[1:], b.shape[1:], strict=True)]

    def grow(t: Tensor) -> Tensor:
        pads = [[0, 0]] + [
            [0, want - int(have)] for want, have in zip(target, t.shape[1:], strict=True)
        ]
        return t if all(p[1] == 0 for p in pads) else tf.pad(t, pads)

    return grow(a) + grow(b)


def _pool(x: Tensor, pool: Pool) -> Tensor:
    if pool.size == 0:
        return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    op = tf.nn.max_pool2d if pool.kind == "max" else tf.nn.avg_pool2d
    return op(x, ksize=pool.size, strides=pool.stride, padding="VALID")


def _fc_as_conv(x: Tensor, fc: FullyConnected) -> Tensor:
    # A 1x1 CONV_2D rather than FULLY_CONNECTED: the dynamic-range FULLY_CONNECTED is emitted
    # at op version 12, which tflite-runtime 2.14 cannot load.
    kernel = tf.constant(fc.weights.astype(np.float32)[None, None, :, :])
    y = tf.nn.conv2d(x, kernel, strides=1, padding="VALID")
    return tf.reshape(y, [1, fc.weights.shape[1]])


def _prepare_convs(net: DlibResNet) -> dict[int, tuple[Tensor, Tensor]]:
    folded: dict[int, tuple[Tensor, Tensor]] = {}
    for index, layer in enumerate(net.layers):
        if isinstance(layer, Conv):
            follower = net.layers[index + 1] if index + 1 < len(net.layers) else None
            affine = follower if isinstance(follower, Affine) else None
            folded[index] = _fold(layer, affine, INPUT_SCALE if index == 0 else 1.0)
    return folded


def build_function(net: DlibResNet) -> Any:
    """A tf.function: float32 [1,150,150,3] RGB 0..255 -> float32 [1,128] descriptor."""
    folded = _prepare_convs(net)
    mean = tf.constant(np.array(net.mean_rgb, dtype=np.float32).reshape(1, 1, 1, 3))
    spec = tf.TensorSpec([1, CHIP_SIZE, CHIP_SIZE, 3], tf.float32, name="chip_rgb")

    @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator, unused-ignore]
    def embed(chip_rgb: Tensor) -> dict[str, Tensor]:
        x = chip_rgb - mean
        tags: dict[int, Tensor] = {}
        for index, layer in enumerate(net.layers):
            x = _apply(x, layer, index, folded, tags)
        return {"descriptor": x}

    return embed


def _apply(
    x: Tensor,
    layer: Layer,
    index: int,
    folded: dict[int, tuple[Tensor, Tensor]],
    tags: dict[int, Tensor],
) -> Tensor:
    if isinstance(layer, Tag):
        tags[layer.tag_id] = x
        return x
    if isinstance(layer, Skip):
        return tags[layer.tag_id]
    if isinstance(layer, AddPrev):
        return _add_prev(x, tags[layer.tag_id])
    if isinstance(layer, Conv):
        return _conv(x, layer, folded[index])
    return _apply_plain(x, layer)


def _apply_plain(x: Tensor, layer: Affine | Relu | Pool | FullyConnected) -> Tensor:
    if isinstance(layer, Affine):
        return x  # folded into the conv before it
    if isinstance(layer, Relu):
        return tf.nn.relu(x)
    if isinstance(layer, Pool):
        return _pool(x, layer)
    return _fc_as_conv(x, layer)


VARIANTS = ("fp32", "fp16", "dynamic")


def convert(embed: Any, variant: str) -> bytes:
    """One .tflite flatbuffer for `variant` (fp32, fp16 weights, or dynamic-range int8)."""
    concrete = embed.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], embed)
    if variant in ("fp16", "dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


def check_against_oracle(net: DlibResNet, model: bytes, tolerance: float) -> float:
    """Refuse the build unless the model matches the numpy oracle on a few synthetic chips."""
    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    worst = 0.0
    rng = np.random.default_rng(150)
    for _ in range(3):
        chip = rng.integers(0, 256, size=(CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        interpreter.set_tensor(source["index"], chip[None].astype(np.float32))
        interpreter.invoke()
        found = interpreter.get_tensor(target["index"])[0]
        worst = max(worst, float(np.abs(found - reference_descriptor(net, chip)).max()))
    print(f"fp32 embedder vs numpy oracle: max abs diff {worst:.2e}")
    if worst >= tolerance:
        raise SystemExit(f"embedder differs from the oracle by {worst} (limit {tolerance})")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dat", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    net = parse_dlib_resnet(args.dat.read_bytes())
    embed = build_function(net)
    for variant in args.variants:
        target = args.out_dir / f"face_embedder_{variant}.tflite"
        target.write_bytes(convert(embed, variant))
        print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
