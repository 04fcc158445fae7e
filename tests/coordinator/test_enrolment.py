"""Enrolment: templates from several photos with per-photo verdicts, sealed with AES-GCM."""

from __future__ import annotations

import os

import numpy as np
import pytest
import skimage.data

from coordinator.enrolment import (
    EnrolmentReason,
    EnrolmentRules,
    TemplateSealError,
    enrol,
    open_templates,
    seal_templates,
)
from tests.vision.frames import affine_frame, small_rigid_motions
from vision import FacePipeline, FaceReading, MatchPolicy, Reason
from vision.detector import FaceDetection


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]


def _blurred(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image.astype(np.float32), ((4, 4), (4, 4), (0, 0)), mode="edge")
    total = sum(
        padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
        for dy in range(9)
        for dx in range(9)
    )
    return np.asarray(total / 81).astype(np.uint8)


def test_usable_photos_become_templates_and_the_rest_say_why(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    photos = {
        f"moved-{i}": affine_frame(astronaut, m)
        for i, m in enumerate(small_rigid_motions(3, seed=9))
    }
    photos["original"] = astronaut
    photos["blurred"] = _blurred(astronaut)
    photos["wall"] = np.full((480, 640, 3), 200, dtype=np.uint8)
    enrolment = enrol(pipeline, photos)
    verdicts = {v.photo_id: v for v in enrolment.verdicts}
    assert list(verdicts) == list(photos)  # one verdict per photo, in upload order
    assert verdicts["blurred"].reason is Reason.FACE_BLURRED
    assert verdicts["wall"].reason is Reason.NO_FACE
    assert sorted(p for p, v in verdicts.items() if v.is_used) == sorted(
        ["moved-0", "moved-1", "moved-2", "original"]
    )
    assert len(enrolment.templates) == 4 and enrolment.is_complete
    spread = max(np.linalg.norm(t - enrolment.templates[0]) for t in enrolment.templates)
    assert spread < pipeline.match.threshold / 2


class ScriptedReader:
    """Stands in for the pipeline: each photo id maps to a prepared descriptor."""

    match = MatchPolicy(0.6, 0.05)  # dlib's scale: the outlier rule is then 0.5

    def __init__(self, descriptors: dict[str, np.ndarray]) -> None:
        self.descriptors = descriptors

    def read(self, frame: np.ndarray) -> FaceReading | Reason:
        name = bytes(frame[0, :8, 0]).rstrip(b"\0").decode()
        face = FaceDetection((0.0, 0.0, 1.0, 1.0), np.zeros((6, 2)), 0.9)
        return FaceReading(face, np.zeros((150, 150, 3), np.uint8), self.descriptors[name])


def _named_frame(name: str) -> np.ndarray:
    frame = np.zeros((2, 8, 3), dtype=np.uint8)
    frame[0, : len(name), 0] = list(name.encode())
    return frame


def test_a_photo_of_someone_else_is_dropped_as_an_outlier() -> None:
    rng = np.random.default_rng(5)
    person = rng.normal(0, 0.1, 128)
    descriptors = {
        f"p{i}": (person + rng.normal(0, 0.015, 128)).astype(np.float32) for i in range(4)
    }
    descriptors["other"] = (person + 0.9 * np.eye(128)[0]).astype(np.float32)
    photos = {name: _named_frame(name) for name in descriptors}
    enrolment = enrol(ScriptedReader(descriptors), photos, EnrolmentRules(min_photos=3))
    verdicts = {v.photo_id: v for v in enrolment.verdicts}
    assert verdicts["other"].reason is EnrolmentReason.OUTLIER
    assert verdicts["other"].distance_to_others == pytest.approx(0.9, abs=0.05)
    assert all(verdicts[f"p{i}"].is_used for i in range(4))
    assert enrolment.is_complete


def test_too_few_usable_photos_leave_the_enrolment_incomplete() -> None:
    descriptors = {"only": np.zeros(128, np.float32)}
    enrolment = enrol(ScriptedReader(descriptors), {"only": _named_frame("only")})
    assert len(enrolment.templates) == 1
    assert not enrolment.is_complete


def _templates(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.normal(0, 0.1, 128).astype(np.float32) for _ in range(count)]


def test_sealed_templates_open_only_for_their_person_and_key() -> None:
    key, templates = os.urandom(32), _templates(3)
    blob = seal_templates(templates, key, "person-17")
    opened = open_templates(blob, key, "person-17")
    assert all(np.array_equal(a, b) for a, b in zip(opened, templates, strict=True))
    with pytest.raises(TemplateSealError, match="wrong key"):
        open_templates(blob, os.urandom(32), "person-17")
    with pytest.raises(TemplateSealError, match="person-18"):
        open_templates(blob, key, "person-18")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(ValueError):  # TemplateSealError is also a ValueError
        open_templates(tampered, key, "person-17")


def test_sealing_hides_the_values_and_never_repeats() -> None:
    key, templates = os.urandom(32), _templates(2)
    first = seal_templates(templates, key, "p")
    assert templates[0].tobytes()[:16] not in first
    assert seal_templates(templates, key, "p") != first  # a fresh nonce every time


def test_a_short_key_is_refused_with_advice() -> None:
    with pytest.raises(TemplateSealError, match=r"os\.urandom"):
        seal_templates(_templates(1), b"short", "p")
