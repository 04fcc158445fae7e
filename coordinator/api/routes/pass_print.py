"""A pass printed or shown: its QR code as PNG and a printable PDF (bundles/passes.py)."""

from typing import Any

from fastapi import APIRouter, Depends, Response

from coordinator.api.deps import ScopeDep, SessionDep, SettingsDep, allow
from coordinator.bundles.passes import pass_pdf, pass_text, qr_png
from coordinator.db.enums import Role
from coordinator.db.models import Student
from coordinator.schemas.common import Id
from coordinator.services.passes import find_pass

A, M = Role.ADMIN, Role.MANAGER
router = APIRouter(prefix="/passes", tags=["passes"])
_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "The pass's QR code."}
}
_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "A printable A6 pass."}
}


@router.get(
    "/{pass_id}/qr.png",
    response_class=Response,
    responses=_PNG,
    dependencies=[Depends(allow(A, M))],
)
def pass_qr(pass_id: Id, session: SessionDep, scope: ScopeDep, settings: SettingsDep) -> Response:
    """The pass's QR code, signed by the active key; 409 for a revoked pass or no key yet."""
    student_pass = find_pass(session, pass_id, scope=scope)
    text = pass_text(session, settings.secret_key, student_pass)
    return Response(qr_png(text), media_type="image/png")


@router.get(
    "/{pass_id}/print.pdf",
    response_class=Response,
    responses=_PDF,
    dependencies=[Depends(allow(A, M))],
)
def pass_print(
    pass_id: Id, session: SessionDep, scope: ScopeDep, settings: SettingsDep
) -> Response:
    """A printable pass: the code and, beside it, the student's name, number, zones and dates."""
    student_pass = find_pass(session, pass_id, scope=scope)
    text = pass_text(session, settings.secret_key, student_pass)
    student = session.get_one(Student, student_pass.student_id)
    return Response(pass_pdf(text, student, student_pass), media_type="application/pdf")
