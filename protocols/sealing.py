"""Sealed boxes to a device's X25519 key: secrets that only that device can open.

A sealed box is `SBX1 | ephemeral public key (32) | ChaCha20-Poly1305 ciphertext`. The sender
makes a fresh X25519 key pair per box, derives the box key with HKDF-SHA256 from the shared
secret and both public keys, and binds a context (device id, purpose, person) as associated data,
so a box copied onto another person or purpose fails to open. The device generated its key pair
itself and registered only the public key; it opens boxes in memory, never writing the result.

The same construction as libsodium's crypto_box_seal, on the `cryptography` package the
coordinator already uses, so the device needs no second crypto library.
"""

import base64
import binascii
from typing import Annotated

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from protocols.errors import ProtocolError

BOX_FORMAT = b"SBX1"
KEY_SIZE = 32
_NONCE = bytes(12)  # every box has its own key, so a fixed nonce is never reused under one key
_HEADER = len(BOX_FORMAT) + KEY_SIZE
MAX_SEALED_BYTES = 256 * 1024


class SealError(ProtocolError):
    """A sealed box does not open: wrong device key, wrong context, or altered bytes."""


def _from_base64(value: object) -> object:
    """Text is standard base64 without line breaks (JSON); bytes given in Python pass through."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64") from None


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Base64 = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
SealedBytes = Annotated[
    Base64,
    Field(max_length=MAX_SEALED_BYTES, description="A sealed box (protocols.sealing), base64."),
]


def new_device_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_key_text(key: X25519PrivateKey | X25519PublicKey) -> str:
    """The raw 32-byte public key in base64: what a device registers with the coordinator."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def read_public_key(text: str) -> X25519PublicKey:
    """A registered public key; ProtocolError naming the problem if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("device public key is not base64") from None
    if len(raw) != KEY_SIZE:
        raise ProtocolError(f"device public key must be {KEY_SIZE} bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


def context(device_id: str, purpose: str, subject: str = "") -> bytes:
    """Associated data binding a box to one device, one purpose and one subject."""
    return "\x00".join((BOX_FORMAT.decode(), device_id, purpose, subject)).encode("utf-8")


def seal(plaintext: bytes, recipient: X25519PublicKey, bound_to: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _box_key(ephemeral.exchange(recipient), ephemeral_public, recipient.public_bytes_raw())
    return (
        BOX_FORMAT + ephemeral_public + ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, bound_to)
    )


def open_box(box: bytes, recipient: X25519PrivateKey, bound_to: bytes) -> bytes:
    """The plaintext of a box sealed to `recipient` with the same context, else SealError."""
    if len(box) < _HEADER + 16 or not box.startswith(BOX_FORMAT):
        raise SealError("not a sealed box (unknown format or too short)")
    ephemeral_public = box[len(BOX_FORMAT) : _HEADER]
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError:
        raise SealError("sealed box carries an invalid ephemeral key") from None
    own_public = recipient.public_key().public_bytes_raw()
    key = _box_key(shared, ephemeral_public, own_public)
    try:
        return ChaCha20Poly1305(key).decrypt(_NONCE, box[_HEADER:], bound_to)
    except InvalidTag:
        raise SealError(
            "sealed box does not open: sealed to another device key or context, or altered"
        ) from None


def _box_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient_public,
        info=b"campus sealed box v1",
    )
    return hkdf.derive(shared)


def private_key_pem(key: X25519PrivateKey) -> bytes:
    """PKCS#8 PEM for the device's key file (mode 0600, never leaves the device)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def read_private_key_pem(data: bytes) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ProtocolError("device key file is not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise ProtocolError("device key file does not hold an X25519 key")
    return key
