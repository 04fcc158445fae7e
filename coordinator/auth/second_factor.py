"""The TOTP second factor of a person: enrolment, codes that work once, recovery codes.

Enrolment tokens let an admin or manager who has no second factor yet do one thing only: enrol.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from coordinator.auth.clients import Client
from coordinator.auth.sessions import claim_single_use, rowcount
from coordinator.auth.tokens import ALGORITHM
from coordinator.auth.totp import (
    TOTP_CODE_PATTERN,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    open_secret,
    provisioning_uri,
    seal_secret,
)
from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.core.passwords import Passwords
from coordinator.db.models import RecoveryCode, User
from coordinator.errors import AuthenticationError, ConflictError, CoordinatorError
from coordinator.services.audit import record_change

ENROLMENT_AUDIENCE = "campus-coordinator-totp-enrolment"
ENROLMENT_LIFETIME = timedelta(minutes=10)


class SecondFactorRequiredError(AuthenticationError):
    """The password was right; now the code from the authenticator app (or a recovery code)."""

    code = "second_factor_required"


class InvalidCodeError(CoordinatorError, ValueError):
    """The TOTP code given to confirm enrolment does not match."""

    status_code = 422
    code = "invalid_code"


@dataclass(frozen=True)
class EnrolmentRequired:
    """Password right, but an admin or manager must enrol TOTP before getting any tokens."""

    enrolment_token: str
    expires_at: datetime


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class SecondFactor:
    """Checks and enrols one person's TOTP second factor."""

    secret_key: SecretStr
    passwords: Passwords

    def verify(self, session: Session, user: User, given: str | None, now: datetime) -> str | None:
        """The method that matched ("totp", "recovery_code"); None if the code is wrong."""
        if not given:
            raise SecondFactorRequiredError(
                "second_factor: enter the 6-digit code from your authenticator app,"
                " or one of your recovery codes"
            )
        if TOTP_CODE_PATTERN.match(given.strip()):
            return "totp" if self.accept_code(session, user, given.strip(), now) else None
        return "recovery_code" if self._use_recovery_code(session, user, given, now) else None

    def accept_code(self, session: Session, user: User, code: str, now: datetime) -> bool:
        """A right code for a step newer than the last accepted one; claimed in one UPDATE, so
        two replicas cannot both accept the same code."""
        step = matching_step(self._secret(user), code, now)
        if step is None:
            return False
        claim = (
            update(User)
            .where(User.id == user.id)
            .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
        )
        return rowcount(session, claim) == 1

    def start_enrolment(self, session: Session, user: User, client: Client) -> TotpEnrolment:
        """A new secret for the user's authenticator app; it counts only once confirmed."""
        if user.totp_confirmed:
            raise ConflictError(
                "the second factor is already set up: ask an administrator to reset it before"
                " enrolling another device"
            )
        had_secret = user.totp_secret is not None
        secret = new_secret()
        user.totp_secret = seal_secret(self.secret_key, user.id, secret)
        record_change(
            session,
            client.acting_as(user),
            action="totp_enrol_start",
            entity="user",
            entity_id=user.id,
            before={"totp_secret_set": had_secret, "totp_confirmed": False},
            after={"totp_secret_set": True, "totp_confirmed": False},
        )
        return TotpEnrolment(secret=secret, otpauth_uri=provisioning_uri(secret, user.email))

    def confirm(
        self, session: Session, user: User, code: str, client: Client, now: datetime
    ) -> list[str]:
        """Check a first code, switch the second factor on; answer fresh recovery codes."""
        if user.totp_confirmed:
            raise ConflictError("the second factor is already set up")
        if user.totp_secret is None:
            raise ConflictError("no enrolment started: POST /api/v1/auth/totp/enrol first")
        if not self.accept_code(session, user, code, now):
            raise InvalidCodeError(
                "code: does not match; check that the phone's clock is right and enter the"
                " current code"
            )
        user.totp_confirmed = True
        recovery_codes = self._replace_recovery_codes(session, user)
        record_change(
            session,
            client.acting_as(user),
            action="totp_enrol",
            entity="user",
            entity_id=user.id,
            before={"totp_confirmed": False},
            after={"totp_confirmed": True, "recovery_codes_left": len(recovery_codes)},
        )
        return recovery_codes

    def enrolment_token(self, user: User, now: datetime) -> EnrolmentRequired:
        expires_at = now + ENROLMENT_LIFETIME
        claims = {"sub": str(user.id), "aud": ENROLMENT_AUDIENCE, "iat": now, "exp": expires_at}
        token = jwt.encode(claims, _token_key(self.secret_key), algorithm=ALGORITHM)
        return EnrolmentRequired(enrolment_token=token, expires_at=expires_at)

    def _use_recovery_code(self, session: Session, user: User, given: str, now: datetime) -> bool:
        typed = normalise_recovery_code(given)
        unused = session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
        for stored in unused:
            if self.passwords.verify(stored.code_hash, typed).is_valid:
                return claim_single_use(session, RecoveryCode, stored.id, now)
        return False

    def _replace_recovery_codes(self, session: Session, user: User) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = new_recovery_codes()
        session.add_all(
            RecoveryCode(user_id=user.id, code_hash=self.passwords.hash(c)) for c in codes
        )
        session.flush()
        return codes

    def _secret(self, user: User) -> str:
        if user.totp_secret is None:
            raise ConflictError("no TOTP secret is stored for this account: enrol again")
        return open_secret(self.secret_key, user.id, user.totp_secret)


def read_enrolment_token(secret: SecretStr, token: str) -> int | None:
    """The user id in an enrolment token; None if `token` is some other kind of token."""
    try:
        # Unverified peek, only to choose which reader checks the token properly.
        audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.InvalidTokenError:
        return None
    if audience != ENROLMENT_AUDIENCE:
        return None
    try:
        claims = jwt.decode(
            token,
            _token_key(secret),
            algorithms=[ALGORITHM],
            audience=ENROLMENT_AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
        return int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("enrolment token expired: sign in again") from None
    except (jwt.InvalidTokenError, ValueError):
        raise AuthenticationError("enrolment token is not valid: sign in again") from None


def _token_key(secret: SecretStr) -> bytes:
    # The access-token key, told apart by audience: read_access_token refuses enrolment tokens.
    return derive_key(secret, KeyPurpose.ACCESS_TOKENS)
