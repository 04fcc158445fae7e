"""Face enrolment: a person's templates built from several photos, sealed for storage.

The coordinator runs the very pipeline the door stations run (vision.FacePipeline: detection,
choice of face, quality gate, alignment, embedding), so an enrolled template and a live
descriptor are comparable. Each photo gets a verdict with the reason it was refused; photos whose
descriptor sits far from the others (another person, a bad crop) are dropped as outliers. Only
the templates leave this module, sealed with AES-256-GCM under a key the caller passes in and bound
to the person's id; photos are never stored here and never go to devices.

Pure: no database, no network. coordinator/services/faces.py stores the sealed templates.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vision import Descriptor, FaceReading, MatchPolicy, Reason
from vision.images import RGBImage

SEAL_FORMAT = b"FTPL1"  # face templates, format 1
NONCE_SIZE = 12
KEY_SIZE = 32
DESCRIPTOR_SIZE = 128


class FaceReader(Protocol):
    """What enrolment needs of vision.FacePipeline: one photo in, one reading or a refusal out,
    and the match policy of its embedder (outliers are judged on the same scale)."""

    @property
    def match(self) -> MatchPolicy: ...

    def read(self, frame: RGBImage) -> FaceReading | Reason: ...


class EnrolmentReason(StrEnum):
    """Why a photo was refused at enrolment, beyond the pipeline's own reasons."""

    OUTLIER = "outlier"  # far from the person's other photos: another person, or a bad crop


class TemplateSealError(ValueError):
    """Sealed templates could not be opened, or a sealing key is unusable."""


@dataclass(frozen=True)
class EnrolmentRules:
    """How many usable photos a person needs, and how far from the rest a photo may lie."""

    min_photos: int = 3
    # L2 distance to the mean of the person's other photos. None: OUTLIER_SHARE of the reader's
    # match threshold, so the rule follows the embedder (dlib: 0.5 of 0.6; SFace: 0.94 of 1.128).
    max_outlier_distance: float | None = None


OUTLIER_SHARE = 5 / 6


@dataclass(frozen=True)
class PhotoVerdict:
    """One uploaded photo's fate: used, or refused with the reason to show the operator."""

    photo_id: str
    reason: Reason | EnrolmentReason | None  # None: the photo was used
    distance_to_others: float | None = None

    @property
    def is_used(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Enrolment:
    """The templates built from the used photos, and a verdict for every photo."""

    templates: tuple[Descriptor, ...]
    verdicts: tuple[PhotoVerdict, ...]
    min_photos: int

    @property
    def is_complete(self) -> bool:
        return len(self.templates) >= self.min_photos


def _distances_to_others(descriptors: Sequence[Descriptor]) -> list[float]:
    """For each descriptor, its L2 distance to the mean of all the others."""
    stacked = np.stack(descriptors).astype(np.float64)
    total = stacked.sum(axis=0)
    others = (total - stacked) / (len(stacked) - 1)
    return [float(d) for d in np.linalg.norm(stacked - others, axis=1)]


def _drop_outliers(
    readings: dict[str, FaceReading], limit: float
) -> tuple[dict[str, FaceReading], dict[str, float]]:
    """Drop the worst photo while any lies beyond `limit`; one at a time, so a single stranger
    does not drag the mean away from the person and condemn good photos with it."""
    kept = dict(readings)
    dropped: dict[str, float] = {}
    while len(kept) >= 3:
        names = list(kept)
        distances = _distances_to_others([kept[n].descriptor for n in names])
        worst = int(np.argmax(distances))
        if distances[worst] <= limit:
            break
        dropped[names[worst]] = distances[worst]
        del kept[names[worst]]
    return kept, dropped


def enrol(
    pipeline: FaceReader, photos: Mapping[str, RGBImage], rules: EnrolmentRules | None = None
) -> Enrolment:
    """Build a person's templates from their photos (photo id -> RGB array)."""
    rules = rules or EnrolmentRules()
    readings: dict[str, FaceReading] = {}
    verdicts: dict[str, PhotoVerdict] = {}
    for photo_id, image in photos.items():
        outcome = pipeline.read(image)
        if isinstance(outcome, Reason):
            verdicts[photo_id] = PhotoVerdict(photo_id, outcome)
        else:
            readings[photo_id] = outcome
    limit = rules.max_outlier_distance or OUTLIER_SHARE * pipeline.match.threshold
    kept, dropped = _drop_outliers(readings, limit)
    for photo_id, distance in dropped.items():
        verdicts[photo_id] = PhotoVerdict(photo_id, EnrolmentReason.OUTLIER, distance)
    for photo_id in kept:
        verdicts[photo_id] = PhotoVerdict(photo_id, None)
    templates = tuple(kept[photo_id].descriptor for photo_id in photos if photo_id in kept)
    return Enrolment(templates, tuple(verdicts[p] for p in photos), rules.min_photos)


def _associated_data(person_id: str) -> bytes:
    # Binding the person's id means a row copied onto another person fails to open.
    return SEAL_FORMAT + person_id.encode("utf-8")


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise TemplateSealError(
            f"template key must be {KEY_SIZE} bytes (AES-256), got "
            f"{len(key)}; generate one with os.urandom({KEY_SIZE})"
        )
    return AESGCM(key)


def seal_templates(templates: Sequence[Descriptor], key: bytes, person_id: str) -> bytes:
    """The templates encrypted and authenticated: format tag, nonce, then AES-GCM ciphertext."""
    matrix = (
        np.stack(templates).astype("<f4")
        if templates
        else np.zeros((0, DESCRIPTOR_SIZE), dtype="<f4")
    )
    if matrix.shape[1] != DESCRIPTOR_SIZE:
        raise TemplateSealError(f"templates must have {DESCRIPTOR_SIZE} values each")
    plaintext = struct.pack("<I", len(matrix)) + matrix.tobytes()
    nonce = os.urandom(NONCE_SIZE)
    sealed = _cipher(key).encrypt(nonce, plaintext, _associated_data(person_id))
    return SEAL_FORMAT + nonce + sealed


def open_templates(blob: bytes, key: bytes, person_id: str) -> list[Descriptor]:
    """The templates sealed for `person_id`; TemplateSealError if the key or person is wrong."""
    if not blob.startswith(SEAL_FORMAT):
        raise TemplateSealError("not sealed face templates (unknown format tag)")
    nonce = blob[len(SEAL_FORMAT) : len(SEAL_FORMAT) + NONCE_SIZE]
    try:
        plaintext = _cipher(key).decrypt(
            nonce, blob[len(SEAL_FORMAT) + NONCE_SIZE :], _associated_data(person_id)
        )
    except InvalidTag as error:
        raise TemplateSealError(
            f"sealed templates do not open for person {person_id!r}: wrong key, wrong person, "
            "or altered data; re-enrol the person if the key was rotated without re-sealing"
        ) from error
    (count,) = struct.unpack_from("<I", plaintext)
    matrix = np.frombuffer(plaintext[4:], dtype="<f4").reshape(count, DESCRIPTOR_SIZE)
    return [np.asarray(row, dtype=np.float32) for row in matrix]
