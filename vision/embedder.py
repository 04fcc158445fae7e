"""The face embedder: an aligned RGB chip in, a 128-value descriptor out.

Which embedder, its chip size and its calibration come from models/MANIFEST (vision.manifest):
dlib's ResNet (150x150 chip, raw descriptors, threshold about 0.6) or SFace (112x112 ArcFace
chip, unit-length descriptors, threshold about 1.1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vision.errors import ImageFormatError
from vision.images import RGBImage
from vision.manifest import EmbedderSpec, embedder_spec
from vision.matching import Descriptor
from vision.runtime import TfliteModel


class FaceEmbedder:
    """One embedder model, checked against its manifest entry when it loads."""

    def __init__(self, model_path: Path, num_threads: int = 1) -> None:
        self.spec: EmbedderSpec = embedder_spec(model_path)
        self.model = TfliteModel(model_path, num_threads)

    @property
    def chip_size(self) -> int:
        return self.spec.chip_size

    def embed(self, chip: RGBImage) -> Descriptor:
        size = self.spec.chip_size
        if chip.shape != (size, size, 3) or chip.dtype != np.uint8:
            raise ImageFormatError(tuple(chip.shape), str(chip.dtype))
        outputs = self.model.run(chip[None].astype(np.float32))
        (descriptor,) = outputs.values()
        return np.asarray(descriptor.reshape(-1), dtype=np.float32)
