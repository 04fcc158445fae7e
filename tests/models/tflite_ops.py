"""Read the operator codes (op, version) of a .tflite flatbuffer without TensorFlow."""

from __future__ import annotations

import struct

# The builtin operator numbers of tensorflow/lite/schema/schema.fbs that these models use.
BUILTIN_NAMES = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    11: "L2_NORMALIZATION",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    22: "RESHAPE",
    34: "PAD",
    40: "MEAN",
    41: "SUB",
    54: "PRELU",
    59: "NEG",
    105: "REVERSE_V2",
    114: "QUANTIZE",
}


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field `index` of the table at `table`, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vtable_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vtable_size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + offset if offset else None


def _indirect(buf: bytes, position: int) -> int:
    return position + int(struct.unpack_from("<I", buf, position)[0])


def operator_codes(model: bytes) -> list[tuple[str, int]]:
    """(builtin op name, op version) for every operator code in the model."""
    root = _indirect(model, 0)
    codes_field = _field(model, root, 1)
    if codes_field is None:
        return []
    vector = _indirect(model, codes_field)
    count = struct.unpack_from("<I", model, vector)[0]
    found = []
    for i in range(count):
        code = _indirect(model, vector + 4 + 4 * i)
        deprecated = _field(model, code, 0)
        version = _field(model, code, 2)
        builtin = _field(model, code, 3)
        number = max(
            struct.unpack_from("<b", model, deprecated)[0] if deprecated else 0,
            struct.unpack_from("<i", model, builtin)[0] if builtin else 0,
        )
        found.append(
            (
                BUILTIN_NAMES.get(number, f"BUILTIN_{number}"),
                struct.unpack_from("<i", model, version)[0] if version else 1,
            )
        )
    return found
