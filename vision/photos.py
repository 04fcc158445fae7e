"""Decoding a photo file into the RGB array the pipeline reads: the one place it is done.

Enrolment (coordinator), the benchmarks and the tests all decode through `decode_photo`, so a
phone portrait stored sideways with an EXIF orientation tag is turned upright the same way
everywhere. A camera frame never passes through here: the station's camera delivers arrays.

This module needs Pillow (the coordinator's and the developers' extras); `vision` itself does not
import it, so a station without Pillow still loads the pipeline.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vision.errors import PhotoFormatError
from vision.images import RGBImage

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger ones are refused before decoding
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")


def decode_photo(
    data: bytes, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PIXELS
) -> RGBImage:
    """The photo as an upright H x W x 3 uint8 RGB array, or PhotoFormatError saying why not."""
    if len(data) > max_bytes:
        raise PhotoFormatError(f"larger than {max_bytes // 2**20} MB")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and, above twice the limit, raises) on decompression bombs; the
            # explicit pixel check below is the refusal we want either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                if image.width * image.height > max_pixels:
                    raise PhotoFormatError(f"more than {max_pixels // 1_000_000} megapixels")
                upright = ImageOps.exif_transpose(image)
                return np.ascontiguousarray(np.asarray(upright.convert("RGB"), dtype=np.uint8))
    except PhotoFormatError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoFormatError(f"more than {max_pixels // 1_000_000} megapixels") from error
    except UnidentifiedImageError as error:
        raise PhotoFormatError("not an image (JPEG, PNG or WebP expected)") from error
    except (OSError, ValueError, SyntaxError) as error:
        # Truncated or corrupt files surface as OSError/ValueError/SyntaxError inside Pillow.
        raise PhotoFormatError(f"damaged image ({type(error).__name__})") from error


def load_photo(path: Path) -> RGBImage:
    """`decode_photo` of a file on disk (benchmarks and tests)."""
    return decode_photo(path.read_bytes())
