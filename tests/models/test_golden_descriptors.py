"""The .tflite embedders reproduce dlib's descriptors on the committed golden chips."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.models.golden_data import chip_names, golden_record, load_chip, reference
from tests.models.tflite_ops import operator_codes
from vision.embedder import FaceEmbedder
from vision.runtime import TfliteModel

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
MANIFEST_TEXT = tomllib.loads((MODELS_DIR / "MANIFEST").read_text())
MANIFEST = {name: entry for name, entry in MANIFEST_TEXT.items() if isinstance(entry, dict)}
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


@pytest.fixture(scope="module")
def descriptors() -> dict[str, np.ndarray]:
    found = {}
    for variant in ("fp32", "int8dr"):
        embedder = FaceEmbedder(MODELS_DIR / f"face_embedder_{variant}.tflite")
        found[variant] = np.stack([embedder.embed(load_chip(n)) for n in chip_names()])
    return found


def _references(source: str = "dlib") -> np.ndarray:
    return np.stack([reference(name, source) for name in chip_names()])


def test_golden_fixture_was_made_from_the_pinned_model_with_dlib() -> None:
    record = golden_record()
    assert record["dat_sha256"] == DAT_SHA256
    assert record["dlib_version"]
    assert len(chip_names()) >= 4


def test_numpy_oracle_agrees_with_dlib_on_the_fixture() -> None:
    assert np.abs(_references("oracle") - _references("dlib")).max() < 1e-5


def test_fp32_embedder_reproduces_dlib(descriptors: dict[str, np.ndarray]) -> None:
    assert np.abs(descriptors["fp32"] - _references()).max() < 1e-5


def test_int8_embedder_stays_within_its_stated_bound(descriptors: dict[str, np.ndarray]) -> None:
    distances = np.linalg.norm(descriptors["int8dr"] - _references(), axis=1)
    assert distances.max() < 0.06  # a tenth of the 0.6 match threshold


def test_descriptors_tell_the_face_from_the_non_faces(descriptors: dict[str, np.ndarray]) -> None:
    names = chip_names()
    fp32 = descriptors["fp32"]
    face = fp32[names.index("astronaut.png")]
    mirrored = fp32[names.index("astronaut_mirrored.png")]
    cat = fp32[names.index("chelsea_cat.png")]
    assert np.linalg.norm(face - mirrored) < 0.6 < np.linalg.norm(face - cat)


@pytest.mark.parametrize("filename", sorted(MANIFEST))
def test_manifest_matches_the_committed_file(filename: str) -> None:
    entry = MANIFEST[filename]
    data = (MODELS_DIR / filename).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) == entry["size"]
    assert entry["licence"] and entry["source"].startswith("PyPI ")
    details = TfliteModel(MODELS_DIR / filename).interpreter.get_input_details()[0]
    assert f"{details['name']} {[int(n) for n in details['shape']]} float32" == entry["inputs"]


def test_manifest_lists_every_committed_model() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in MODELS_DIR.glob("*.tflite"))


def test_every_embedder_entry_names_its_model_chip_and_calibration() -> None:
    embedders = {name: e for name, e in MANIFEST.items() if name.startswith("face_embedder")}
    assert len(embedders) == 3
    for entry in embedders.values():
        assert len(entry["chip_template"]) == 4
        assert 0 < entry["margin"] < entry["threshold"] <= 2
        assert f"[1, {entry['chip_size']}, {entry['chip_size']}, 3]" in entry["inputs"]
    models = {e["model"] for e in embedders.values()}
    assert MANIFEST_TEXT["default_embedder"] in models


# -- SFace: the fp16 TFLite build against the ONNX original, as onnxruntime ran it at build time --

SFACE_FILE = "face_embedder_sface_fp16.tflite"
SFACE_GOLDEN = REPO_ROOT / "tests/models/golden"
SFACE_ONNX_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"


@pytest.fixture(scope="module")
def sface() -> tuple[np.ndarray, np.ndarray]:
    """(TFLite descriptors, ONNX descriptors) of the committed SFace golden chips."""
    record = json.loads((SFACE_GOLDEN / "sface_onnx.json").read_text())
    assert record["onnx_member_sha256"] == SFACE_ONNX_SHA256
    chips = np.load(SFACE_GOLDEN / "sface_chips.npy")
    embedder = FaceEmbedder(MODELS_DIR / SFACE_FILE)
    found = np.stack([embedder.embed(chip) for chip in chips]).astype(np.float64)
    return found, np.array(record["descriptors"], dtype=np.float64)


def test_sface_tflite_reproduces_the_onnx_original(sface: tuple[np.ndarray, np.ndarray]) -> None:
    found, onnx = sface
    assert found.shape == onnx.shape == (5, 128)
    assert np.abs(found - onnx).max() < 2e-3  # fp16 weights; the fp32 build is within 2e-6


def test_sface_descriptors_are_unit_length_and_tell_the_face_from_the_cat(
    sface: tuple[np.ndarray, np.ndarray],
) -> None:
    found, _ = sface
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    face, mirrored, cat = found[0], found[1], found[2]
    threshold = MANIFEST[SFACE_FILE]["threshold"]
    assert np.linalg.norm(face - mirrored) < threshold < np.linalg.norm(face - cat)


# Op versions that tflite-runtime 2.14 implements for these builtins (the loader test proves it
# too; this names the culprit when a TensorFlow upgrade changes the converter's output).
MAX_VERSIONS_214 = {
    "SUB": 1,
    "CONV_2D": 5,
    "MAX_POOL_2D": 1,
    "ADD": 1,
    "AVERAGE_POOL_2D": 1,
    "PAD": 1,
    "MEAN": 1,
    "RESHAPE": 1,
    "DEPTHWISE_CONV_2D": 1,
    "RELU": 1,
    "CONCATENATION": 1,
    # fp16 weights are dequantized by DEQUANTIZE v3; test_runtimes loads the SFace fp16 model in
    # tflite-runtime 2.14 and checks its descriptors, which proves 2.14 has it.
    "DEQUANTIZE": 3,
    "REVERSE_V2": 1,
    "PRELU": 1,
    "MUL": 1,
    "NEG": 1,
    "L2_NORMALIZATION": 1,
}


@pytest.mark.parametrize("filename", sorted(MANIFEST))
def test_op_versions_are_ones_tflite_runtime_214_has(filename: str) -> None:
    codes = operator_codes((MODELS_DIR / filename).read_bytes())
    assert codes
    assert "FULLY_CONNECTED" not in dict(codes)  # emitted at v12 when quantized: 2.14 refuses
    for op, version in codes:
        assert version <= MAX_VERSIONS_214[op], f"{op} v{version} in {filename}"
