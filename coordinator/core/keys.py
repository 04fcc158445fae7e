"""Purpose-bound keys derived from the one root secret (HKDF), so one leak does not open all."""

import hashlib
import hmac
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr


class KeyPurpose(StrEnum):
    ACCESS_TOKENS = "access-tokens"
    BUNDLE_SIGNING = "bundle-signing"
    CARD_UIDS = "card-uids"
    FACE_TEMPLATES = "face-templates"
    TOTP_SECRETS = "totp-secrets"


def derive_key(secret: SecretStr, purpose: KeyPurpose) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.value.encode())
    return hkdf.derive(secret.get_secret_value().encode())


def card_uid_hash(secret: SecretStr, uid: str) -> str:
    """The stored form of a card UID: a keyed hash, so a database dump reveals no card numbers."""
    normalized = uid.strip().upper().replace(":", "").replace(" ", "")
    key = derive_key(secret, KeyPurpose.CARD_UIDS)
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def digest_token(token: str) -> str:
    """The stored form of a random one-time token (refresh token, invite link).

    Such tokens carry 256 random bits, so a plain SHA-256 keeps a database dump from being
    usable; argon2 would only cost CPU on every use.
    """
    return hashlib.sha256(token.encode()).hexdigest()
