"""Every committed model loads in both TFLite runtimes the stations may carry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tests.models.golden_data import GOLDEN, chip_names, load_chip, reference
from vision import runtime
from vision.errors import RuntimeMissingError

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((REPO_ROOT / "models").glob("*.tflite"))
# The same place scripts/setup-vision-compat.sh creates it.
COMPAT_VENV = Path(os.environ.get("VISION_COMPAT_VENV", REPO_ROOT / ".venv-tflite214"))
COMPAT_PYTHON = COMPAT_VENV / "bin/python"
SETUP_SCRIPT = REPO_ROOT / "scripts/setup-vision-compat.sh"


def test_the_five_models_are_committed() -> None:
    assert [m.name for m in MODELS] == [
        "face_detector_short_range.tflite",
        "face_embedder_fp32.tflite",
        "face_embedder_int8dr.tflite",
        "face_embedder_sface_fp16.tflite",
        "iris_landmark.tflite",
    ]
    # Reasonably small to commit (SFace fp32 would be 38.6 MB: the fp16 file is shipped).
    assert all(m.stat().st_size < 25_000_000 for m in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_model_loads_and_runs_in_ai_edge_litert(model: Path) -> None:
    assert runtime.runtime_name() == "ai_edge_litert.interpreter"
    loaded = runtime.TfliteModel(model)
    shape = loaded.interpreter.get_input_details()[0]["shape"]
    outputs = loaded.run(np.zeros(shape, dtype=np.float32))
    assert all(np.all(np.isfinite(v)) for v in outputs.values())


def _resident_kib_of(path: Path) -> int:
    """How much of the file's mapping is resident in this process (smaps' Rss lines)."""
    resident, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
            inside = len(fields) == 6 and fields[5] == str(path.resolve())
        elif inside and fields[0] == "Rss:":
            resident += int(fields[1])
    return resident


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_the_model_file_pages_are_released_after_load_and_results_hold() -> None:
    """XNNPACK packs the weights into its own buffers: the mapped file need not stay resident."""
    sface = REPO_ROOT / "models/face_embedder_sface_fp16.tflite"
    loaded = runtime.TfliteModel(sface)
    assert _resident_kib_of(sface) < 1024  # of an 18,852 KiB file
    chip = np.full(loaded.interpreter.get_input_details()[0]["shape"], 128, dtype=np.float32)
    outputs = loaded.run(chip)
    assert _resident_kib_of(sface) < 1024  # running reads the packed copies, not the file
    reference = runtime.TfliteModel(sface, num_threads=1).run(chip)
    for name, values in outputs.items():
        np.testing.assert_array_equal(values, reference[name])


@pytest.fixture(scope="module")
def compat_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    if not COMPAT_PYTHON.exists():  # idempotent; the project's test setup normally ran it
        subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, timeout=600)
    chips = np.stack([load_chip(name) for name in chip_names()])
    chips_file = tmp_path_factory.mktemp("compat") / "chips.npy"
    np.save(chips_file, chips)
    done = subprocess.run(
        [
            str(COMPAT_PYTHON),
            str(Path(__file__).with_name("compat_loader.py")),
            str(chips_file),
            str(GOLDEN / "sface_chips.npy"),
            *map(str, MODELS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_compat_venv_has_tflite_runtime_214_and_numpy_1() -> None:
    if not COMPAT_PYTHON.exists():
        subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, timeout=600)
    done = subprocess.run(
        [
            str(COMPAT_PYTHON),
            "-c",
            "import tflite_runtime, numpy; print(tflite_runtime.__version__, numpy.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    tflite_version, numpy_version = done.stdout.split()
    assert tflite_version == "2.14.0"
    assert int(numpy_version.split(".")[0]) < 2


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_model_loads_in_tflite_runtime_214(
    model: Path, compat_results: dict[str, dict[str, object]]
) -> None:
    assert str(model) in compat_results


@pytest.mark.parametrize(("variant", "limit"), [("fp32", 1e-5), ("int8dr", 0.06)])
def test_tflite_runtime_214_reproduces_the_golden_descriptors(
    variant: str, limit: float, compat_results: dict[str, dict[str, object]]
) -> None:
    found = compat_results[str(REPO_ROOT / f"models/face_embedder_{variant}.tflite")]
    descriptors = np.array(found["descriptors"])
    expected = np.stack([reference(name) for name in chip_names()])
    error = (
        np.abs(descriptors - expected).max()
        if variant == "fp32"
        else np.linalg.norm(descriptors - expected, axis=1).max()
    )
    assert error < limit


def test_tflite_runtime_214_reproduces_the_sface_golden(
    compat_results: dict[str, dict[str, object]],
) -> None:
    found = compat_results[str(REPO_ROOT / "models/face_embedder_sface_fp16.tflite")]
    record = json.loads((GOLDEN / "sface_onnx.json").read_text())
    assert np.abs(np.array(found["descriptors"]) - np.array(record["descriptors"])).max() < 2e-3


def test_the_installed_runtime_is_imported_when_the_other_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("tflite_runtime.interpreter")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    assert runtime.runtime_name() == "tflite_runtime.interpreter"
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(RuntimeMissingError, match="ai-edge-litert"):
        runtime.runtime_name()


def test_golden_fixture_is_small() -> None:
    # dlib's chips as PNG (~260 KB) and SFace's five 112x112 chips as .npy (188 KB).
    assert sum(f.stat().st_size for f in GOLDEN.iterdir()) < 500_000
