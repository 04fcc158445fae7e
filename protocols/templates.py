"""The face-template format: one definition for enrolment, the bundle and the device.

`count (uint32 LE) | count x 128 float32 LE`: the descriptors `vision` computes, in the order they
were enrolled. The coordinator seals these bytes for storage and, per device, into the bundle;
the device unpacks them in memory only, at verification time.
"""

import struct
from collections.abc import Sequence

from protocols.errors import ProtocolError

DESCRIPTOR_SIZE = 128
MAX_TEMPLATES = 64
_COUNT = struct.Struct("<I")
_ROW = struct.Struct(f"<{DESCRIPTOR_SIZE}f")


def pack_templates(descriptors: Sequence[Sequence[float]]) -> bytes:
    if len(descriptors) > MAX_TEMPLATES:
        raise ProtocolError(f"at most {MAX_TEMPLATES} templates per person, got {len(descriptors)}")
    rows = []
    for index, descriptor in enumerate(descriptors):
        if len(descriptor) != DESCRIPTOR_SIZE:
            raise ProtocolError(
                f"template {index} has {len(descriptor)} values, expected {DESCRIPTOR_SIZE}"
            )
        rows.append(_ROW.pack(*(float(value) for value in descriptor)))
    return _COUNT.pack(len(rows)) + b"".join(rows)


def unpack_templates(data: bytes) -> list[tuple[float, ...]]:
    """The descriptors in `data`; ProtocolError if the length does not match the count."""
    if len(data) < _COUNT.size:
        raise ProtocolError("face templates are shorter than their count")
    (count,) = _COUNT.unpack_from(data)
    if count > MAX_TEMPLATES or len(data) != _COUNT.size + count * _ROW.size:
        raise ProtocolError(f"face templates hold {len(data)} bytes, not {count} descriptors")
    return [_ROW.unpack_from(data, _COUNT.size + i * _ROW.size) for i in range(count)]
