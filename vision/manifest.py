"""models/MANIFEST at run time: which file is which model, checked by sha256 before it loads.

The manifest (TOML, written by models/build.py) is the one place that says, per embedder, the
descriptor space its templates live in (`model`), the chip it expects (size and where the four
alignment keypoints go) and the match threshold and "uncertain" margin calibrated for it on
bench/face_accuracy.py. Code holds none of these numbers, so a new model is a manifest entry.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.errors import ConfigurationError, ModelIntegrityError, ModelNotFoundError

MANIFEST_NAME = "MANIFEST"
KEYPOINTS = 4  # right eye, left eye, nose tip, mouth centre


@dataclass(frozen=True)
class EmbedderSpec:
    """What the pipeline must know of an embedder: its space, its chip and its calibration."""

    filename: str
    model: str  # the descriptor space: templates of one model compare only with that model
    variant: str
    chip_size: int
    chip_template: npt.NDArray[np.float64]  # (4, 2) chip pixels of the alignment keypoints
    threshold: float
    margin: float


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ModelNotFoundError(str(path))
    return tomllib.loads(path.read_text(encoding="utf-8"))


def model_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """The manifest's per-file tables (its top-level settings left out)."""
    return {k: v for k, v in read_manifest(folder).items() if isinstance(v, dict)}


def default_embedder(folder: Path) -> str:
    """The model the manifest names as the default (the one that measured best)."""
    return str(read_manifest(folder)["default_embedder"])


@cache
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_file(path: Path) -> dict[str, Any]:
    """The manifest entry of `path`, after checking the file's sha256 against it."""
    if not path.is_file():
        raise ModelNotFoundError(str(path))
    entries = model_entries(path.parent)
    entry = entries.get(path.name)
    if entry is None:
        raise ModelIntegrityError(path.name, "it is not listed in models/MANIFEST")
    stat = path.stat()
    found = _sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)
    if found != entry["sha256"]:
        raise ModelIntegrityError(path.name, f"sha256 {found} is not the manifest's")
    return entry


def embedder_spec(path: Path) -> EmbedderSpec:
    """The verified spec of the embedder file at `path`."""
    entry = verify_model_file(path)
    try:
        template = np.array(entry["chip_template"], dtype=np.float64)
        spec = EmbedderSpec(
            filename=path.name,
            model=str(entry["model"]),
            variant=str(entry["variant"]),
            chip_size=int(entry["chip_size"]),
            chip_template=template,
            threshold=float(entry["threshold"]),
            margin=float(entry["margin"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ModelIntegrityError(path.name, f"its manifest entry lacks {error}") from error
    if template.shape != (KEYPOINTS, 2):
        raise ModelIntegrityError(path.name, "chip_template must be four (x, y) points")
    return spec


def embedder_file(folder: Path, model: str, variant: str | None = None) -> Path:
    """The file of embedder `model` (its first listed variant unless one is named)."""
    for filename, entry in model_entries(folder).items():
        if entry.get("model") == model and variant in (None, entry.get("variant")):
            return folder / filename
    known = sorted(
        {f"{e['model']}/{e['variant']}" for e in model_entries(folder).values() if "model" in e}
    )
    raise ConfigurationError(
        f"no embedder {model!r}{'' if variant is None else f' variant {variant!r}'} in "
        f"{folder / MANIFEST_NAME}; known: {', '.join(known)}"
    )
