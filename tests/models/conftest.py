"""Make the build tooling in models/ importable (it is scripts, not an installed package)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
if str(MODELS_DIR) not in sys.path:
    sys.path.insert(0, str(MODELS_DIR))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain astronaut portrait: the one face image tests use."""
    return np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
