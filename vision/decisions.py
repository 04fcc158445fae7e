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


class LivenessCue(StrEnum):
    """Which liveness cue an attempt failed, carried with a NOT_LIVE decision."""

    TOO_FEW_FRAMES = "too_few_frames"  # fewer usable frames than the policy needs to compare
    FLAT = "flat"  # one homography explains every frame: a print or a screen, not a head
    NO_HEAD_TURN = "no_head_turn"  # the station asked for a head turn and none was seen
    NO_BLINK = "no_blink"  # the policy asked for a blink and the eyes never closed


@dataclass(frozen=True)
class Decision:
    """One attempt's outcome: the reason, the distance when a face was compared, and for a
    NOT_LIVE refusal the liveness cue that failed."""

    reason: Reason
    distance: float | None = None
    threshold: float | None = None
    margin: float | None = None
    failed_cue: LivenessCue | None = None

    @property
    def is_accepted(self) -> bool:
        return self.reason is Reason.MATCH
