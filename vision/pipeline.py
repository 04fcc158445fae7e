"""The face pipeline shared by the door station (verify) and the coordinator (enrol).

detect -> choose the face -> quality gate -> align -> embed; then, for a verification attempt,
liveness across its frames and a comparison with the claimed person's templates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vision.alignment import align_face
from vision.decisions import Decision, LivenessCue, Reason
from vision.detector import FaceDetection, FaceDetector
from vision.embedder import FaceEmbedder
from vision.errors import ConfigurationError
from vision.eyes import EyeOpening
from vision.images import RGBImage, check_rgb
from vision.liveness import LivenessEvidence, LivenessPolicy, judge_liveness
from vision.matching import Descriptor, FaceTemplates, MatchPolicy, compare
from vision.quality import QualityLimits, check_quality, signed_yaw_ratio
from vision.runtime import VisionModels
from vision.selection import SelectionRules, choose_face


@dataclass(frozen=True)
class VisionSettings:
    """Every tunable of the pipeline; the firmware profile supplies them on a device.

    `embedder_model` names the embedder (a models/MANIFEST model, e.g. "sface-2021dec"); None is
    the manifest's default. `match` None means the threshold and margin calibrated for that
    embedder in models/MANIFEST.
    """

    match: MatchPolicy | None = None
    embedder_model: str | None = None
    quality: QualityLimits = field(default_factory=QualityLimits)
    selection: SelectionRules = field(default_factory=SelectionRules)
    liveness: LivenessPolicy = field(default_factory=LivenessPolicy)
    num_threads: int = 1
    # Of an attempt's usable frames, how many (the most frontal) are embedded and averaged:
    # averaging smooths keypoint jitter, each embedding costs about 20 ms with SFace.
    embed_frames: int = 1

    def __post_init__(self) -> None:
        if self.embed_frames < 1 or self.num_threads < 1:
            raise ConfigurationError("embed_frames and num_threads must be at least 1")


@dataclass(frozen=True)
class FaceReading:
    """One usable face from one frame: where it was, its aligned chip and its descriptor."""

    face: FaceDetection
    chip: RGBImage
    descriptor: Descriptor


@dataclass(frozen=True)
class FaceLook:
    """One usable face from one frame before embedding: where it was, its aligned chip, and
    how open its eyes are (measured only when the liveness policy asks for a blink)."""

    face: FaceDetection
    chip: RGBImage
    eye_opening: float | None = None


@dataclass(frozen=True)
class Verification:
    """A verification attempt's decision, with the liveness evidence behind it."""

    decision: Decision
    liveness: LivenessEvidence | None = None
    frames_used: int = 0


class FacePipeline:
    """Loads the two models once; `read` one frame, `verify` one attempt's frames."""

    def __init__(
        self, models: VisionModels | None = None, settings: VisionSettings | None = None
    ) -> None:
        self.settings = settings or VisionSettings()
        named = self.settings.embedder_model
        self.models = models or (VisionModels.for_model(named) if named else VisionModels())
        self.detector = FaceDetector(self.models.detector, self.settings.num_threads)
        self.embedder = FaceEmbedder(self.models.embedder, self.settings.num_threads)
        spec = self.embedder.spec
        self.match = self.settings.match or MatchPolicy(spec.threshold, spec.margin)
        self.eyes = (
            EyeOpening(self.models.eyes, self.settings.num_threads)
            if self.settings.liveness.blink
            else None
        )

    @property
    def model(self) -> str:
        """The embedder's model name: templates of another model cannot be compared."""
        return self.embedder.spec.model

    def look(self, frame: RGBImage) -> FaceLook | Reason:
        """The chosen face, gated and aligned, or the reason this frame cannot be used."""
        frame = check_rgb(frame)
        height, width = frame.shape[:2]
        chosen = choose_face(self.detector.detect(frame), width, height, self.settings.selection)
        if isinstance(chosen, Reason):
            return chosen
        chosen = self.detector.refine(frame, chosen)
        refusal = check_quality(chosen, frame, self.settings.quality)
        if refusal is not None:
            return refusal
        spec = self.embedder.spec
        chip = align_face(frame, chosen, spec.chip_template, spec.chip_size)
        opening = None if self.eyes is None else self.eyes.opening(frame, chosen)
        return FaceLook(chosen, chip, opening)

    def read(self, frame: RGBImage) -> FaceReading | Reason:
        """The chosen face's reading, or the reason this frame cannot be used."""
        looked = self.look(frame)
        if isinstance(looked, Reason):
            return looked
        return FaceReading(looked.face, looked.chip, self.embedder.embed(looked.chip))

    def verify(
        self,
        frames: Sequence[RGBImage],
        templates: Sequence[Descriptor] | FaceTemplates,
        eye_openings: Sequence[float] = (),
    ) -> Verification:
        """Decide whether the frames show the live person whose templates are given.

        Templates given as FaceTemplates of another model are not compared (NO_TEMPLATES: the
        person must be enrolled again for this model). When the liveness policy asks for a
        blink, the eye openings are measured on every usable frame (the iris-landmark model),
        unless the caller passes its own, one per usable frame, in `eye_openings`.
        """
        if isinstance(templates, FaceTemplates):
            if templates.model != self.model:
                return Verification(self._refuse(Reason.NO_TEMPLATES))
            templates = templates.descriptors
        readings: list[FaceLook] = []
        refusals: list[Reason] = []
        for frame in frames:
            outcome = self.look(frame)
            (refusals if isinstance(outcome, Reason) else readings).append(outcome)  # type: ignore[arg-type]
        if Reason.SEVERAL_FACES in refusals:
            return Verification(self._refuse(Reason.SEVERAL_FACES), None, len(readings))
        if not frames:
            return Verification(self._refuse(Reason.NO_FACE))
        policy = self.settings.liveness
        if refusals and len(readings) < max(1, policy.min_frames):
            # Too few usable frames: the frames' own reason, not "not live".
            return Verification(
                self._refuse(Counter(refusals).most_common(1)[0][0]), None, len(readings)
            )
        measured = [r.eye_opening for r in readings if r.eye_opening is not None]
        evidence = judge_liveness(
            [r.chip for r in readings],
            policy,
            yaws=[signed_yaw_ratio(r.face) for r in readings],
            eye_openings=eye_openings or measured,
        )
        if not evidence.is_live:
            refusal = self._refuse(Reason.NOT_LIVE, evidence.failed_cue)
            return Verification(refusal, evidence, len(readings))
        descriptor = self._attempt_descriptor(readings)
        return Verification(compare(descriptor, templates, self.match), evidence, len(readings))

    def _attempt_descriptor(self, looks: Sequence[FaceLook]) -> Descriptor:
        """The mean descriptor of the most frontal frames: averaging smooths keypoint jitter."""
        frontal = sorted(looks, key=lambda look: abs(signed_yaw_ratio(look.face)))
        chosen = frontal[: self.settings.embed_frames]
        mean = np.mean([self.embedder.embed(look.chip) for look in chosen], axis=0)
        return np.asarray(mean, dtype=np.float32)

    def _refuse(self, reason: Reason, cue: LivenessCue | None = None) -> Decision:
        return Decision(reason, None, self.match.threshold, self.match.margin, cue)
