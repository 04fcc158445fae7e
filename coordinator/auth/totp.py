"""The TOTP second factor: secrets sealed at rest, otpauth:// URIs, codes, and recovery codes."""

import hmac
import os
import re
import secrets
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.errors import CoordinatorError

ISSUER = "Campus coordinator"
# One step either side (30 s each) forgives a phone clock that is a little off.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
_NONCE_BYTES = 12
# No 0/O or 1/I/L: recovery codes are read off paper and typed by hand.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_GROUP = 5
TOTP_CODE_PATTERN = re.compile(r"^\d{6}$")


class TotpSecretError(CoordinatorError, ValueError):
    """A stored TOTP secret cannot be opened: the root secret changed, or the row was edited."""

    status_code = 500
    code = "totp_secret_unreadable"


def new_secret() -> str:
    """A fresh base32 secret of 160 bits, as RFC 4226 recommends."""
    return pyotp.random_base32()


def seal_secret(root_secret: SecretStr, user_id: int, secret: str) -> bytes:
    """Encrypt with AES-GCM; the user id is bound in, so a secret copied to another row fails."""
    nonce = os.urandom(_NONCE_BYTES)
    cipher = AESGCM(derive_key(root_secret, KeyPurpose.TOTP_SECRETS))
    return nonce + cipher.encrypt(nonce, secret.encode(), _bound_to(user_id))


def open_secret(root_secret: SecretStr, user_id: int, sealed: bytes) -> str:
    cipher = AESGCM(derive_key(root_secret, KeyPurpose.TOTP_SECRETS))
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return cipher.decrypt(nonce, ciphertext, _bound_to(user_id)).decode()
    except InvalidTag:
        raise TotpSecretError(
            f"user {user_id}: the stored TOTP secret cannot be opened; re-enrol the second factor"
        ) from None


def _bound_to(user_id: int) -> bytes:
    return f"user:{user_id}".encode()


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads (shown as a QR code by the console)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step `code` belongs to, if it is the step at `now` or one either side.

    The caller accepts a step only if it is newer than the last one it accepted for the person,
    which makes every code single-use (see `AuthService._accept_code`).
    """
    if not TOTP_CODE_PATTERN.match(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten random codes like `k3m9p-x7q2d` (about 49 bits each), shown to the user once."""
    return [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]


def _recovery_code() -> str:
    letters = [secrets.choice(_RECOVERY_ALPHABET) for _ in range(2 * _RECOVERY_GROUP)]
    return "".join(letters[:_RECOVERY_GROUP]) + "-" + "".join(letters[_RECOVERY_GROUP:])


def normalise_recovery_code(text: str) -> str:
    """Forgive case, spaces and a missing dash, the way people type codes from paper."""
    letters = re.sub(r"[\s-]", "", text).lower()
    return letters[:_RECOVERY_GROUP] + "-" + letters[_RECOVERY_GROUP:]
