"""Short-lived access tokens (JWT, HS256) naming the user and role."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import SecretStr

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.errors import AuthenticationError

ALGORITHM = "HS256"
AUDIENCE = "campus-coordinator"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: str
    expires_at: datetime


def issue_access_token(
    secret: SecretStr, *, user_id: int, role: str, lifetime: timedelta, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
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
            options={"require": ["sub", "exp", "aud", "role"]},
        )
        return AccessClaims(
            user_id=int(claims["sub"]),
            role=str(claims["role"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("access token expired: refresh it") from None
    except (jwt.InvalidTokenError, ValueError):
        raise AuthenticationError("access token is not valid: sign in again") from None
