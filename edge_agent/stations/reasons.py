"""One table from the face pipeline's reasons onto the wire's reason codes.

`vision` says why a face attempt ended as it did in its own words; a station reports one
vocabulary (`protocols.ReasonCode`). A test fails if a `vision.Reason` has no row here.
"""

from protocols import ReasonCode
from vision import Reason

FACE_REASONS: dict[Reason, ReasonCode] = {
    Reason.MATCH: ReasonCode.OK,
    Reason.NO_MATCH: ReasonCode.FACE_MISMATCH,
    Reason.UNCERTAIN: ReasonCode.FACE_UNCERTAIN,
    Reason.NO_FACE: ReasonCode.NO_FACE,
    Reason.SEVERAL_FACES: ReasonCode.SEVERAL_FACES,
    Reason.FACE_TOO_SMALL: ReasonCode.FACE_QUALITY_LOW,
    Reason.FACE_BLURRED: ReasonCode.FACE_QUALITY_LOW,
    Reason.FACE_TURNED: ReasonCode.FACE_QUALITY_LOW,
    Reason.NOT_LIVE: ReasonCode.NOT_LIVE,
    Reason.NO_TEMPLATES: ReasonCode.NO_TEMPLATE,
}


def face_reason_code(reason: Reason) -> ReasonCode:
    return FACE_REASONS[reason]
