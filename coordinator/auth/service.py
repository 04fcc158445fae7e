"""Sign-in rules: passwords, the TOTP second factor, rotating refresh tokens and rate limits.

Routes call these; the caller owns the transaction. A refusal raises `AuthenticationError`
after leaving its evidence in the session (a failed attempt, a revoked family): the caller
commits on that error too, or the evidence is lost with the rollback.
"""

import hashlib
import math
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, cast

import jwt
from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import CursorResult, Update, delete, func, select, update
from sqlalchemy.orm import Session

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.core.passwords import Passwords, check_policy
from coordinator.auth.tokens import ALGORITHM, issue_access_token
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
from coordinator.core.config import Settings
from coordinator.db.enums import Role
from coordinator.db.models import RecoveryCode, RefreshToken, SignInAttempt, User, utc_now
from coordinator.errors import (
    AuthenticationError,
    ConflictError,
    CoordinatorError,
    RateLimitedError,
)
from coordinator.schemas.auth import AdminCreate
from coordinator.services.audit import Actor, record_change

Clock = Callable[[], datetime]

# These roles change plans and people, so a stolen password alone must not be enough.
SECOND_FACTOR_ROLES = frozenset({Role.ADMIN, Role.MANAGER})
ENROLMENT_AUDIENCE = "campus-coordinator-totp-enrolment"
ENROLMENT_LIFETIME = timedelta(minutes=10)
CLI = Actor(user_id=None, label="cli")


class SecondFactorRequiredError(AuthenticationError):
    """The password was right; now the code from the authenticator app (or a recovery code)."""

    code = "second_factor_required"


class InvalidCodeError(CoordinatorError, ValueError):
    """The TOTP code given to confirm enrolment does not match."""

    status_code = 422
    code = "invalid_code"


class InvalidAccountError(CoordinatorError, ValueError):
    """An account's details do not validate; the message names the field."""

    status_code = 422
    code = "invalid_input"


@dataclass(frozen=True)
class Client:
    """Where a request came from, for rate limits and the audit log."""

    address: str
    user_agent: str | None = None

    def acting_as(self, user: User | None) -> Actor:
        if user is None:
            return Actor(None, "system", self.address, self.user_agent)
        return Actor(user.id, user.email, self.address, self.user_agent)


@dataclass(frozen=True)
class _Attempt:
    """One sign-in attempt: who it claims to be, from where, when."""

    email: str
    client: Client
    at: datetime


@dataclass(frozen=True)
class RateLimits:
    """Failures allowed within `window`: per account (since its last success), per address."""

    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 20


