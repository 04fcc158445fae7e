"""One-time links through which a student opens their pass on a phone.

A manager makes a link for a pass; the student opens it, their phone makes an Ed25519 key pair
that never leaves it, and claims the link with the public half. Claiming spends the link and
binds that key into the phone form of the pass (coordinator/bundles/passes.py signs it), so
only that phone can make the pass's rotating codes. Only a hash of the token is stored, a newer
link for the same pass voids older unused ones, and revoked, suspended or expired passes get no
link and cannot be claimed. The threat model is in docs/passes.md ("On a phone").
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from coordinator.core.keys import digest_token
from coordinator.db.enums import PassStatus
from coordinator.db.models import PassLink, StudentPass
from coordinator.errors import ConflictError, NotFoundError
from coordinator.services.audit import Actor, record_change

PAGE_PATH = "/p/"
# secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet; anything else is refused
# before it is hashed or looked up.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class LinkSpentError(ConflictError):
    """The link was already claimed or has expired: the manager makes a new one."""

    status_code = 410
    code = "link_spent"


@dataclass(frozen=True)
class PassLinkMade:
    """A new link: `url` is what the student is given; the token in it is not stored."""

    link_id: int
    url: str
    expires_at: datetime


def create_link(
    session: Session,
    student_pass: StudentPass,
    *,
    public_url: str,
    hours: int,
    actor: Actor,
    now: datetime,
) -> PassLinkMade:
    """A one-time link for the pass, valid `hours`; older unused links of the pass stop working."""
    _require_usable(student_pass, now)
    session.execute(
        update(PassLink)
        .where(PassLink.pass_id == student_pass.id, PassLink.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    link = PassLink(
        pass_id=student_pass.id,
        token_hash=digest_token(token),
        created_at=now,
        created_by=actor.user_id,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(link)
    session.flush()
    record_change(
        session,
        actor,
        action="create",
        entity="pass_link",
        entity_id=link.id,
        before=None,
        after={"pass_id": student_pass.id, "expires_at": link.expires_at.isoformat()},
    )
    # A fragment, not a path or query: browsers send it to no server, proxy log or link preview.
    url = f"{public_url.rstrip('/')}{PAGE_PATH}#t={token}"
    return PassLinkMade(link_id=link.id, url=url, expires_at=link.expires_at)


def claim_link(
    session: Session,
    *,
    token: str,
    holder_key: bytes,
    now: datetime,
    address: str | None = None,
    user_agent: str | None = None,
) -> StudentPass:
    """Spend the link and return its pass, to be signed with `holder_key` bound in.

    The caller signs the pass in the same transaction: if signing fails, nothing is spent.
    """
    link = _find_link(session, token)
    if link.used_at is not None:
        raise LinkSpentError(
            "this link was already used: the pass is on the phone that opened it; "
            "if that was not you, ask the pass office to revoke the pass and issue a new one"
        )
    if link.expires_at <= now:
        raise LinkSpentError("this link has expired: ask the pass office for a new one")
    student_pass = session.get_one(StudentPass, link.pass_id)
    _require_usable(student_pass, now)
    # Spent by a conditional update, so of two claims racing for one link exactly one wins.
    spend = (
        update(PassLink)
        .where(PassLink.id == link.id, PassLink.used_at.is_(None))
        .values(used_at=now, holder_key=holder_key.hex())
    )
    if cast(CursorResult[Any], session.execute(spend)).rowcount != 1:
        raise LinkSpentError("this link was claimed a moment ago, by another phone or tab")
    record_change(
        session,
        Actor(None, "pass link", address, user_agent),
        action="claim",
        entity="pass_link",
        entity_id=link.id,
        before={"used": False},
        after={"used": True, "pass_id": student_pass.id, "holder_key": holder_key.hex()},
    )
    return student_pass


def _find_link(session: Session, token: str) -> PassLink:
    link = None
    if _TOKEN.fullmatch(token):
        link = session.scalar(select(PassLink).where(PassLink.token_hash == digest_token(token)))
    if link is None:
        raise NotFoundError("this pass link is not valid: check that it was copied whole")
    return link


def _require_usable(student_pass: StudentPass, now: datetime) -> None:
    """Only a pass a gate would still open may go onto a phone."""
    status = PassStatus.REVOKED if student_pass.revoked_at else student_pass.status
    if status is not PassStatus.ACTIVE:
        raise ConflictError(
            f"this pass is {status.value}: it cannot be put on a phone"
            + ("; resume it first" if status is PassStatus.SUSPENDED else "; issue a new pass")
        )
    if student_pass.valid_until <= now:
        raise ConflictError("this pass has expired: issue a new pass")
