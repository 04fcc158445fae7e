"""The face embedder: an aligned 150x150 RGB chip in, a 128-value descriptor out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vision.alignment import CHIP_SIZE
from vision.errors import ImageFormatError
from vision.images import RGBImage
from vision.matching import Descriptor
from vision.runtime import TfliteModel


class FaceEmbedder:
    """dlib's face ResNet as .tflite; descriptors of one person lie within about 0.6 (L2)."""

    def __init__(self, model_path: Path, num_threads: int = 1) -> None:
        self.model = TfliteModel(model_path, num_threads)

    def embed(self, chip: RGBImage) -> Descriptor:
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ImageFormatError(tuple(chip.shape), str(chip.dtype))
        outputs = self.model.run(chip[None].astype(np.float32))
        (descriptor,) = outputs.values()
        return np.asarray(descriptor.reshape(-1), dtype=np.float32)
