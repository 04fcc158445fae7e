"""Accounts: invites, password links, password changes, resets, and ending a person's sign-ins.

The one owner of these rules: user creation, the CSV import of users and the account routes
all call these verbs. The caller owns the transaction; mail is queued in it (see `mail.py`).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, select, update
from sqlalchemy.orm import Session

from coordinator.core.config import Settings
from coordinator.core.keys import digest_token
from coordinator.core.passwords import Passwords, check_policy
from coordinator.db.enums import Role
from coordinator.db.models import (
    AccountLink,
    Assignment,
    ExamSession,
    RecoveryCode,
    RefreshToken,
    Room,
    User,
)
from coordinator.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from coordinator.services.audit import Actor, record_change
from coordinator.services.mail import is_mail_configured, queue_mail
from coordinator.services.scope import Scope


class LinkPurpose(StrEnum):
    INVITE = "invite"
    RESET = "reset"


@dataclass(frozen=True)
class LinkSent:
    """A link was made; `link` is set only when no SMTP server took it, for the admin to pass on."""

    expires_at: datetime
    mailed: bool
    link: str | None


_SUBJECTS = {
    LinkPurpose.INVITE: "Your campus coordinator account",
    LinkPurpose.RESET: "Set a new password for the campus coordinator",
}
_OPENINGS = {
    LinkPurpose.INVITE: "An account was made for you on the campus coordinator.",
    LinkPurpose.RESET: "An administrator reset your campus coordinator password.",
}


@dataclass(frozen=True)
class Invitations:
    """What sending invites needs from outside the transaction: the settings and the time.

    Given to every verb that creates accounts (`users.create_user`, the CSV import of users),
    so each new account gets its invite the same way.
    """

    settings: Settings
    now: datetime

    def send(self, session: Session, *, user: User, actor: Actor) -> LinkSent:
        return invite(session, user=user, actor=actor, settings=self.settings, now=self.now)


# --- who may send links ---------------------------------------------------------------------------


def require_may_invite(session: Session, *, scope: Scope, user: User) -> None:
    """Admins invite anyone; a manager only supervisors assigned in their buildings.

    Anyone else's account answers 404, like the user routes, so a manager learns nothing.
    """
    if scope.role is Role.ADMIN:
        return
    if scope.role is Role.MANAGER and user.role is Role.SUPERVISOR and scope.building_ids:
        assigned_here = exists().where(
            Assignment.supervisor_id == user.id,
            Assignment.session_id == ExamSession.id,
            ExamSession.room_id == Room.id,
            Room.building_id.in_(scope.building_ids),
        )
        if session.scalar(select(assigned_here)):
            return
    raise NotFoundError("no such user")


# --- links ----------------------------------------------------------------------------------------


def invite(
    session: Session, *, user: User, actor: Actor, settings: Settings, now: datetime
) -> LinkSent:
    """Send a person the one-time link that sets their first password.

    Called for every new account (API and CSV) and again by an admin or manager to resend it;
    a newer link voids the older one.
    """
    if not user.is_active:
        raise ConflictError("this account is disabled: enable it before inviting")
    if user.password_hash is not None:
        raise ConflictError(
            "this person has already set a password: reset it instead if they lost it"
        )
    return _send_link(
        session, user, purpose=LinkPurpose.INVITE, actor=actor, settings=settings, now=now
    )


def reset_password(
    session: Session, *, user: User, actor: Actor, settings: Settings, now: datetime
) -> LinkSent:
    """An admin clears a person's password: their sign-ins end and a reset link is sent."""
    _refuse_own_account(user, actor, "change your own password at /auth/password")
    if not user.is_active:
        raise ConflictError("this account is disabled: enable it before resetting")
    had_password = user.password_hash is not None
    user.password_hash = None
    end_sign_ins(session, user=user, actor=actor, reason="password reset", now=now)
    record_change(
        session,
        actor,
        action="reset_password",
        entity="user",
        entity_id=user.id,
        before={"password_set": had_password},
        after={"password_set": False},
    )
    return _send_link(
        session, user, purpose=LinkPurpose.RESET, actor=actor, settings=settings, now=now
    )


def reset_second_factor(session: Session, *, user: User, actor: Actor, now: datetime) -> None:
    """An admin removes a lost second factor; the person enrols again at their next sign-in."""
    _refuse_own_account(user, actor, "another admin must reset your second factor")
    before = {
        "totp_confirmed": user.totp_confirmed,
        "totp_secret_set": user.totp_secret is not None,
    }
    user.totp_secret = None
    user.totp_confirmed = False
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    end_sign_ins(session, user=user, actor=actor, reason="second factor reset", now=now)
    record_change(
        session,
        actor,
        action="reset_second_factor",
        entity="user",
        entity_id=user.id,
        before=before,
        after={"totp_confirmed": False, "totp_secret_set": False, "recovery_codes_left": 0},
    )


