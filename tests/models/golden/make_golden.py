"""Make the golden fixture: a few aligned 150x150 chips and their reference descriptors.

Chips come only from images that ship in packages (scikit-image's data) or are synthetic; never
from shared face photos. Two steps, in two environments:

    .venv/bin/python tests/models/golden/make_golden.py chips
        aligns skimage's astronaut (and its mirror image) with the project's own pipeline
        (BlazeFace keypoints -> similarity warp) and cuts non-face and noise chips;
    models/.build/venv/bin/python tests/models/golden/make_golden.py descriptors
        needs dlib (pip install dlib==20.0.1 pillow, a ~15 minute source build) and the cached
        .dat from `python models/build.py`; writes dlib's descriptors and the numpy oracle's.
    .venv/bin/python tests/models/golden/make_golden.py sface-chips
        the same images as 112x112 ArcFace-aligned chips for SFace (sface_chips.npy, in the
        order of SFACE_CHIPS); `python models/build.py` then writes their descriptors as the
        ONNX original computes them with onnxruntime (sface_onnx.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent
REPO_ROOT = GOLDEN_DIR.parents[2]
DAT_MEMBER = (
    "face_recognition_models-0.3.0/face_recognition_models/models/"
    "dlib_face_recognition_resnet_model_v1.dat"
)
SDIST = REPO_ROOT / "models/.build/downloads/face_recognition_models-0.3.0.tar.gz"


def make_chips() -> None:
    import skimage.data
    from PIL import Image

    from vision.alignment import align_face
    from vision.detector import FaceDetector
    from vision.runtime import VisionModels

    detector = FaceDetector(VisionModels().detector)
    astronaut = skimage.data.astronaut()  # type: ignore[no-untyped-call]
    chips = {}
    for name, image in (("astronaut", astronaut), ("astronaut_mirrored", astronaut[:, ::-1])):
        frame = np.ascontiguousarray(image)
        face = detector.refine(frame, detector.detect(frame)[0])
        chips[name] = align_face(frame, face)
    chips["chelsea_cat"] = skimage.data.chelsea()[0:300:2, 100:400:2]  # type: ignore[no-untyped-call]
    chips["coffee"] = skimage.data.coffee()[50:350:2, 150:450:2]  # type: ignore[no-untyped-call]
    rng = np.random.default_rng(150)
    chips["noise"] = rng.integers(0, 256, size=(150, 150, 3), dtype=np.uint8)
    for name, chip in chips.items():
        Image.fromarray(np.ascontiguousarray(chip)).save(GOLDEN_DIR / f"{name}.png", optimize=True)
        print(f"wrote {name}.png")


SFACE_CHIPS = ("astronaut", "astronaut_mirrored", "chelsea_cat", "coffee", "noise")
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [56.1396, 92.2848]]
)


def make_sface_chips() -> None:
    import skimage.data

    from vision.alignment import align_face
    from vision.detector import FaceDetector
    from vision.runtime import DEFAULT_MODELS_DIR, DETECTOR_FILE

    detector = FaceDetector(DEFAULT_MODELS_DIR / DETECTOR_FILE)
    astronaut = skimage.data.astronaut()  # type: ignore[no-untyped-call]
    chips = []
    for image in (astronaut, astronaut[:, ::-1]):
        frame = np.ascontiguousarray(image)
        face = detector.refine(frame, detector.detect(frame)[0])
        chips.append(align_face(frame, face, ARCFACE_TEMPLATE, 112))
    chips.append(skimage.data.chelsea()[0:224:2, 100:324:2])  # type: ignore[no-untyped-call]
    chips.append(skimage.data.coffee()[50:274:2, 150:374:2])  # type: ignore[no-untyped-call]
    chips.append(np.random.default_rng(112).integers(0, 256, (112, 112, 3), dtype=np.uint8))
    np.save(GOLDEN_DIR / "sface_chips.npy", np.stack(chips).astype(np.uint8))
    print(f"wrote sface_chips.npy ({len(chips)} chips: {', '.join(SFACE_CHIPS)})")


def make_descriptors() -> None:
    import dlib  # type: ignore[import-not-found]
    from PIL import Image

    sys.path.insert(0, str(REPO_ROOT / "models"))
    from dlib_resnet import parse_dlib_resnet, reference_descriptor

    with tarfile.open(SDIST) as sdist:
        member = sdist.extractfile(DAT_MEMBER)
        assert member is not None
        dat = member.read()
    dat_path = REPO_ROOT / "models/.build/dlib_face_recognition_resnet_model_v1.dat"
    dat_path.write_bytes(dat)
    net = parse_dlib_resnet(dat)
    model = dlib.face_recognition_model_v1(str(dat_path))
    vectors = {}
    for png in sorted(GOLDEN_DIR.glob("*.png")):
        chip = np.asarray(Image.open(png).convert("RGB"))
        vectors[png.name] = {
            "dlib": [float(v) for v in model.compute_face_descriptor(chip)],
            "oracle": [float(v) for v in reference_descriptor(net, chip)],
        }
    record = {
        "produced_by": "tests/models/golden/make_golden.py descriptors",
        "dlib_version": dlib.__version__,
        "call": "dlib.face_recognition_model_v1(dat).compute_face_descriptor(chip) (no jitter)",
        "oracle": "models/dlib_resnet.py reference_descriptor (float64)",
        "dat_sha256": hashlib.sha256(dat).hexdigest(),
        "descriptors": vectors,
    }
    (GOLDEN_DIR / "descriptors.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote descriptors.json for {len(vectors)} chips")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=["chips", "descriptors", "sface-chips"])
    step = parser.parse_args().step
    {"chips": make_chips, "descriptors": make_descriptors, "sface-chips": make_sface_chips}[step]()


if __name__ == "__main__":
    main()
