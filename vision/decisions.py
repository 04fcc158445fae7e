"""What a verification attempt concluded, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why the pipeline decided as it did; the edge agent maps these onto wire reason codes."""

    MATCH = "match"
    NO_MATCH = "no_match"
    UNCERTAIN = "uncertain"  # inside the "unknown" margin around the threshold: ask again
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_BLURRED = "face_blurred"
    FACE_TURNED = "face_turned"
    NOT_LIVE = "not_live"
    NO_TEMPLATES = "no_templates"


@dataclass(frozen=True)
class Decision:
    """One attempt's outcome: the reason, and the distance when a face was compared."""

    reason: Reason
    distance: float | None = None
    threshold: float | None = None
    margin: float | None = None

    @property
    def is_accepted(self) -> bool:
        return self.reason is Reason.MATCH
