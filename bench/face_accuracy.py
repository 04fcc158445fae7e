"""Accuracy of the face pipeline on a labelled face set (a benchmark, not a test).

    .venv/bin/python bench/face_accuracy.py [FACES_DIR]

FACES_DIR defaults to ../shared/data/faces when present. For each embedder variant it prints the
failure-to-enrol rate (photos the pipeline refuses, with reasons), then over every pair of enrolled
photos: TAR at FAR 1% and 0.1%, the EER, and the threshold chosen (the distance at FAR 0.1%).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from face_data import default_faces_dir, find_set, identities, load_rgb

from vision import FacePipeline, FaceReading, MatchPolicy, VisionModels

VARIANTS = ("fp32", "int8dr")


def read_all(
    folder: Path, labels: dict[str, int], variant: str
) -> tuple[dict[str, np.ndarray], Counter[str]]:
    pipeline = FacePipeline(VisionModels.in_folder(VisionModels().detector.parent, variant))
    descriptors: dict[str, np.ndarray] = {}
    refusals: Counter[str] = Counter()
    for name in sorted(labels):
        outcome = pipeline.read(load_rgb(folder / name))
        if isinstance(outcome, FaceReading):
            descriptors[name] = outcome.descriptor
        else:
            refusals[outcome.value] += 1
    return descriptors, refusals


def pair_distances(
    descriptors: dict[str, np.ndarray], labels: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(sorted(descriptors), 2):
        distance = float(np.linalg.norm(descriptors[a] - descriptors[b]))
        (genuine if labels[a] == labels[b] else impostor).append(distance)
    return np.array(genuine), np.array(impostor)


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


def report(variant: str, folder: Path, labels: dict[str, int]) -> None:
    descriptors, refusals = read_all(folder, labels, variant)
    genuine, impostor = pair_distances(descriptors, labels)
    print(f"== embedder {variant}: {len(labels)} photos, {len(set(labels.values()))} people")
    fte = sum(refusals.values()) / len(labels)
    print(f"failure to enrol: {fte:.1%} {dict(refusals) or ''}")
    print(
        f"pairs: {len(genuine)} genuine, {len(impostor)} impostor; genuine mean "
        f"{genuine.mean():.3f} max {genuine.max():.3f}; impostor mean {impostor.mean():.3f} "
        f"min {impostor.min():.3f}"
    )
    for far in (0.01, 0.001):
        tar, threshold = tar_at_far(genuine, impostor, far)
        print(f"TAR at FAR {far:.1%}: {tar:.2%} (threshold {threshold:.3f})")
    eer, eer_threshold = equal_error_rate(genuine, impostor)
    print(f"EER: {eer:.2%} at {eer_threshold:.3f}")
    tar, chosen = tar_at_far(genuine, impostor, 0.001)
    print(f"at dlib's 0.6: TAR {(genuine < 0.6).mean():.2%}, FAR {(impostor < 0.6).mean():.2%}")
    print(f"chosen threshold (FAR 0.1%): {chosen:.3f}")
    print_bands(genuine, impostor, MatchPolicy())


def print_bands(genuine: np.ndarray, impostor: np.ndarray, policy: MatchPolicy) -> None:
    """How the default policy's three bands split genuine and impostor pairs."""
    low, high = policy.threshold - policy.margin, policy.threshold + policy.margin
    for label, distances in (("genuine", genuine), ("impostor", impostor)):
        print(
            f"policy {policy.threshold}+-{policy.margin} on {label} pairs: match "
            f"{(distances < low).mean():.2%}, uncertain "
            f"{((distances >= low) & (distances <= high)).mean():.2%}, no match "
            f"{(distances > high).mean():.2%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("faces", type=Path, nargs="?", default=default_faces_dir())
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    if args.faces is None:
        raise SystemExit("no labelled face set: pass its folder (see bench/face_accuracy.py)")
    folder = find_set(args.faces)
    labels = identities(folder)
    for variant in args.variants:
        report(variant, folder, labels)


if __name__ == "__main__":
    main()
