"""The labelled face set for the benchmarks (never shipped; read from where it lies).

Identities are the connected components of the "Yes" pairs of master.csv and
face-recognition-pivot.csv (the pivot's score columns are ignored; see the set's README).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from vision.photos import load_photo

PAIR_TABLES = ("master.csv", "face-recognition-pivot.csv")


def default_faces_dir() -> Path | None:
    """../shared/data/faces beside the checkout (the main one or a worktree), when present."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "shared/data/faces").is_dir():
            return folder / "shared/data/faces"
    return None


def identities(folder: Path) -> dict[str, int]:
    """Photo file name -> identity number, from the "Yes" pairs of both pair tables."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for table in PAIR_TABLES:
        if not (folder / table).is_file():
            continue
        with (folder / table).open(newline="") as handle:
            for row in csv.DictReader(handle):
                left = root(Path(row["file_x"]).name)
                right = root(Path(row["file_y"]).name)
                decision = row.get("Decision") or row.get("decision") or ""
                if decision.strip() == "Yes":
                    parent[left] = right
    groups: dict[str, list[str]] = defaultdict(list)
    for name in list(parent):
        groups[root(name)].append(name)
    return {
        name: number for number, members in enumerate(sorted(groups.values())) for name in members
    }


def find_set(path: Path) -> Path:
    """The folder holding master.csv: the path itself or its deepface/ subfolder."""
    for candidate in (path, path / "deepface"):
        if (candidate / "master.csv").is_file():
            return candidate
    raise SystemExit(f"no master.csv under {path}; pass the labelled face folder")


PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def labelled_photos(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """(photo name -> path, photo name -> person) from either layout: a plain folder of
    `person/photo.jpg`, or photos beside master.csv (identities from its "Yes" pairs)."""
    for candidate in (folder, folder / "deepface"):
        if (candidate / "master.csv").is_file():
            numbers = identities(candidate)
            paths = {name: candidate / name for name in numbers}
            return paths, {name: f"person-{n}" for name, n in numbers.items()}
    paths, labels = {}, {}
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for photo in sorted(person.iterdir()):
            if photo.suffix.lower() in PHOTO_SUFFIXES:
                name = f"{person.name}/{photo.name}"
                paths[name], labels[name] = photo, person.name
    if not paths:
        raise SystemExit(f"no person/photo.jpg folders and no master.csv under {folder}")
    return paths, labels


def load_rgb(path: Path) -> np.ndarray:
    """The photo decoded as enrolment decodes it (vision.photos, EXIF orientation applied)."""
    return load_photo(path)


def camera_frame(photo: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """The photo fitted into a width x height frame, as the station's camera delivers it."""
    image = Image.fromarray(photo)
    image.thumbnail((width, height), Image.Resampling.BILINEAR)
    frame = Image.new("RGB", (width, height))
    frame.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return np.asarray(frame)
