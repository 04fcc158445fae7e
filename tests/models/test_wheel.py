"""The models ship with the agent: the built wheel, installed with `[agent,vision]` into a fresh
venv, finds the detector and embedder without a source checkout and verifies a face there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.vision.frames import ASTRONAUT_NOSE, rotated_head_frame
from vision.errors import ModelIntegrityError
from vision.runtime import CHECKOUT_MODELS_DIR, TfliteModel

REPO_ROOT = Path(__file__).resolve().parents[2]

VERIFY_IN_VENV = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import vision, vision.runtime
    from vision import FacePipeline, FaceReading

    frames = list(np.load(sys.argv[1]))
    pipeline = FacePipeline()
    reading = pipeline.read(frames[0])
    assert isinstance(reading, FaceReading), reading
    attempt = pipeline.verify(frames, [reading.descriptor])
    print(json.dumps({
        "vision": vision.__file__,
        "models": str(vision.runtime.DEFAULT_MODELS_DIR),
        "model": pipeline.model,
        "reason": attempt.decision.reason.value,
    }))
    """
)


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_the_wheel_carries_the_models_and_verifies_a_face_in_a_fresh_venv(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, REPO_ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("campus_edge_fleet-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    constraints = REPO_ROOT / "constraints.txt"
    _run(python, "-m", "pip", "install", "--quiet", "-c", constraints, f"{wheel}[agent,vision]",
         cwd=tmp_path)  # fmt: skip
    frames = tmp_path / "frames.npy"
    np.save(frames, [rotated_head_frame(astronaut, y, ASTRONAUT_NOSE) for y in (0, 14, -14)])
    script = tmp_path / "verify.py"
    script.write_text(VERIFY_IN_VENV)
    outcome = json.loads(_run(python, script, frames, cwd=tmp_path).strip().splitlines()[-1])
    assert outcome["vision"].startswith(str(venv))  # the installed package, not this checkout
    assert outcome["models"].startswith(str(venv)) and outcome["models"].endswith("vision/models")
    assert outcome["model"] == "sface-2021dec"
    assert outcome["reason"] == "match"


def test_a_model_that_differs_from_its_manifest_entry_is_refused(tmp_path: Path) -> None:
    for name in ("MANIFEST", "face_detector_short_range.tflite"):
        shutil.copy(CHECKOUT_MODELS_DIR / name, tmp_path / name)
    TfliteModel(tmp_path / "face_detector_short_range.tflite")  # as shipped: loads
    model = bytearray((tmp_path / "face_detector_short_range.tflite").read_bytes())
    model[-100] ^= 0xFF  # one flipped byte, e.g. a damaged download
    (tmp_path / "face_detector_short_range.tflite").write_bytes(bytes(model))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        TfliteModel(tmp_path / "face_detector_short_range.tflite")
    unlisted = tmp_path / "face_detector_copy.tflite"
    shutil.copy(CHECKOUT_MODELS_DIR / "face_detector_short_range.tflite", unlisted)
    with pytest.raises(ModelIntegrityError, match="not listed"):
        TfliteModel(unlisted)
