"""Face verification on TFLite, shared by the door station and the coordinator's enrolment.

Imports nothing from protocols, edge_agent or coordinator (an import-linter contract holds it).
"""

from vision.decisions import Decision, LivenessCue, Reason
from vision.errors import VisionError
from vision.liveness import LivenessPolicy, LivenessStrength
from vision.matching import Descriptor, FaceTemplates, MatchPolicy
from vision.pipeline import FacePipeline, FaceReading, Verification, VisionSettings
from vision.quality import QualityLimits
from vision.runtime import VisionModels

__all__ = [
    "Decision",
    "Descriptor",
    "FacePipeline",
    "FaceReading",
    "FaceTemplates",
    "LivenessCue",
    "LivenessPolicy",
    "LivenessStrength",
    "MatchPolicy",
    "QualityLimits",
    "Reason",
    "Verification",
    "VisionError",
    "VisionModels",
    "VisionSettings",
]