def redeem_link(
    session: Session,
    *,
    token: str,
    password: str,
    passwords: Passwords,
    now: datetime,
    address: str | None = None,
    user_agent: str | None = None,
) -> User:
    """Set the password through a one-time link; the link is spent whatever happens next."""
    link = session.scalar(select(AccountLink).where(AccountLink.token_hash == digest_token(token)))
    if link is None or link.used_at is not None:
        raise AuthenticationError("this link is not valid or was already used: ask for a new one")
    if link.expires_at <= now:
        raise AuthenticationError("this link has expired: ask an administrator for a new one")
    user = session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("this account is disabled: ask an administrator")
    check_policy(password, about_the_person=(user.email, user.full_name))
    link.used_at = now
    user.password_hash = passwords.hash(password)
    actor = Actor(user.id, user.email, address, user_agent)
    end_sign_ins(session, user=user, actor=actor, reason="password set", now=now)
    record_change(
        session,
        actor,
        action="set_password",
        entity="user",
        entity_id=user.id,
        before={"password_set": False},
        after={"password_set": True, "through": link.purpose},
    )
    return user


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    passwords: Passwords,
    actor: Actor,
    now: datetime,
) -> None:
    """A person changes their own password; the current one is required, other sign-ins end."""
    if not passwords.verify(user.password_hash, current).is_valid:
        raise InvalidInputError("current_password: is not your current password")
    if new == current:
        raise InvalidInputError("new_password: is the same as the current one")
    check_policy(new, about_the_person=(user.email, user.full_name))
    user.password_hash = passwords.hash(new)
    end_sign_ins(session, user=user, actor=actor, reason="password changed", now=now)
    record_change(
        session,
        actor,
        action="change_password",
        entity="user",
        entity_id=user.id,
        before={"password_set": True},
        after={"password_set": True},
    )


# --- sign-ins -------------------------------------------------------------------------------------


def end_sign_ins(session: Session, *, user: User, actor: Actor, reason: str, now: datetime) -> int:
    """Revoke every live refresh token of the person and refuse access tokens issued before now."""
    revoke = (
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = cast(CursorResult[Any], session.execute(revoke)).rowcount
    user.sign_ins_valid_from = now
    if revoked:
        record_change(
            session,
            actor,
            action="end_sign_ins",
            entity="user",
            entity_id=user.id,
            before={"live_refresh_tokens": revoked},
            after={"live_refresh_tokens": 0, "reason": reason},
        )
    return revoked


# --- helpers --------------------------------------------------------------------------------------


def _send_link(
    session: Session,
    user: User,
    *,
    purpose: LinkPurpose,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> LinkSent:
    _void_links(session, user, now)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=settings.account_link_hours)
    session.add(
        AccountLink(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=digest_token(token),
            created_at=now,
            expires_at=expires_at,
        )
    )
    # A fragment, not a query: browsers do not send it to servers or proxies' logs.
    link = f"{settings.public_url.rstrip('/')}/account/password#token={token}"
    mailed = is_mail_configured(settings)
    if mailed:
        queue_mail(
            session,
            to=user.email,
            subject=_SUBJECTS[purpose],
            body=_mail_body(user, purpose, link, settings.account_link_hours),
        )
    record_change(
        session,
        actor,
        action=purpose.value,
        entity="user",
        entity_id=user.id,
        before=None,
        after={"link_expires_at": expires_at.isoformat(), "mailed": mailed},
    )
    return LinkSent(expires_at=expires_at, mailed=mailed, link=None if mailed else link)


def _void_links(session: Session, user: User, now: datetime) -> None:
    session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == user.id, AccountLink.used_at.is_(None))
        .values(used_at=now)
    )


def _mail_body(user: User, purpose: LinkPurpose, link: str, hours: int) -> str:
    return (
        f"Hello {user.full_name},\n\n{_OPENINGS[purpose]}\n"
        f"Set your password here (the link works once, for {hours} hours):\n\n{link}\n\n"
        "If you did not expect this mail, you can ignore it.\n"
    )


def _refuse_own_account(user: User, actor: Actor, advice: str) -> None:
    if actor.user_id == user.id:
        raise ConflictError(f"not on your own account: {advice}")