@dataclass(frozen=True)
class Tokens:
    """A signed-in session: a short-lived access JWT and the refresh token that renews it."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


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
class EnrolmentConfirmed:
    """Recovery codes (shown once); tokens when the enrolment finished a sign-in."""

    recovery_codes: list[str]
    tokens: Tokens | None


@dataclass(frozen=True)
class SignInService:
    """Signs people in and out and keeps their refresh-token families.

    Built per request (or per test) with the settings, a password hasher and a clock, so tests
    use a cheap hasher and move time without sleeping.
    """

    settings: Settings
    passwords: Passwords = field(default_factory=Passwords)
    clock: Clock = utc_now
    limits: RateLimits = field(default_factory=RateLimits)

    # --- sign-in ----------------------------------------------------------------------------------

    def sign_in(
        self,
        session: Session,
        email: str,
        password: str,
        second_factor: str | None,
        client: Client,
    ) -> Tokens | EnrolmentRequired:
        attempt = _Attempt(email=email.strip().lower(), client=client, at=self.clock())
        self._check_rate_limits(session, attempt)
        user = session.scalar(select(User).where(func.lower(User.email) == attempt.email))
        verdict = self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not verdict.is_valid:
            _refuse(session, attempt, "email or password is wrong")
        if not user.is_active:
            _refuse(session, attempt, "this account is disabled: ask an administrator")
        if verdict.new_hash:
            # Same password, stronger parameters: not a change a person made, so not audited.
            user.password_hash = verdict.new_hash
        if user.role in SECOND_FACTOR_ROLES and not user.totp_confirmed:
            _record(session, attempt, succeeded=True)
            return self._enrolment_required(user, attempt.at)
        method = "none"
        if user.totp_confirmed:
            method = self._second_factor(session, user, second_factor, attempt)
        return self._complete_sign_in(session, user, attempt, method)

    def _second_factor(
        self, session: Session, user: User, given: str | None, attempt: _Attempt
    ) -> str:
        if not given:
            raise SecondFactorRequiredError(
                "second_factor: enter the 6-digit code from your authenticator app,"
                " or one of your recovery codes"
            )
        if TOTP_CODE_PATTERN.match(given.strip()):
            if self._accept_code(session, user, given.strip(), attempt.at):
                return "totp"
        elif self._use_recovery_code(session, user, given, attempt.at):
            return "recovery_code"
        _refuse(session, attempt, "second_factor: the code is wrong or already used")

    def _accept_code(self, session: Session, user: User, code: str, now: datetime) -> bool:
        """A right code for a step newer than the last accepted one; claimed in one UPDATE, so
        two replicas cannot both accept the same code."""
        step = matching_step(self._totp_secret(user), code, now)
        if step is None:
            return False
        claim = (
            update(User)
            .where(User.id == user.id)
            .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
        )
        return _rowcount(session, claim) == 1

    def _use_recovery_code(self, session: Session, user: User, given: str, now: datetime) -> bool:
        typed = normalise_recovery_code(given)
        unused = session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
        for stored in unused:
            if self.passwords.verify(stored.code_hash, typed).is_valid:
                return _claim(session, RecoveryCode, stored.id, now)
        return False

    def _complete_sign_in(
        self, session: Session, user: User, attempt: _Attempt, method: str
    ) -> Tokens:
        _record(session, attempt, succeeded=True)
        family = uuid.uuid4()
        tokens = self._issue(session, user, family, attempt.at)
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

    def _enrolment_required(self, user: User, now: datetime) -> EnrolmentRequired:
        expires_at = now + ENROLMENT_LIFETIME
        claims = {"sub": str(user.id), "aud": ENROLMENT_AUDIENCE, "iat": now, "exp": expires_at}
        token = jwt.encode(claims, _token_key(self.settings.secret_key), algorithm=ALGORITHM)
        return EnrolmentRequired(enrolment_token=token, expires_at=expires_at)

    # --- refresh and sign-out ---------------------------------------------------------------------

    def refresh(self, session: Session, refresh_token: str, client: Client) -> Tokens:
        """Rotate: the presented token is used up and a new one of the same family comes back.

        A token presented a second time means two parties hold it; the whole family is revoked,
        so the thief and the rightful user both have to sign in again.
        """
        now = self.clock()
        stored = _find_refresh_token(session, refresh_token)
        user = session.get(User, stored.user_id)
        if stored.revoked_at is not None:
            raise AuthenticationError("this sign-in has ended: sign in again")
        # A used token is checked for reuse even when expired: its successors may still be live.
        if stored.used_at is None and stored.expires_at <= now:
            raise AuthenticationError("refresh token expired: sign in again")
        if user is None or not user.is_active:
            _revoke_family(
                session, stored.family_id, client.acting_as(user), "account disabled", now
            )
            raise AuthenticationError("this account is disabled: ask an administrator")
        if not _claim(session, RefreshToken, stored.id, now):
            _revoke_family(session, stored.family_id, client.acting_as(None), "token reused", now)
            raise AuthenticationError(
                "refresh token was already used, so it may have been copied: this sign-in is"
                " ended on every device; sign in again"
            )
        return self._issue(session, user, stored.family_id, now)

    def sign_out(self, session: Session, refresh_token: str, client: Client) -> None:
        """End the sign-in the token belongs to, on every device that shares its family."""
        stored = _find_refresh_token(session, refresh_token)
        user = session.get(User, stored.user_id)
        _revoke_family(
            session, stored.family_id, client.acting_as(user), "signed out", self.clock()
        )

    def _issue(self, session: Session, user: User, family: uuid.UUID, now: datetime) -> Tokens:
        refresh_token = secrets.token_urlsafe(32)
        refresh_expires_at = now + timedelta(days=self.settings.refresh_token_days)
        session.add(
            RefreshToken(
                token_hash=_digest(refresh_token),
                family_id=family,
                user_id=user.id,
                issued_at=now,
                expires_at=refresh_expires_at,
            )
        )
        session.flush()
        lifetime = timedelta(minutes=self.settings.access_token_minutes)
        access_token = issue_access_token(
            self.settings.secret_key,
            user_id=user.id,
            role=user.role.value,
            lifetime=lifetime,
            now=now,
        )
        return Tokens(access_token, now + lifetime, refresh_token, refresh_expires_at)

    # --- TOTP enrolment ---------------------------------------------------------------------------

    def start_totp_enrolment(self, session: Session, user: User, client: Client) -> TotpEnrolment:
        """A new secret for the user's authenticator app; it counts only once confirmed."""
        if user.totp_confirmed:
            raise ConflictError(
                "the second factor is already set up: ask an administrator to reset it before"
                " enrolling another device"
            )
        had_secret = user.totp_secret is not None
        secret = new_secret()
        user.totp_secret = seal_secret(self.settings.secret_key, user.id, secret)
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

    def confirm_totp(
        self, session: Session, user: User, code: str, client: Client, *, is_signing_in: bool
    ) -> EnrolmentConfirmed:
        """Check a first code, switch the second factor on and hand out fresh recovery codes."""
        if user.totp_confirmed:
            raise ConflictError("the second factor is already set up")
        if user.totp_secret is None:
            raise ConflictError("no enrolment started: POST /api/v1/auth/totp/enrol first")
        now = self.clock()
        if not self._accept_code(session, user, code, now):
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
        attempt = _Attempt(email=user.email.lower(), client=client, at=now)
        tokens = self._complete_sign_in(session, user, attempt, "totp") if is_signing_in else None
        return EnrolmentConfirmed(recovery_codes=recovery_codes, tokens=tokens)

    def _replace_recovery_codes(self, session: Session, user: User) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = new_recovery_codes()
        session.add_all(
            RecoveryCode(user_id=user.id, code_hash=self.passwords.hash(c)) for c in codes
        )
        session.flush()
        return codes

    def _totp_secret(self, user: User) -> str:
        if user.totp_secret is None:
            raise ConflictError("no TOTP secret is stored for this account: enrol again")
        return open_secret(self.settings.secret_key, user.id, user.totp_secret)

    # --- rate limits ------------------------------------------------------------------------------

    def _check_rate_limits(self, session: Session, attempt: _Attempt) -> None:
        email, address, now = attempt.email, attempt.client.address, attempt.at
        since = now - self.limits.window
        last_success = session.scalar(
            select(func.max(SignInAttempt.at)).where(
                SignInAttempt.email == email, SignInAttempt.succeeded.is_(True)
            )
        )
        account_since = max(since, last_success) if last_success else since
        checks = (
            ("this account", SignInAttempt.email == email, account_since, self.limits.per_account),
            ("this address", SignInAttempt.address == address[:64], since, self.limits.per_address),
        )
        for what, matches, start, limit in checks:
            failures = session.scalars(
                select(SignInAttempt.at)
                .where(matches, SignInAttempt.succeeded.is_(False), SignInAttempt.at > start)
                .order_by(SignInAttempt.at)
            ).all()
            wait = _wait_needed(failures, limit, self.limits.window, now)
            if wait is not None:
                minutes = max(1, math.ceil(wait.total_seconds() / 60))
                raise RateLimitedError(
                    f"too many failed sign-ins from {what}: try again in {minutes} minute(s)"
                )


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


