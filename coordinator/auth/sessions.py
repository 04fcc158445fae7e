"""Signed-in sessions: refresh-token families, rotation, theft detection and sign-out.

Every sign-in starts a family; each refresh spends the presented token and issues the next of
the same family. A family remembers what it was granted on (`account_stamp`) and whether it
began with a second factor, so promotion, a changed building or a reset ends it.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session

from coordinator.auth.clients import Client
from coordinator.auth.tokens import SECOND_FACTOR_ROLES, account_stamp, issue_access_token
from coordinator.core.config import Settings
from coordinator.core.keys import digest_token
from coordinator.db.models import RecoveryCode, RefreshToken, User
from coordinator.errors import AuthenticationError
from coordinator.services.audit import Actor, record_change


@dataclass(frozen=True)
class Tokens:
    """A signed-in session: a short-lived access JWT and the refresh token that renews it."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


def issue_tokens(
    session: Session,
    settings: Settings,
    user: User,
    *,
    family: uuid.UUID,
    second_factor: bool,
    now: datetime,
) -> Tokens:
    refresh_token = secrets.token_urlsafe(32)
    refresh_expires_at = now + timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            token_hash=digest_token(refresh_token),
            family_id=family,
            user_id=user.id,
            issued_at=now,
            expires_at=refresh_expires_at,
            stamp=account_stamp(user),
            second_factor=second_factor,
        )
    )
    session.flush()
    lifetime = timedelta(minutes=settings.access_token_minutes)
    access_token = issue_access_token(
        settings.secret_key,
        user_id=user.id,
        role=user.role.value,
        second_factor=second_factor,
        lifetime=lifetime,
        now=now,
    )
    return Tokens(access_token, now + lifetime, refresh_token, refresh_expires_at)


def refresh(
    session: Session, settings: Settings, refresh_token: str, client: Client, now: datetime
) -> Tokens:
    """Rotate: the presented token is used up and a new one of the same family comes back.

    A token presented a second time means two parties hold it; the whole family is revoked,
    so the thief and the rightful user both have to sign in again.
    """
    stored = _find(session, refresh_token)
    user = session.get(User, stored.user_id)
    if stored.revoked_at is not None:
        raise AuthenticationError("this sign-in has ended: sign in again")
    # A used token is checked for reuse even when expired: its successors may still be live.
    if stored.used_at is None and stored.expires_at <= now:
        raise AuthenticationError("refresh token expired: sign in again")
    if user is None or not user.is_active:
        revoke_family(session, stored.family_id, client.acting_as(user), "account disabled", now)
        raise AuthenticationError("this account is disabled: ask an administrator")
    _check_grant_holds(session, stored, user, client, now)
    if not claim_single_use(session, RefreshToken, stored.id, now):
        revoke_family(session, stored.family_id, client.acting_as(None), "token reused", now)
        raise AuthenticationError(
            "refresh token was already used, so it may have been copied: this sign-in is"
            " ended on every device; sign in again"
        )
    return issue_tokens(
        session,
        settings,
        user,
        family=stored.family_id,
        second_factor=stored.second_factor,
        now=now,
    )


def sign_out(session: Session, refresh_token: str, client: Client, now: datetime) -> None:
    """End the sign-in the token belongs to, on every device that shares its family."""
    stored = _find(session, refresh_token)
    user = session.get(User, stored.user_id)
    revoke_family(session, stored.family_id, client.acting_as(user), "signed out", now)


def revoke_family(
    session: Session, family: uuid.UUID, actor: Actor, reason: str, now: datetime
) -> None:
    revoke = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = rowcount(session, revoke)
    if revoked:
        record_change(
            session,
            actor,
            action="revoke",
            entity="refresh_token_family",
            entity_id=family,
            before={"live_tokens": revoked},
            after={"live_tokens": 0, "reason": reason},
        )


def _check_grant_holds(
    session: Session, stored: RefreshToken, user: User, client: Client, now: datetime
) -> None:
    """A family ends when the account changed under it, or its role now needs a second factor
    the family never gave (a supervisor promoted to admin, say)."""
    if stored.stamp != account_stamp(user):
        revoke_family(session, stored.family_id, client.acting_as(user), "account changed", now)
        raise AuthenticationError(
            "your role, buildings, password or second factor changed: sign in again"
        )
    if user.role in SECOND_FACTOR_ROLES and not stored.second_factor:
        revoke_family(
            session, stored.family_id, client.acting_as(user), "second factor needed", now
        )
        raise AuthenticationError(
            f"a {user.role.value} must sign in with a second factor: sign in again"
        )


def _find(session: Session, refresh_token: str) -> RefreshToken:
    stored = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest_token(refresh_token))
    )
    if stored is None:
        raise AuthenticationError("refresh token is not valid: sign in again")
    return stored


def claim_single_use(
    session: Session, table: type[RefreshToken] | type[RecoveryCode], row_id: int, now: datetime
) -> bool:
    """Mark a single-use row used, atomically: of two replicas racing on it, only one wins."""
    claim = update(table).where(table.id == row_id, table.used_at.is_(None)).values(used_at=now)
    if table is RefreshToken:
        claim = claim.where(RefreshToken.revoked_at.is_(None))
    return rowcount(session, claim) == 1


def rowcount(session: Session, statement: Update) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount
