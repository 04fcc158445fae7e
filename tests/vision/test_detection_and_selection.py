"""BlazeFace decoding, choosing the face, and refusing ambiguous frames."""

from __future__ import annotations

import numpy as np
import pytest

from vision.decisions import Reason
from vision.detector import FaceDetection, Keypoint, crop_square, short_range_anchors
from vision.images import letterbox
from vision.pipeline import FacePipeline
from vision.selection import SelectionRules, choose_face


def test_anchors_follow_the_short_range_layout() -> None:
    anchors = short_range_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])  # two anchors per 16x16 cell
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # six per 8x8 cell


def test_letterbox_maps_points_back_to_the_frame() -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    frame[200:210, 300:310] = 255
    canvas, fit = letterbox(frame, 128)
    bright = np.argwhere(canvas[..., 0] > 100).mean(axis=0)  # (row, col) in the canvas
    back = fit.to_frame(np.array([bright[1] + 0.5, bright[0] + 0.5]))
    np.testing.assert_allclose(back, [305, 205], atol=3)


def test_the_astronaut_is_found_with_her_keypoints(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    faces = pipeline.detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert 170 < face.box[0] < face.box[2] < 290 and 60 < face.box[1] < face.box[3] < 200
    eyes = face.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE]]
    assert eyes[0, 0] < face.keypoints[Keypoint.NOSE_TIP, 0] < eyes[1, 0]
    assert eyes[:, 1].max() < face.keypoints[Keypoint.MOUTH, 1]


def test_an_empty_frame_has_no_face(pipeline: FacePipeline) -> None:
    assert pipeline.read(np.full((480, 640, 3), 128, dtype=np.uint8)) is Reason.NO_FACE


def _face_at(x: float, y: float, size: float) -> FaceDetection:
    return FaceDetection(
        (x - size / 2, y - size / 2, x + size / 2, y + size / 2), np.zeros((6, 2)), 0.9
    )


def test_the_largest_central_face_is_chosen() -> None:
    near, passer_by = _face_at(320, 240, 200), _face_at(600, 60, 90)
    assert choose_face([passer_by, near], 640, 480, SelectionRules()) is near


def test_a_central_face_beats_a_slightly_larger_one_at_the_edge() -> None:
    central, edge = _face_at(320, 240, 150), _face_at(600, 240, 165)
    assert choose_face([edge, central], 640, 480, SelectionRules(rival_ratio=0.9)) is central


def test_two_faces_of_similar_size_are_refused() -> None:
    faces = [_face_at(220, 240, 150), _face_at(420, 240, 140)]
    assert choose_face(faces, 640, 480, SelectionRules()) is Reason.SEVERAL_FACES


def test_two_real_faces_side_by_side_are_refused(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    face = astronaut[40:260, 120:340]
    frame = np.concatenate([face, face[:, ::-1]], axis=1)  # 220 x 440, two equal faces
    assert len(pipeline.detector.detect(np.ascontiguousarray(frame))) == 2
    assert pipeline.read(np.ascontiguousarray(frame)) is Reason.SEVERAL_FACES


@pytest.mark.parametrize(("left", "top"), [(-20, -10), (500, 490), (100, 100)])
def test_crop_square_pads_outside_the_frame(left: int, top: int) -> None:
    frame = np.full((512, 512, 3), 7, dtype=np.uint8)
    crop = crop_square(frame, left, top, 40)
    assert crop.shape == (40, 40, 3)
    inside = (min(left + 40, 512) - max(left, 0)) * (min(top + 40, 512) - max(top, 0))
    assert int((crop[..., 0] == 7).sum()) == inside
