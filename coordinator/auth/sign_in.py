"""Signing people in: password, second factor, throttling, and the sign-ins that follow from
setting or changing a password.

Routes call these; the caller owns the transaction. A refusal raises `AuthenticationError`
after leaving its evidence in the session (a failed attempt, a revoked family): the caller
commits on that error too, or the evidence is lost with the rollback.
"""

import uuid
from dataclasses import dataclass, field
from typing import NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.auth import sessions
from coordinator.auth.clients import Client, Clock
from coordinator.auth.second_factor import (
    EnrolmentRequired,
    SecondFactor,
    TotpEnrolment,
)
from coordinator.auth.sessions import Tokens
from coordinator.auth.throttle import Attempt, Throttle
from coordinator.auth.tokens import SECOND_FACTOR_ROLES
from coordinator.core.config import Settings
from coordinator.core.passwords import Passwords
from coordinator.db.models import RecoveryCode, User, utc_now
from coordinator.errors import AuthenticationError
from coordinator.services import accounts
from coordinator.services.audit import record_change


@dataclass(frozen=True)
class EnrolmentConfirmed:
    """Recovery codes (shown once); tokens when the enrolment finished a sign-in."""

    recovery_codes: list[str]
    tokens: Tokens | None


@dataclass(frozen=True)
class SignInService:
    """Signs people in and out, and keeps their refresh-token families.

    Built per request (or per test) with the settings, a password hasher and a clock, so tests
    use a cheap hasher and move time without sleeping.
    """

    settings: Settings
    passwords: Passwords = field(default_factory=Passwords)
    clock: Clock = utc_now
    throttle: Throttle = field(default_factory=Throttle)

    @property
    def second_factor(self) -> SecondFactor:
        return SecondFactor(self.settings.secret_key, self.passwords)

    # --- sign-in ----------------------------------------------------------------------------------

    def sign_in(
        self,
        session: Session,
        email: str,
        password: str,
        second_factor: str | None,
        client: Client,
    ) -> Tokens | EnrolmentRequired:
        attempt = Attempt(email=email.strip().lower(), client=client, at=self.clock())
        self.throttle.check(session, attempt)
        user = session.scalar(select(User).where(func.lower(User.email) == attempt.email))
        verdict = self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not verdict.is_valid:
            self._refuse(session, attempt, "email or password is wrong")
        if not user.is_active:
            self._refuse(session, attempt, "this account is disabled: ask an administrator")
        if verdict.new_hash:
            # Same password, stronger parameters: not a change a person made, so not audited.
            user.password_hash = verdict.new_hash
        return self._after_password(session, user, attempt, second_factor)

    def _after_password(
        self, session: Session, user: User, attempt: Attempt, given: str | None
    ) -> Tokens | EnrolmentRequired:
        if user.role in SECOND_FACTOR_ROLES and not user.totp_confirmed:
            self.throttle.record(session, attempt, succeeded=True)
            return self.second_factor.enrolment_token(user, attempt.at)
        method = "none"
        if user.totp_confirmed:
            matched = self.second_factor.verify(session, user, given, attempt.at)
            if matched is None:
                self._refuse(session, attempt, "second_factor: the code is wrong or already used")
            method = matched
        return self._complete(session, user, attempt, method)

    def _complete(self, session: Session, user: User, attempt: Attempt, method: str) -> Tokens:
        self.throttle.record(session, attempt, succeeded=True)
        family = uuid.uuid4()
        tokens = sessions.issue_tokens(
            session,
            self.settings,
            user,
            family=family,
            second_factor=method != "none",
            now=attempt.at,
        )
        record_change(
            session,
            attempt.client.acting_as(user),
            action="sign_in",
            entity="refresh_token_family",
            entity_id=family,
            before=None,
            after={"user_id": user.id, "second_factor": method, **_codes_left(session, user)},
        )
        return tokens

    def _refuse(self, session: Session, attempt: Attempt, message: str) -> NoReturn:
        self.throttle.record(session, attempt, succeeded=False)
        raise AuthenticationError(message)

    # --- passwords --------------------------------------------------------------------------------

    def set_password_by_link(
        self, session: Session, token: str, password: str, client: Client
    ) -> Tokens | EnrolmentRequired | None:
        """Redeem an invite or reset link and sign the person in as a sign-in would; None when
        they have a second factor, which they give by signing in (the link proves the mailbox,
        not the phone)."""
        now = self.clock()
        user = accounts.redeem_link(
            session,
            token=token,
            password=password,
            passwords=self.passwords,
            now=now,
            address=client.address,
            user_agent=client.user_agent,
        )
        if user.totp_confirmed:
            return None
        attempt = Attempt(email=user.email.lower(), client=client, at=now)
        return self._after_password(session, user, attempt, None)

    def change_password(
        self, session: Session, user: User, current: str, new: str, client: Client
    ) -> Tokens:
        """Change one's own password; every sign-in ends and this one continues with new tokens."""
        attempt = Attempt(email=user.email.lower(), client=client, at=self.clock())
        # Guessing the current password from a stolen session counts like guessing at sign-in.
        self.throttle.check(session, attempt)
        try:
            accounts.change_password(
                session,
                user=user,
                current=current,
                new=new,
                passwords=self.passwords,
                actor=client.acting_as(user),
                now=attempt.at,
            )
        except accounts.WrongCurrentPasswordError:
            self.throttle.record(session, attempt, succeeded=False)
            raise
        method = "totp" if user.totp_confirmed else "none"
        return self._complete(session, user, attempt, method)

    # --- refresh and sign-out ---------------------------------------------------------------------

    def refresh(self, session: Session, refresh_token: str, client: Client) -> Tokens:
        return sessions.refresh(session, self.settings, refresh_token, client, self.clock())

    def sign_out(self, session: Session, refresh_token: str, client: Client) -> None:
        sessions.sign_out(session, refresh_token, client, self.clock())

    # --- TOTP enrolment ---------------------------------------------------------------------------

    def start_totp_enrolment(self, session: Session, user: User, client: Client) -> TotpEnrolment:
        return self.second_factor.start_enrolment(session, user, client)

    def confirm_totp(
        self, session: Session, user: User, code: str, client: Client, *, is_signing_in: bool
    ) -> EnrolmentConfirmed:
        """Switch the second factor on; finish the sign-in if it was waiting for this."""
        now = self.clock()
        codes = self.second_factor.confirm(session, user, code, client, now)
        attempt = Attempt(email=user.email.lower(), client=client, at=now)
        tokens = self._complete(session, user, attempt, "totp") if is_signing_in else None
        return EnrolmentConfirmed(recovery_codes=codes, tokens=tokens)


def _codes_left(session: Session, user: User) -> dict[str, int]:
    if not user.totp_confirmed:
        return {}
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return {"recovery_codes_left": left or 0}
