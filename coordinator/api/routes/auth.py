"""Sign-in, token refresh, sign-out, TOTP enrolment, setting and changing a password, `GET /me`.

Every answer here may carry tokens, so none may be cached (`Cache-Control: no-store`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from coordinator.api.deps import EVERYONE, SessionDep, SettingsDep, get_clock, get_passwords
from coordinator.auth.clients import Client, Clock
from coordinator.auth.second_factor import EnrolmentRequired, read_enrolment_token
from coordinator.auth.sessions import Tokens
from coordinator.auth.sign_in import SignInService
from coordinator.auth.tokens import check_still_granted, read_access_token
from coordinator.core.passwords import Passwords
from coordinator.db.models import User
from coordinator.errors import AuthenticationError
from coordinator.schemas.auth import (
    PasswordChangeRequest,
    PasswordSet,
    RefreshRequest,
    SetPasswordAnswer,
    SetPasswordRequest,
    SignedIn,
    SignInAnswer,
    SignInRequest,
    TotpConfirmed,
    TotpConfirmRequest,
    TotpEnrolmentRequired,
    TotpEnrolmentStarted,
)
from coordinator.schemas.people import UserPublic
from coordinator.services.accounts import WrongCurrentPasswordError


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


router = APIRouter(tags=["sign-in"], dependencies=[Depends(_no_store)])
_bearer = HTTPBearer(
    auto_error=False, description="An enrolment token from sign-in, or an access token."
)


def _service(
    settings: SettingsDep,
    passwords: Annotated[Passwords, Depends(get_passwords)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> SignInService:
    return SignInService(settings=settings, passwords=passwords, clock=clock)


def _client(request: Request) -> Client:
    # Already the forwarded address when the peer is a trusted proxy (see api/app.py).
    address = request.client.host if request.client else "unknown"
    return Client(address=address, user_agent=request.headers.get("user-agent"))


ServiceDep = Annotated[SignInService, Depends(_service)]
ClientDep = Annotated[Client, Depends(_client)]


@contextmanager
def _committing(session: Session) -> Iterator[None]:
    """Commit on success, and also on a refusal: its record (a failed attempt, a revoked
    family) is what rate limits and theft detection rely on, so it must outlive the error."""
    try:
        yield
    except (AuthenticationError, WrongCurrentPasswordError):
        session.commit()
        raise
    session.commit()


@router.post("/auth/sign-in", response_model=SignInAnswer)
def sign_in(
    body: SignInRequest, session: SessionDep, service: ServiceDep, client: ClientDep
) -> SignedIn | TotpEnrolmentRequired:
    """Email, password and, once TOTP is enrolled, a code: tokens, or an enrolment token."""
    with _committing(session):
        outcome = service.sign_in(session, body.email, body.password, body.second_factor, client)
    return _answer(outcome, service.clock())


@router.post("/auth/password/set", response_model=SetPasswordAnswer)
def set_password(
    body: SetPasswordRequest, session: SessionDep, service: ServiceDep, client: ClientDep
) -> SignedIn | TotpEnrolmentRequired | PasswordSet:
    """Set a password through an invite or reset link (once); then as after a sign-in."""
    with _committing(session):
        outcome = service.set_password_by_link(session, body.token, body.password, client)
    if outcome is None:
        return PasswordSet()
    return _answer(outcome, service.clock())


@router.post("/auth/password", response_model=SignedIn)
def change_password(
    body: PasswordChangeRequest,
    user: Annotated[User, EVERYONE],
    session: SessionDep,
    service: ServiceDep,
    client: ClientDep,
) -> SignedIn:
    """Change your password (the current one is required); your other sign-ins end."""
    with _committing(session):
        tokens = service.change_password(
            session, user, body.current_password, body.new_password, client
        )
    return _signed_in(tokens, service.clock())


@router.post("/auth/refresh", response_model=SignedIn)
def refresh(
    body: RefreshRequest, session: SessionDep, service: ServiceDep, client: ClientDep
) -> SignedIn:
    """Trade a refresh token for new tokens; a token traded twice ends the whole sign-in."""
    with _committing(session):
        tokens = service.refresh(session, body.refresh_token, client)
    return _signed_in(tokens, service.clock())


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(
    body: RefreshRequest, session: SessionDep, service: ServiceDep, client: ClientDep
) -> None:
    """End the sign-in of this refresh token; its access tokens lapse within minutes."""
    with _committing(session):
        service.sign_out(session, body.refresh_token, client)


def _enrolling_user(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, bool]:
    """The user enrolling, and whether they hold an enrolment token (so are mid-sign-in)."""
    if credentials is None:
        raise AuthenticationError("send 'Authorization: Bearer <enrolment or access token>'")
    user_id = read_enrolment_token(settings.secret_key, credentials.credentials)
    if user_id is not None:
        return _active_user(session, user_id), True
    claims = read_access_token(settings.secret_key, credentials.credentials)
    user = _active_user(session, claims.user_id)
    check_still_granted(claims, user)
    return user, False


def _active_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("this account is disabled or gone: sign in again")
    return user


EnrollingUser = Annotated[tuple[User, bool], Depends(_enrolling_user)]


@router.post("/auth/totp/enrol", response_model=TotpEnrolmentStarted)
def start_totp_enrolment(
    enrolling: EnrollingUser, session: SessionDep, service: ServiceDep, client: ClientDep
) -> TotpEnrolmentStarted:
    """A new TOTP secret and its otpauth:// URI; calling again replaces an unconfirmed one."""
    user, _ = enrolling
    with _committing(session):
        started = service.start_totp_enrolment(session, user, client)
    return TotpEnrolmentStarted(secret=started.secret, otpauth_uri=started.otpauth_uri)


@router.post("/auth/totp/confirm", response_model=TotpConfirmed)
def confirm_totp(
    body: TotpConfirmRequest,
    enrolling: EnrollingUser,
    session: SessionDep,
    service: ServiceDep,
    client: ClientDep,
) -> TotpConfirmed:
    """Check the first code; answer the recovery codes once (and tokens, if signing in)."""
    user, is_signing_in = enrolling
    with _committing(session):
        confirmed = service.confirm_totp(
            session, user, body.code, client, is_signing_in=is_signing_in
        )
    tokens = confirmed.tokens
    return TotpConfirmed(
        recovery_codes=confirmed.recovery_codes,
        tokens=_signed_in(tokens, service.clock()) if tokens else None,
    )


@router.get("/me", response_model=UserPublic)
def read_me(user: Annotated[User, EVERYONE]) -> UserPublic:
    """The signed-in user."""
    return UserPublic(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
        totp_confirmed=user.totp_confirmed,
        created_at=user.created_at,
        building_ids=[building.id for building in user.buildings],
    )


def _answer(outcome: Tokens | EnrolmentRequired, now: datetime) -> SignedIn | TotpEnrolmentRequired:
    if isinstance(outcome, EnrolmentRequired):
        return TotpEnrolmentRequired(
            enrolment_token=outcome.enrolment_token,
            expires_in=_seconds_until(outcome.expires_at, now),
        )
    return _signed_in(outcome, now)


def _signed_in(tokens: Tokens, now: datetime) -> SignedIn:
    return SignedIn(
        access_token=tokens.access_token,
        expires_in=_seconds_until(tokens.access_expires_at, now),
        refresh_token=tokens.refresh_token,
        refresh_expires_in=_seconds_until(tokens.refresh_expires_at, now),
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return round((moment - now).total_seconds())
