"""One photo decoder for enrolment, benchmarks and tests: EXIF orientation, and clear refusals."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from coordinator.enrolment import enrol
from tests.vision.frames import affine_frame, small_rigid_motions
from vision import FacePipeline, FaceReading, Reason
from vision.errors import PhotoFormatError
from vision.photos import decode_photo

EXIF_ORIENTATION = 0x0112
ROTATE_90_CW_TO_VIEW = 6  # a phone held upright, its sensor read sideways


def sideways_jpeg(upright: np.ndarray) -> bytes:
    """The photo as a phone stores a portrait: pixels turned a quarter, an EXIF tag to undo it."""
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW_TO_VIEW
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def test_a_sideways_stored_phone_photo_is_decoded_upright(astronaut: np.ndarray) -> None:
    data = sideways_jpeg(astronaut)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.size == (astronaut.shape[0], astronaut.shape[1])  # stored sideways
    decoded = decode_photo(data)
    assert decoded.shape == astronaut.shape
    assert np.abs(decoded.astype(int) - astronaut.astype(int)).mean() < 6  # JPEG, upright


def test_sideways_phone_photos_enrol(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    uploads = {
        f"phone-{i}.jpg": sideways_jpeg(affine_frame(astronaut, motion))
        for i, motion in enumerate(small_rigid_motions(3, seed=12))
    }
    with Image.open(io.BytesIO(uploads["phone-0.jpg"])) as raw:
        ignoring_exif = np.asarray(raw.convert("RGB"))
    assert pipeline.read(ignoring_exif) in (Reason.FACE_TURNED, Reason.NO_FACE)  # the old bug
    enrolment = enrol(pipeline, {name: decode_photo(data) for name, data in uploads.items()})
    assert enrolment.is_complete, enrolment.verdicts
    assert all(verdict.is_used for verdict in enrolment.verdicts)
    assert isinstance(pipeline.read(decode_photo(uploads["phone-1.jpg"])), FaceReading)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge size: a decompression bomb, refused before decoding."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "not an image"),
        (b"\0" * 4096, "not an image"),
        (b"GIF89a" + b"\0" * 64, "not an image"),
        (_png_header_only(60_000, 60_000), "megapixels"),  # past Pillow's own bomb limit
        (_png_header_only(8_000, 6_000), "megapixels"),  # 48 MP: past ours
        (_jpeg(np.zeros((64, 64, 3), np.uint8))[:200], "damaged"),
    ],
    ids=["empty", "nul-bytes", "gif", "bomb", "48-megapixels", "truncated"],
)
def test_what_is_not_a_usable_photo_is_refused_with_a_reason(data: bytes, detail: str) -> None:
    with pytest.raises(PhotoFormatError, match=detail):
        decode_photo(data)


def test_an_oversized_upload_is_refused_before_decoding() -> None:
    with pytest.raises(PhotoFormatError, match="larger than 1 MB"):
        decode_photo(b"\xff\xd8" + b"\0" * (2 << 20), max_bytes=1 << 20)


def test_a_greyscale_or_rgba_photo_becomes_rgb() -> None:
    for mode in ("L", "RGBA", "P"):
        buffer = io.BytesIO()
        Image.new(mode, (40, 30)).save(buffer, format="PNG")
        decoded = decode_photo(buffer.getvalue())
        assert decoded.shape == (30, 40, 3) and decoded.dtype == np.uint8
