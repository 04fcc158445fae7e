"""BlazeFace short range on a camera frame: lean numpy pre- and post-processing.

The model sees a 128x128 letterboxed copy of the frame scaled to [-1, 1]; its 896 anchors and
box decoding follow MediaPipe's face_detection_short_range graph (SSD anchors with strides 8, 16,
16, 16; fixed anchor size; weighted non-maximum suppression).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vision.images import RGBImage, check_rgb, letterbox
from vision.runtime import TfliteModel

INPUT_SIDE = 128
ANCHOR_STRIDES = (8, 16, 16, 16)
MIN_SCORE = 0.5
# The second look crops this many face widths around the face: the face then fills the model's
# input and its keypoints jitter about three times less (1-2 px instead of 3-8 px on 512 px).
REFINE_CROP_WIDTHS = 2.5
NMS_IOU = 0.3
SCORE_CLIP = 100.0


class Keypoint(IntEnum):
    """BlazeFace's six keypoints; "right" is the person's right, on the image's left."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH = 3
    RIGHT_EAR = 4
    LEFT_EAR = 5


@dataclass(frozen=True)
class FaceDetection:
    """One face in frame pixels: box (x_min, y_min, x_max, y_max), 6 keypoints (x, y), score."""

    box: tuple[float, float, float, float]
    keypoints: npt.NDArray[np.float64]
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def eye_distance(self) -> float:
        eyes = self.keypoints[[Keypoint.RIGHT_EYE, Keypoint.LEFT_EYE]]
        return float(np.linalg.norm(eyes[1] - eyes[0]))


def short_range_anchors() -> npt.NDArray[np.float64]:
    """(896, 2) anchor centres in [0, 1]; layers with the same stride share one grid."""
    centres: list[npt.NDArray[np.float64]] = []
    strides = list(ANCHOR_STRIDES)
    index = 0
    while index < len(strides):
        stride, repeats = strides[index], strides.count(strides[index])
        cells = INPUT_SIDE // stride
        grid_y, grid_x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(grid_x + 0.5) / cells, (grid_y + 0.5) / cells], axis=-1).reshape(-1, 2)
        # Each layer adds two anchors per cell (aspect ratio 1 and the interpolated scale).
        centres.append(np.repeat(grid, 2 * repeats, axis=0))
        index += repeats
    return np.concatenate(centres).astype(np.float64)


def _iou(box: npt.NDArray[np.float64], others: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top_left = np.maximum(box[:2], others[:, :2])
    bottom_right = np.minimum(box[2:], others[:, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    union = np.prod(box[2:] - box[:2]) + areas - overlap
    return np.asarray(overlap / np.maximum(union, 1e-12), dtype=np.float64)


def weighted_nms(
    boxes: npt.NDArray[np.float64], points: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]
) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    kept = []
    while order.size:
        overlaps = _iou(boxes[order[0]], boxes[order])
        cluster = order[overlaps > NMS_IOU]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(axis=0) / weights.sum()
        keypoints = (points[cluster] * weights[:, :, None]).sum(axis=0) / weights.sum()
        kept.append((box, keypoints, float(scores[order[0]])))
        order = order[overlaps <= NMS_IOU]
    return kept


def crop_square(frame: RGBImage, left: int, top: int, side: int) -> RGBImage:
    """frame[top:top+side, left:left+side], black where the square leaves the frame."""
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    height, width = frame.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x1 > x0 and y1 > y0:
        crop[y0 - top : y1 - top, x0 - left : x1 - left] = frame[y0:y1, x0:x1]
    return crop


class FaceDetector:
    """BlazeFace short range: `detect(frame)` returns faces in frame pixels, best first."""

    def __init__(
        self, model_path: Path, num_threads: int = 1, min_score: float = MIN_SCORE
    ) -> None:
        self.model = TfliteModel(model_path, num_threads)
        self.anchors = short_range_anchors()
        self.min_score = min_score

    def detect(self, frame: RGBImage) -> list[FaceDetection]:
        canvas, fit = letterbox(check_rgb(frame), INPUT_SIDE)
        outputs = self.model.run((canvas / 127.5 - 1.0)[None].astype(np.float32))
        raw = outputs["regressors"][0].astype(np.float64)
        logits = outputs["classificators"][0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        boxes, points = self._decode(raw[keep], self.anchors[keep])
        faces = []
        for box, keypoints, score in weighted_nms(boxes, points, scores[keep]):
            corners = fit.to_frame(box.reshape(2, 2) * INPUT_SIDE).reshape(4)
            in_frame = fit.to_frame(keypoints * INPUT_SIDE)
            faces.append(
                FaceDetection(
                    tuple(float(v) for v in corners),  # type: ignore[arg-type]
                    in_frame,
                    score,
                )
            )
        return faces

    def refine(self, frame: RGBImage, face: FaceDetection) -> FaceDetection:
        """The same face looked at again in a crop around it, for sharper keypoints."""
        side = max(8, round(REFINE_CROP_WIDTHS * face.width))
        left = round(face.centre[0] - side / 2)
        top = round(face.centre[1] - side / 2)
        found = self.detect(crop_square(frame, left, top, side))
        if not found:
            return face
        best = max(found, key=lambda f: f.area)
        offset = np.array([left, top], dtype=np.float64)
        box = (best.box[0] + left, best.box[1] + top, best.box[2] + left, best.box[3] + top)
        return FaceDetection(box, best.keypoints + offset, best.score)

    @staticmethod
    def _decode(
        raw: npt.NDArray[np.float64], anchors: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Boxes (n, 4) as corners and keypoints (n, 6, 2), both in [0, 1] input units."""
        values = raw / INPUT_SIDE
        centres = values[:, :2] + anchors
        half = values[:, 2:4] / 2
        boxes = np.concatenate([centres - half, centres + half], axis=1)
        points = values[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        return boxes, points
