"""Short-lived access tokens (JWT, HS256) naming the user, role and how they signed in.

`account_stamp` is a digest of what a sign-in was granted on (role, buildings, credentials);
refresh compares it, so a change to any of them ends the person's sign-ins wherever it was made.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import SecretStr

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db.enums import Role
from coordinator.db.models import User
from coordinator.errors import AuthenticationError

ALGORITHM = "HS256"
AUDIENCE = "campus-coordinator"
# These roles change plans and people, so a stolen password alone must not be enough.
SECOND_FACTOR_ROLES = frozenset({Role.ADMIN, Role.MANAGER})
# RFC 8176 authentication method references.
_PASSWORD, _ONE_TIME_CODE = "pwd", "otp"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: str
    issued_at: datetime
    expires_at: datetime
    second_factor: bool


def issue_access_token(
    secret: SecretStr,
    *,
    user_id: int,
    role: str,
    second_factor: bool,
    lifetime: timedelta,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "amr": [_PASSWORD, _ONE_TIME_CODE] if second_factor else [_PASSWORD],
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + lifetime,
    }
    return jwt.encode(claims, derive_key(secret, KeyPurpose.ACCESS_TOKENS), algorithm=ALGORITHM)


def read_access_token(secret: SecretStr, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            derive_key(secret, KeyPurpose.ACCESS_TOKENS),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "iat", "aud", "role", "amr"]},
        )
        return AccessClaims(
            user_id=int(claims["sub"]),
            role=str(claims["role"]),
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            second_factor=_ONE_TIME_CODE in claims["amr"],
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("access token expired: refresh it") from None
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
        raise AuthenticationError("access token is not valid: sign in again") from None


def check_still_granted(claims: AccessClaims, user: User) -> None:
    """Refuse a valid token whose grant no longer holds: another role, a reset, no second factor.

    Checked on every request, so promotion, demotion or a reset takes effect at once, whatever
    tokens the person still holds.
    """
    if claims.role != user.role.value:
        raise AuthenticationError("your role has changed: sign in again")
    valid_from = user.sign_ins_valid_from
    if valid_from is not None and claims.issued_at < valid_from.replace(microsecond=0):
        raise AuthenticationError("your password or second factor was reset: sign in again")
    if user.role in SECOND_FACTOR_ROLES and not claims.second_factor:
        raise AuthenticationError(
            f"a {user.role.value} must sign in with a second factor: sign in again"
        )


def account_stamp(user: User) -> str:
    """A digest of what a sign-in is granted on; any change ends the sign-in at its refresh."""
    parts = (
        user.id,
        user.role.value,
        tuple(user.building_ids),
        user.password_hash or "",
        user.totp_confirmed,
        user.is_active,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()
