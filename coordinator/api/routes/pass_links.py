"""One-time links to a phone pass, their claim by the student's phone, and the phone page.

The rules are in services/pass_links.py; the phone form of the pass is signed by
bundles/passes.py; the page (coordinator/static/phone/) makes the rotating codes offline.
"""

import base64
import binascii
from datetime import datetime
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from coordinator.api.deps import ActorDep, ClockDep, ScopeDep, SessionDep, SettingsDep, allow
from coordinator.api.errors import ErrorBody
from coordinator.bundles.passes import pass_text
from coordinator.db.enums import Role
from coordinator.db.models import Student
from coordinator.errors import NotFoundError
from coordinator.schemas.common import Id
from coordinator.services import pass_links
from coordinator.services.passes import find_pass
from protocols.base45 import b45decode
from protocols.passes import PUBLIC_KEY_BYTES, STATIC_PREFIX

A, M = Role.ADMIN, Role.MANAGER
router = APIRouter(tags=["passes"])
page_router = APIRouter(include_in_schema=False)

_STATIC = Path(__file__).resolve().parents[2] / "static"
# The page's files, by the name under /p/; nothing else under /p/ is served.
_PAGE_FILES = {
    "": (_STATIC / "phone" / "index.html", "text/html; charset=utf-8"),
    "phone-pass.js": (_STATIC / "phone" / "phone-pass.js", "text/javascript; charset=utf-8"),
    "sw.js": (_STATIC / "phone" / "sw.js", "text/javascript; charset=utf-8"),
    "style.css": (_STATIC / "phone" / "style.css", "text/css; charset=utf-8"),
    "qrcode.js": (
        _STATIC / "vendor" / "qrcode-generator-2.0.4.js",
        "text/javascript; charset=utf-8",
    ),
}


class PassLinkPublic(BaseModel):
    """A new one-time link: give `url` to the student; it is shown only this once."""

    url: str
    expires_at: datetime


class PassLinkClaim(BaseModel):
    """What the phone sends: the public half of the key pair it made and keeps."""

    model_config = ConfigDict(extra="forbid")

    holder_key: str = Field(
        max_length=64, description="The phone's raw Ed25519 public key (32 bytes), base64."
    )

    @field_validator("holder_key")
    @classmethod
    def _is_an_ed25519_key(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not base64") from None
        if len(raw) != PUBLIC_KEY_BYTES:
            raise ValueError(f"must be {PUBLIC_KEY_BYTES} bytes, not {len(raw)}")
        try:
            Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise ValueError("is not an Ed25519 public key") from None
        return value

    def key_bytes(self) -> bytes:
        return base64.b64decode(self.holder_key)


class PassClaimed(BaseModel):
    """The phone form of the pass, signed with the phone's key bound in, and what to show."""

    signed_pass: str = Field(description="The signed pass bytes (body and site signature), base64.")
    pass_id: UUID
    student_name: str
    zones: list[str]
    valid_from: datetime
    valid_until: datetime


@router.post(
    "/passes/{pass_id}/link",
    status_code=201,
    dependencies=[Depends(allow(A, M))],
)
def create_pass_link(
    pass_id: Id,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    actor: ActorDep,
    clock: ClockDep,
) -> PassLinkPublic:
    """A one-time link through which the student opens the pass on their phone; older unused
    links of the pass stop working. 409 for a revoked, suspended or expired pass."""
    student_pass = find_pass(session, pass_id, scope=scope)
    made = pass_links.create_link(
        session,
        student_pass,
        public_url=settings.public_url,
        hours=settings.pass_link_hours,
        actor=actor,
        now=clock(),
    )
    session.commit()
    return PassLinkPublic(url=made.url, expires_at=made.expires_at)


@router.post("/pass-links/{token}/claim", responses={410: {"model": ErrorBody}})
def claim_pass_link(
    token: str,
    claim: PassLinkClaim,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> PassClaimed:
    """No account: the link's token is the credential. 404 for an unknown link, 410 for a used
    or expired one, 409 for a pass that may not go onto a phone (revoked, no signing key)."""
    holder_key = claim.key_bytes()
    student_pass = pass_links.claim_link(
        session,
        token=token,
        holder_key=holder_key,
        now=clock(),
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    text = pass_text(session, settings.secret_key, student_pass, holder_key=holder_key)
    student = session.get_one(Student, student_pass.student_id)
    session.commit()
    return PassClaimed(
        signed_pass=base64.b64encode(b45decode(text.removeprefix(STATIC_PREFIX))).decode(),
        pass_id=UUID(hex=student_pass.pass_ref),
        student_name=student.full_name,
        zones=list(student_pass.zones),
        valid_from=student_pass.valid_from,
        valid_until=student_pass.valid_until,
    )


@page_router.get(pass_links.PAGE_PATH)
@page_router.get(pass_links.PAGE_PATH + "{name}")
def phone_page(name: str = "") -> Response:
    """The phone page and its files; the service worker keeps them for offline reloads."""
    found = _PAGE_FILES.get(name)
    if found is None:
        raise NotFoundError("no such page")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})
