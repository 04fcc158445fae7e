"""Accuracy of the face pipeline on a labelled face set, per embedder (a benchmark, not a test).

    .venv/bin/python bench/face_accuracy.py [FACES_DIR] [--models sface-2021dec/fp16 ...]

FACES_DIR is either a plain folder of `person/photo.jpg` (one sub-folder per person) or the CSV
layout (photos beside master.csv, identities from its "Yes" pairs); it defaults to
../shared/data/faces when present. Photos are decoded by vision.photos (EXIF applied), as
enrolment decodes them. For each embedder in models/MANIFEST it prints:

- the quality gate: failure to enrol with the default limits, each refusal's reason, and the
  distribution of the gate's own measures (sharpness, yaw, roll, eye distance);
- over all pairs (gate opened, every photo with a face) and separately over the pairs of photos
  the default gate passes (with their counts): TAR at FAR 1% and 0.1%, the EER, and the
  thresholds there;
- the enrolled-set protocol (how a station verifies): per person 3 photos as templates, each
  other photo a probe scored by its smallest distance to a person's templates, pooled over
  seeded random splits;
- how the manifest's calibrated threshold and margin split genuine and impostor scores.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from face_data import default_faces_dir, labelled_photos, load_rgb

from vision import FacePipeline, FaceReading, MatchPolicy, QualityLimits, VisionModels
from vision.manifest import model_entries
from vision.pipeline import VisionSettings
from vision.quality import check_quality, roll_degrees, sharpness, yaw_ratio
from vision.runtime import DEFAULT_MODELS_DIR

OPEN_GATE = QualityLimits(0.0, 0.0, 100.0, 180.0)
TEMPLATES_PER_PERSON = 3
SPLITS = 50


@dataclass(frozen=True)
class Read:
    """One photo read with the gate opened, and what the default gate says of it."""

    descriptor: np.ndarray
    refusal: str | None
    measures: tuple[float, float, float, float]  # sharpness, yaw, roll, eye distance


def read_all(
    paths: dict[str, Path], pipeline: FacePipeline
) -> tuple[dict[str, Read], Counter[str]]:
    reads: dict[str, Read] = {}
    no_face: Counter[str] = Counter()
    for name, path in sorted(paths.items()):
        photo = load_rgb(path)
        outcome = pipeline.read(photo)
        if not isinstance(outcome, FaceReading):
            no_face[outcome.value] += 1
            continue
        face = outcome.face
        refusal = check_quality(face, photo, QualityLimits())
        measures = (sharpness(photo, face), yaw_ratio(face), roll_degrees(face), face.eye_distance)
        reads[name] = Read(outcome.descriptor, None if refusal is None else refusal.value, measures)
    return reads, no_face


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold): the largest threshold that accepts at most `far` of impostors."""
    ordered = np.sort(impostor)
    allowed = int(np.floor(far * len(ordered)))
    threshold = float(ordered[allowed]) if allowed < len(ordered) else float("inf")
    return float((genuine < threshold).mean()), threshold


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    candidates = np.unique(np.concatenate([genuine, impostor]))
    frr = np.array([(genuine >= t).mean() for t in candidates])
    far = np.array([(impostor < t).mean() for t in candidates])
    best = int(np.argmin(np.abs(frr - far)))
    return float((frr[best] + far[best]) / 2), float(candidates[best])


