"""Bundle-signing keys with rotation; private halves sealed under the root secret.

Rotation in three steps, so no device is ever left holding only keys that no longer sign:
1. `add_key`: a new key is made; bundles signed by the active key now list it among the keys to
   trust, so devices learn it from a source they already trust;
2. `activate_key`: once devices have acknowledged those bundles, the new key signs; the old one
   still verifies;
3. `retire_key`: the old key leaves the trusted list and signs nothing more.
Each step marks every bundle stale, so the builder re-signs them.
"""

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db.models import SigningKey
from coordinator.errors import ConflictError, NotFoundError
from coordinator.services import downlink
from protocols.bundle import PublicKey
from protocols.signing import public_key_text

_NONCE = 12


@dataclass(frozen=True)
class ActiveKey:
    key_id: str
    private_key: Ed25519PrivateKey


def key_id_of(public_text: str) -> str:
    """A short id from the public key itself: the same key always has the same id."""
    return hashlib.sha256(base64.b64decode(public_text)).hexdigest()[:16]


def add_key(session: Session, secret: SecretStr, now: datetime | None = None) -> SigningKey:
    key = _new_key(session, secret, now)
    downlink.mark_all_stale(session)
    return key


def _new_key(session: Session, secret: SecretStr, now: datetime | None) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = public_key_text(private)
    key = SigningKey(
        key_id=key_id_of(public),
        public_key=public,
        private_sealed=_seal(secret, private.private_bytes_raw(), key_id_of(public)),
        created_at=now or datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    return key


def activate_key(session: Session, key_id: str, now: datetime | None = None) -> SigningKey:
    key = _find(session, key_id)
    if key.retired_at is not None:
        raise ConflictError(f"signing key {key_id} is retired; add a new key instead")
    key.activated_at = now or datetime.now(UTC)
    downlink.mark_all_stale(session)
    return key


def retire_key(session: Session, key_id: str, now: datetime | None = None) -> SigningKey:
    key = _find(session, key_id)
    active = active_key_row(session)
    if active is not None and active.key_id == key_id:
        raise ConflictError(f"signing key {key_id} signs now: activate another key first")
    key.retired_at = now or datetime.now(UTC)
    downlink.mark_all_stale(session)
    return key


def ensure_active_key(session: Session, secret: SecretStr) -> ActiveKey:
    """The key that signs now; the first one is made and activated on first use."""
    row = active_key_row(session)
    if row is None:  # the very first key: nothing was signed before, nothing to re-sign
        row = _new_key(session, secret, None)
        row.activated_at = row.created_at
    return ActiveKey(row.key_id, _open(secret, row))


def active_key(session: Session, secret: SecretStr) -> ActiveKey | None:
    """The key that signs now, opened; None before the first bundle made one."""
    row = active_key_row(session)
    return None if row is None else ActiveKey(row.key_id, _open(secret, row))


def active_key_row(session: Session) -> SigningKey | None:
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.activated_at.is_not(None), SigningKey.retired_at.is_(None))
        .order_by(SigningKey.activated_at.desc())
        .limit(1)
    ).first()


def all_keys(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).order_by(SigningKey.created_at)))


def trusted_keys(session: Session) -> list[PublicKey]:
    """Every key not retired: what devices should trust (the active one and any next one)."""
    rows = session.scalars(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at)
    )
    return [PublicKey(key_id=row.key_id, public_key=row.public_key) for row in rows]


def _find(session: Session, key_id: str) -> SigningKey:
    key = session.get(SigningKey, key_id)
    if key is None:
        raise NotFoundError(f"no signing key {key_id!r}")
    return key


def _seal(secret: SecretStr, raw: bytes, key_id: str) -> bytes:
    nonce = os.urandom(_NONCE)
    cipher = AESGCM(derive_key(secret, KeyPurpose.BUNDLE_SIGNING))
    return nonce + cipher.encrypt(nonce, raw, key_id.encode())


def _open(secret: SecretStr, row: SigningKey) -> Ed25519PrivateKey:
    cipher = AESGCM(derive_key(secret, KeyPurpose.BUNDLE_SIGNING))
    sealed = row.private_sealed
    raw = cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], row.key_id.encode())
    return Ed25519PrivateKey.from_private_bytes(raw)