def create_admin(
    session: Session, passwords: Passwords, *, email: str, full_name: str, password: str
) -> User:
    """An active admin with a password, created from the command line and audited as `cli`."""
    try:
        account = AdminCreate(email=email, full_name=full_name)
    except ValidationError as error:
        raise InvalidAccountError("; ".join(map(_problem, error.errors()))) from None
    check_policy(password)
    if session.scalar(select(User.id).where(func.lower(User.email) == account.email)):
        raise ConflictError(f"email: {account.email} already has an account")
    user = User(
        email=account.email,
        full_name=account.full_name,
        role=Role.ADMIN,
        password_hash=passwords.hash(password),
        is_active=True,
    )
    session.add(user)
    session.flush()
    record_change(
        session,
        CLI,
        action="create",
        entity="user",
        entity_id=user.id,
        before=None,
        after={
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role.value,
            "is_active": True,
            "password_set": True,
        },
    )
    return user


# --- helpers ----------------------------------------------------------------------------------


def _problem(error: ErrorDetails) -> str:
    field = ".".join(map(str, error["loc"]))
    # The email pattern means nothing to a person; say what it checks.
    if error["type"] == "string_pattern_mismatch" and field == "email":
        return "email: not an email address (name@example.org)"
    return f"{field}: {error['msg']}"


def _refuse(session: Session, attempt: _Attempt, message: str) -> NoReturn:
    _record(session, attempt, succeeded=False)
    raise AuthenticationError(message)


def _record(session: Session, attempt: _Attempt, *, succeeded: bool) -> None:
    session.add(
        SignInAttempt(
            email=attempt.email[:254],
            address=attempt.client.address[:64],
            at=attempt.at,
            succeeded=succeeded,
        )
    )
    session.flush()


def _revoke_family(
    session: Session, family: uuid.UUID, actor: Actor, reason: str, now: datetime
) -> None:
    revoke = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = _rowcount(session, revoke)
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


def _wait_needed(
    failures: Sequence[datetime], limit: int, window: timedelta, now: datetime
) -> timedelta | None:
    """How long until fewer than `limit` failures remain in the window; None if already so."""
    if len(failures) < limit:
        return None
    return failures[len(failures) - limit] + window - now


def _find_refresh_token(session: Session, refresh_token: str) -> RefreshToken:
    stored = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token))
    )
    if stored is None:
        raise AuthenticationError("refresh token is not valid: sign in again")
    return stored


def _claim(
    session: Session, table: type[RefreshToken] | type[RecoveryCode], row_id: int, now: datetime
) -> bool:
    """Mark a single-use row used, atomically: of two replicas racing on it, only one wins."""
    claim = update(table).where(table.id == row_id, table.used_at.is_(None)).values(used_at=now)
    if table is RefreshToken:
        claim = claim.where(RefreshToken.revoked_at.is_(None))
    return _rowcount(session, claim) == 1


def _rowcount(session: Session, statement: Update) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _codes_left(session: Session, user: User) -> dict[str, int]:
    if not user.totp_confirmed:
        return {}
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return {"recovery_codes_left": left or 0}


def _digest(refresh_token: str) -> str:
    # Refresh tokens are 256 random bits, so a plain hash is enough: nothing to brute-force.
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _token_key(secret: SecretStr) -> bytes:
    # The access-token key, told apart by audience: read_access_token refuses enrolment tokens.
    return derive_key(secret, KeyPurpose.ACCESS_TOKENS)
