"""Dependencies shared by routes: the database session, the signed-in user, who may call what."""

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from coordinator.auth.tokens import check_still_granted, read_access_token
from coordinator.core.config import Settings
from coordinator.core.passwords import Passwords
from coordinator.db.enums import Role
from coordinator.db.models import User, utc_now
from coordinator.errors import AuthenticationError, ForbiddenError
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope, scope_of


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@cache
def get_passwords() -> Passwords:
    """The production hasher; tests override this dependency with a cheap one."""
    return Passwords()


def get_clock() -> Callable[[], datetime]:
    """The clock of account and sign-in rules; tests override it to move time."""
    return utc_now


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/sign-in.")


def _current_user(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise AuthenticationError("sign in first: send 'Authorization: Bearer <access token>'")
    claims = read_access_token(settings.secret_key, credentials.credentials)
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("this account is disabled or gone: sign in again")
    check_still_granted(claims, user)
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def allow(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only `roles` through; every route names its roles with it."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ForbiddenError(f"a {user.role.value} may not do this")
        return user

    return check


def _actor(request: Request, user: CurrentUser) -> Actor:
    address = request.client.host if request.client else None
    return Actor(user.id, user.email, address, request.headers.get("user-agent"))


def _scope(session: SessionDep, user: CurrentUser) -> Scope:
    return scope_of(session, user)


ActorDep = Annotated[Actor, Depends(_actor)]
ScopeDep = Annotated[Scope, Depends(_scope)]

ADMIN = Depends(allow(Role.ADMIN))
PLANNERS = Depends(allow(Role.ADMIN, Role.MANAGER))
STAFF = Depends(allow(Role.ADMIN, Role.MANAGER, Role.SUPERVISOR))
DEVICE_KEEPERS = Depends(allow(Role.ADMIN, Role.TECHNICIAN))
EVERYONE = Depends(allow(*Role))
