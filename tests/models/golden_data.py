"""The committed golden fixture: chips (PNG) and reference descriptors (JSON)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

GOLDEN = Path(__file__).resolve().parent / "golden"


@cache
def golden_record() -> dict[str, Any]:
    return dict(json.loads((GOLDEN / "descriptors.json").read_text()))


def chip_names() -> list[str]:
    return sorted(golden_record()["descriptors"])


def load_chip(name: str) -> np.ndarray:
    return np.asarray(Image.open(GOLDEN / name).convert("RGB"))


def reference(name: str, source: str = "dlib") -> np.ndarray:
    """The reference descriptor of a chip: dlib's own (default) or the numpy oracle's."""
    return np.array(golden_record()["descriptors"][name][source], dtype=np.float64)
