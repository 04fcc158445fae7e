"""Speed of the face pipeline per stage on this CPU (a benchmark, not a test).

    .venv/bin/python bench/face_speed.py [FACES_DIR] [--frames N]

Each photo is fitted into a 640x480 frame, as the station's camera delivers it. For each embedder
variant and 1 and 2 threads it prints the median and p95 milliseconds of: detect (BlazeFace on the
frame plus the second look around the face), align, embed, compare (against 5 templates) and
liveness (one 3-frame attempt), the detect+align+embed total against the 60 ms target, and the
peak memory. When `face_recognition` is importable (it needs dlib), the same frames go through
face_recognition.face_locations + face_encodings too, and the ratio is printed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from face_data import camera_frame, default_faces_dir, find_set, identities, load_rgb

from vision import FacePipeline, MatchPolicy, VisionModels, VisionSettings
from vision.alignment import align_face
from vision.liveness import LivenessPolicy, judge_liveness
from vision.matching import compare
from vision.runtime import runtime_name

STAGES = ("detect", "align", "embed", "compare", "liveness")
TARGET_MS = 60.0


def timed(samples: dict[str, list[float]], stage: str, work: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = work()
    samples[stage].append((time.perf_counter() - start) * 1000)
    return result


def run_frame(
    pipeline: FacePipeline,
    frame: np.ndarray,
    templates: list[np.ndarray],
    samples: dict[str, list[float]],
) -> None:
    detector = pipeline.detector

    def detect() -> Any:
        faces = detector.detect(frame)
        return detector.refine(frame, max(faces, key=lambda f: f.area)) if faces else None

    face = timed(samples, "detect", detect)
    if face is None:
        return
    chip = timed(samples, "align", lambda: align_face(frame, face))
    descriptor = timed(samples, "embed", lambda: pipeline.embedder.embed(chip))
    timed(samples, "compare", lambda: compare(descriptor, templates, MatchPolicy()))
    samples["total"].append(samples["detect"][-1] + samples["align"][-1] + samples["embed"][-1])
    chips = [chip, np.roll(chip, 1, axis=1), np.roll(chip, 1, axis=0)]
    timed(samples, "liveness", lambda: judge_liveness(chips, LivenessPolicy()))


def measure(variant: str, threads: int, frames: list[np.ndarray], rounds: int) -> None:
    models = VisionModels.in_folder(VisionModels().detector.parent, variant)
    pipeline = FacePipeline(models, VisionSettings(num_threads=threads))
    rng = np.random.default_rng(0)
    templates = [rng.normal(0, 0.1, 128).astype(np.float32) for _ in range(5)]
    for frame in frames[:3]:  # warm-up: first invokes allocate and pack weights
        run_frame(pipeline, frame, templates, defaultdict(list))
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for frame in frames:
            run_frame(pipeline, frame, templates, samples)
    cells = [
        f"{stage} {statistics.median(samples[stage]):6.2f}/{np.percentile(samples[stage], 95):6.2f}"
        for stage in (*STAGES, "total")
    ]
    verdict = "meets" if statistics.median(samples["total"]) < TARGET_MS else "MISSES"
    print(f"{variant:7s} {threads} thr | " + " | ".join(cells) + f" | {verdict} {TARGET_MS} ms")


def face_recognition_side_by_side(frames: list[np.ndarray], ours_ms: float) -> None:
    try:
        import face_recognition  # type: ignore[import-not-found]  # noqa: PLC0415  (optional)
    except ImportError:
        print("face_recognition not installed: no side-by-side figures")
        return
    times = []
    for frame in frames:
        start = time.perf_counter()
        locations = face_recognition.face_locations(frame)
        face_recognition.face_encodings(frame, locations)
        times.append((time.perf_counter() - start) * 1000)
    theirs = statistics.median(times)
    print(
        f"face_recognition (HOG detect + dlib encode) median {theirs:.1f} ms per frame; "
        f"ours (fp32, 1 thread, detect+align+embed) {ours_ms:.1f} ms: "
        f"{theirs / ours_ms:.1f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("faces", type=Path, nargs="?", default=default_faces_dir())
    parser.add_argument("--frames", type=int, default=20, help="photos to use")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.faces is None:
        raise SystemExit("no face photos: pass a folder (see bench/face_speed.py)")
    folder = find_set(args.faces)
    names = sorted(identities(folder))[: args.frames]
    frames = [camera_frame(load_rgb(folder / name)) for name in names]
    print(f"runtime {runtime_name()}; {len(frames)} frames of 640x480; ms median/p95")
    for variant in ("fp32", "int8dr"):
        for threads in (1, 2):
            measure(variant, threads, frames, args.rounds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS, whole process): {peak_mb:.0f} MB")
    ours: dict[str, list[float]] = defaultdict(list)
    pipeline = FacePipeline()
    for frame in frames:
        run_frame(pipeline, frame, [np.zeros(128, np.float32)], ours)
    face_recognition_side_by_side(frames, statistics.median(ours["total"]))


if __name__ == "__main__":
    main()