def pair_scores(
    descriptors: dict[str, np.ndarray], labels: dict[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(sorted(descriptors), 2):
        distance = float(np.linalg.norm(descriptors[a] - descriptors[b]))
        (genuine if labels[a] == labels[b] else impostor).append(distance)
    return np.array(genuine), np.array(impostor)


def enrolled_set_scores(
    descriptors: dict[str, np.ndarray], labels: dict[str, str], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor probe scores (min distance to 3 templates), pooled over splits."""
    people: dict[str, list[str]] = defaultdict(list)
    for name in sorted(descriptors):
        people[labels[name]].append(name)
    people = {p: names for p, names in people.items() if len(names) > TEMPLATES_PER_PERSON}
    rng = np.random.default_rng(seed)
    genuine: list[float] = []
    impostor: list[float] = []
    for _ in range(SPLITS):
        templates, probes = {}, {}
        for person, names in people.items():
            order = rng.permutation(names)
            templates[person] = np.stack([descriptors[n] for n in order[:TEMPLATES_PER_PERSON]])
            probes[person] = [descriptors[n] for n in order[TEMPLATES_PER_PERSON:]]
        for person, own in probes.items():
            for probe in own:
                for claimed, stack in templates.items():
                    score = float(np.linalg.norm(stack - probe, axis=1).min())
                    (genuine if claimed == person else impostor).append(score)
    return np.array(genuine), np.array(impostor)


def print_rates(title: str, genuine: np.ndarray, impostor: np.ndarray) -> None:
    if not len(genuine) or not len(impostor):
        print(f"  {title}: not enough pairs")
        return
    cells = []
    for far in (0.01, 0.001):
        tar, threshold = tar_at_far(genuine, impostor, far)
        cells.append(f"TAR@FAR{far:.1%} {tar:.2%} (t={threshold:.3f})")
    eer, at = equal_error_rate(genuine, impostor)
    print(
        f"  {title}: {len(genuine)} genuine / {len(impostor)} impostor; "
        + "; ".join(cells)
        + f"; EER {eer:.2%} (t={at:.3f})"
    )


def print_gate(reads: dict[str, Read], no_face: Counter[str], total: int) -> None:
    refusals = Counter(r.refusal for r in reads.values() if r.refusal is not None) + no_face
    fte = sum(refusals.values()) / max(total, 1)
    print(f"  failure to enrol (default gate): {fte:.1%} of {total} {dict(refusals) or ''}")
    measures = np.array([r.measures for r in reads.values()])
    if len(measures):
        for column, label in enumerate(("sharpness", "yaw ratio", "roll deg", "eye dist px")):
            values = measures[:, column]
            low, median, high = np.percentile(values, [5, 50, 95])
            print(
                f"    {label:11s}: min {values.min():8.2f}  5% {low:8.2f}  median {median:8.2f}  "
                f"95% {high:8.2f}  max {values.max():8.2f}"
            )
    print(f"    limits: {QualityLimits()}")


def print_policy(policy: MatchPolicy, genuine: np.ndarray, impostor: np.ndarray) -> None:
    low, high = policy.threshold - policy.margin, policy.threshold + policy.margin
    for label, scores in (("genuine", genuine), ("impostor", impostor)):
        print(
            f"  manifest policy {policy.threshold}+-{policy.margin} on enrolled-set {label}: "
            f"match {(scores < low).mean():.2%}, uncertain "
            f"{((scores >= low) & (scores <= high)).mean():.2%}, no match "
            f"{(scores > high).mean():.2%}"
        )


def report(embedder: Path, paths: dict[str, Path], labels: dict[str, str]) -> None:
    models = VisionModels(DEFAULT_MODELS_DIR / "face_detector_short_range.tflite", embedder)
    pipeline = FacePipeline(models, VisionSettings(quality=OPEN_GATE))
    spec = pipeline.embedder.spec
    print(f"== {spec.model}/{spec.variant} ({embedder.name}): {len(paths)} photos, "
          f"{len(set(labels.values()))} people")  # fmt: skip
    reads, no_face = read_all(paths, pipeline)
    print_gate(reads, no_face, len(paths))
    everything = {n: r.descriptor for n, r in reads.items()}
    passed = {n: r.descriptor for n, r in reads.items() if r.refusal is None}
    print_rates(
        f"all pairs ({len(everything)} photos with a face)", *pair_scores(everything, labels)
    )
    print_rates(f"gate-passed pairs ({len(passed)} photos)", *pair_scores(passed, labels))
    genuine, impostor = enrolled_set_scores(passed, labels)
    print_rates(
        f"enrolled set, {TEMPLATES_PER_PERSON} templates, {SPLITS} splits", genuine, impostor
    )
    print_policy(pipeline.match, genuine, impostor)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("faces", type=Path, nargs="?", default=default_faces_dir())
    parser.add_argument("--models", nargs="+", help="model/variant, e.g. sface-2021dec/fp16")
    args = parser.parse_args()
    if args.faces is None:
        raise SystemExit("no labelled face set: pass its folder (see bench/face_accuracy.py)")
    paths, labels = labelled_photos(args.faces)
    for filename, entry in model_entries(DEFAULT_MODELS_DIR).items():
        if "model" not in entry:
            continue
        if args.models and f"{entry['model']}/{entry['variant']}" not in args.models:
            continue
        report(DEFAULT_MODELS_DIR / filename, paths, labels)


if __name__ == "__main__":
    main()
