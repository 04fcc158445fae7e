"""Signing and checking bundles: Ed25519 over the exact body bytes, with a key id.

The coordinator signs with its current key; a device holds the trusted public keys by id, so a
rotation adds a key before it signs and retires the old one after every device has moved on.
`check_bundle` answers with the bundle, or raises `BundleRefusedError` carrying one reason from
`BundleRefusal`, which the device sends back in its acknowledgement.
"""

import base64
import binascii
import hashlib
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from protocols.bundle import Bundle
from protocols.errors import ProtocolError
from protocols.messages import MAX_BUNDLE_BODY_CHARS, SignedBundle
from protocols.vocabulary import BundleRefusal

PUBLIC_KEY_SIZE = 32


class BundleRefusedError(ProtocolError):
    """A bundle a device must not apply, with the reason it acknowledges."""

    def __init__(self, refusal: BundleRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def read_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("signing public key is not base64") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ProtocolError(f"signing public key must be {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def content_hash(body: str) -> str:
    """SHA-256 (hex) of the body bytes: what a device acknowledges it holds."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def sign_bundle(bundle: Bundle, key: Ed25519PrivateKey) -> SignedBundle:
    """Serialise once and sign exactly those bytes; the bundle names its key id itself."""
    body = bundle.model_dump_json()
    signature = key.sign(body.encode("utf-8"))
    return SignedBundle(
        key_id=bundle.key_id, signature=base64.b64encode(signature).decode("ascii"), body=body
    )


def unsigned_bundle(bundle: Bundle) -> SignedBundle:
    """A bundle with no signature: for development files only; devices refuse it on the wire."""
    return SignedBundle(body=bundle.model_dump_json())


def check_bundle(
    signed: SignedBundle,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    device_id: str,
    held_version: int | None,
    held_hash: str | None = None,
) -> Bundle:
    """The bundle if it is signed by a trusted key, for this device, and newer than the held one.

    The same version with the same bytes is the bundle in force arriving again (retained
    redelivery) and is returned so the device can acknowledge it once more; the same version
    with other bytes is refused as replayed.
    """
    bundle = verified_body(signed, trusted_keys)
    if bundle.device_id != device_id:
        raise BundleRefusedError(
            BundleRefusal.FOREIGN, f"bundle is for device {bundle.device_id!r}, not {device_id!r}"
        )
    if held_version is not None and bundle.version < held_version:
        raise BundleRefusedError(
            BundleRefusal.OLDER, f"bundle version {bundle.version} is older than {held_version}"
        )
    if bundle.version == held_version and content_hash(signed.body) != held_hash:
        raise BundleRefusedError(
            BundleRefusal.REPLAYED,
            f"bundle version {bundle.version} is in force with other content",
        )
    return bundle


def verified_body(signed: SignedBundle, trusted_keys: Mapping[str, Ed25519PublicKey]) -> Bundle:
    """The body, once its signature checks out under the trusted key it names."""
    if signed.signature is None or signed.key_id is None:
        raise BundleRefusedError(BundleRefusal.UNSIGNED, "bundle carries no signature")
    public_key = trusted_keys.get(signed.key_id)
    if public_key is None:
        raise BundleRefusedError(
            BundleRefusal.UNKNOWN_KEY, f"bundle is signed by unknown key {signed.key_id!r}"
        )
    try:
        public_key.verify(base64.b64decode(signed.signature), signed.body.encode("utf-8"))
    except InvalidSignature:
        raise BundleRefusedError(
            BundleRefusal.TAMPERED, "bundle signature does not match"
        ) from None
    bundle = parse_body(signed.body)
    if bundle.key_id != signed.key_id:
        raise BundleRefusedError(
            BundleRefusal.TAMPERED, "bundle names another key than it is signed by"
        )
    return bundle


def parse_body(body: str) -> Bundle:
    try:
        return Bundle.model_validate_json(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "bundle"
        raise BundleRefusedError(
            BundleRefusal.MALFORMED, f"bundle is malformed: {where}: {first['msg']}"
        ) from None


def load_bundle_file(
    path: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
    allow_unsigned: bool = False,
) -> Bundle:
    """A bundle from a file, for a station running before the downlink is wired.

    The file holds a SignedBundle's JSON (what `coordinator bundles export` writes) or a bare
    Bundle's JSON. Unsigned content is accepted only with `allow_unsigned` (development).
    """
    text = path.read_text(encoding="utf-8")
    try:
        signed = SignedBundle.model_validate_json(text)
    except ValidationError:
        if len(text) > MAX_BUNDLE_BODY_CHARS:
            raise BundleRefusedError(
                BundleRefusal.MALFORMED, f"{path} is too large for a bundle"
            ) from None
        signed = SignedBundle(body=text)
    if signed.signature is None and allow_unsigned:
        return parse_body(signed.body)
    return verified_body(signed, trusted_keys or {})
