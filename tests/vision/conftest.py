"""Fixtures for the face pipeline tests: package-shipped images only (skimage's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vision.pipeline import FacePipeline


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def pipeline() -> FacePipeline:
    return FacePipeline()
