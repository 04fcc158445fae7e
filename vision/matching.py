"""Comparing a descriptor with the claimed person's templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias, overload

import numpy as np
import numpy.typing as npt

from vision.decisions import Decision, Reason
from vision.errors import ConfigurationError, TemplateFormatError

DESCRIPTOR_SIZE = 128
Descriptor: TypeAlias = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MatchPolicy:
    """Threshold on the L2 distance, with an "unknown" band of +- margin around it.

    Below threshold - margin: the person. Above threshold + margin: someone else. In between:
    UNCERTAIN, and the station asks for another look rather than guessing. The threshold comes
    from the firmware profile, else from the embedder's calibration in models/MANIFEST
    (VisionSettings.match None); the defaults here are dlib's own 0.6.
    """

    threshold: float = 0.6
    margin: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 2 or not 0 <= self.margin < self.threshold:
            raise ConfigurationError(
                f"match threshold {self.threshold} / margin {self.margin} out of range: "
                "use 0 < threshold <= 2 and 0 <= margin < threshold"
            )


@dataclass(frozen=True)
class FaceTemplates(Sequence[Descriptor]):
    """A person's enrolled descriptors with the embedder model they were made with.

    A sequence of its descriptors, so code that takes `Sequence[Descriptor]` takes it too;
    `FacePipeline.verify` compares them only when `model` is the pipeline's own.
    """

    model: str
    descriptors: tuple[Descriptor, ...]

    def __len__(self) -> int:
        return len(self.descriptors)

    @overload
    def __getitem__(self, index: int) -> Descriptor: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Descriptor]: ...
    def __getitem__(self, index: int | slice) -> Descriptor | Sequence[Descriptor]:
        return self.descriptors[index]


def check_template(template: npt.NDArray[np.generic]) -> Descriptor:
    if template.shape != (DESCRIPTOR_SIZE,):
        raise TemplateFormatError(f"shape {template.shape}, expected ({DESCRIPTOR_SIZE},)")
    if not np.all(np.isfinite(template)):
        raise TemplateFormatError("it contains NaN or infinite values")
    return np.asarray(template, dtype=np.float32)


def distance_to_templates(descriptor: Descriptor, templates: Sequence[Descriptor]) -> float:
    """The smallest L2 distance to any of the person's templates."""
    stacked = np.stack([check_template(t) for t in templates])
    return float(np.linalg.norm(stacked - descriptor, axis=1).min())


def compare(
    descriptor: Descriptor, templates: Sequence[Descriptor], policy: MatchPolicy
) -> Decision:
    """MATCH, NO_MATCH or UNCERTAIN, with the distance that decided it."""
    if not templates:
        return Decision(Reason.NO_TEMPLATES, None, policy.threshold, policy.margin)
    distance = distance_to_templates(descriptor, templates)
    if distance < policy.threshold - policy.margin:
        reason = Reason.MATCH
    elif distance > policy.threshold + policy.margin:
        reason = Reason.NO_MATCH
    else:
        reason = Reason.UNCERTAIN
    return Decision(reason, distance, policy.threshold, policy.margin)
