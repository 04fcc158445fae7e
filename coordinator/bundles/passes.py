"""A student pass as it is shown: the signed text, its QR code as PNG, a printable PDF.

Passes are signed by the site's active signing key, the same Ed25519 key that signs bundles
(coordinator/bundles/keys.py), and gates trust the same keys (`GateRules.pass_keys`). The two
uses cannot be confused: a pass signature covers `campus-pass-v1\\0` followed by binary, a bundle
signature a JSON object. So key rotation is one procedure for both: a pass printed before a
rotation keeps opening gates until its key is retired; printed again, it carries the new key.

The code holds no name or photo (protocols/passes.py); the printed sheet shows the name beside
the code, for people, not for the gate.
"""

import io
from uuid import UUID

import segno
from PIL import Image, ImageDraw
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.bundles.keys import active_key
from coordinator.db.models import Gate, Site, Student, StudentPass
from coordinator.errors import ConflictError
from protocols.bundle import PersonKind, person_ref
from protocols.passes import QR_ERROR_CORRECTION, PassBody, issue_pass, pass_key_id

QR_SCALE = 8  # pixels a module: a version 8 code is ~45 mm wide at 300 dpi
SHEET_DPI = 300


def pass_text(
    session: Session,
    secret: SecretStr,
    student_pass: StudentPass,
    *,
    holder_key: bytes | None = None,
) -> str:
    """The static text of a pass (what its QR code holds), signed by the active key.

    With `holder_key` (the raw Ed25519 public key of the student's phone) it is the phone form:
    the key is bound into the signed body (flag bit 0), and gates then accept only the rotating
    codes that phone signs (services/pass_links.py, the page in coordinator/static/phone/).
    """
    if student_pass.revoked_at is not None:
        raise ConflictError("this pass is revoked; issue a new one instead of printing it")
    key = active_key(session, secret)
    if key is None:
        raise ConflictError("no signing key is active yet: build the bundles once, or add a key")
    try:
        body = PassBody(
            pass_id=UUID(hex=student_pass.pass_ref),
            site=_site_of(session, student_pass.zones),
            holder_ref=person_ref(PersonKind.STUDENT, student_pass.student_id),
            zones=tuple(student_pass.zones),
            valid_from=student_pass.valid_from,
            valid_until=student_pass.valid_until,
            key_id=pass_key_id(key.private_key.public_key()),
            holder_key=holder_key,
        )
    except (ValueError, ValidationError) as error:
        raise ConflictError(f"this pass cannot be encoded: {error}; reissue it") from None
    return issue_pass(body, key.private_key)


def qr_png(text: str) -> bytes:
    """The pass's QR code alone, as PNG, at the error-correction level passes are issued with."""
    out = io.BytesIO()
    _qr(text).save(out, kind="png", scale=QR_SCALE, border=4)
    return out.getvalue()


def pass_pdf(text: str, student: Student, student_pass: StudentPass) -> bytes:
    """One A6 page: the code, and beside it what a person checks (name, number, zones, dates)."""
    width, height = round(105 / 25.4 * SHEET_DPI), round(148 / 25.4 * SHEET_DPI)
    sheet = Image.new("L", (width, height), 255)
    code = Image.open(io.BytesIO(qr_png(text))).convert("L")
    side = width - 2 * 60
    sheet.paste(code.resize((side, side), Image.Resampling.NEAREST), (60, 60))
    lines = [
        student.full_name,
        f"Student {student.student_number}",
        "Zones: " + ", ".join(student_pass.zones),
        f"Valid {student_pass.valid_from:%Y-%m-%d} to {student_pass.valid_until:%Y-%m-%d}",
        f"Pass {student_pass.pass_ref[:8]}",
    ]
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(lines):
        draw.text((60, side + 100 + number * 70), line[:60], fill=0, font_size=48)
    out = io.BytesIO()
    sheet.save(out, format="PDF", resolution=SHEET_DPI)
    return out.getvalue()


def _qr(text: str) -> segno.QRCode:
    return segno.make_qr(text, error=QR_ERROR_CORRECTION.lower())


def _site_of(session: Session, zones: list[str]) -> str:
    """The one site whose gates open the pass's zones: a pass is for one campus."""
    sites = set(
        session.scalars(
            select(Site.code).join(Gate, Gate.site_id == Site.id).where(Gate.zone.in_(zones))
        )
    )
    if len(sites) != 1:
        found = ", ".join(sorted(sites)) or "none"
        raise ConflictError(
            f"a pass opens gates of one site; the zones {zones} are at sites: {found}"
        )
    return sites.pop()
