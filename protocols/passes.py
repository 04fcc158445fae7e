"""Student passes: a compact signed binary body, Base45 text, an alphanumeric QR code.

The coordinator signs a pass with the site's Ed25519 key; a gate verifies it offline with the
site's public keys from its bundle, so no gate holds a key that can mint passes. The layout, the
threat model and the QR size are in docs/passes.md.

Two ways to show a pass:
- static (`CP1:`), printed on paper: the signed body as it is;
- rotating (`CR1:`), on the holder's phone: the signed body, the current 30-second step and a
  signature of (pass id, step) by the holder's own key, whose public half is inside the signed
  body. Only the phone that holds that key can make the next code, so a screenshot stops working
  within a minute, and a pass bound to a holder key is refused when shown in the static form.

Every refusal is a `PassRefusedError` with a `ReasonCode`, so the gate records why.
"""

import hashlib
import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from protocols.base45 import b45decode, b45encode
from protocols.errors import ProtocolError
from protocols.ids import NAME_PATTERN
from protocols.vocabulary import ReasonCode

STATIC_PREFIX = "CP1:"
ROTATING_PREFIX = "CR1:"
FORMAT_VERSION = 1
ROTATION_PERIOD_S = 30
KEY_ID_BYTES = 8
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
MAX_ZONES = 16
# Larger QR codes read worse from a phone screen at a turnstile; M recovers 15% of damage, enough
# for a phone screen with glare or a folded print (docs/passes.md has the measured versions).
QR_ERROR_CORRECTION = "M"

_FLAG_HOLDER_KEY = 0x01
_HEAD = struct.Struct(">BB8s16sII")  # version, flags, key id, pass id, valid from, valid until
_STEP = struct.Struct(">I")
_PASS_DOMAIN = b"campus-pass-v1\x00"
_ROTATING_DOMAIN = b"campus-pass-rotating-v1\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SECOND = _EPOCH + timedelta(seconds=2**32 - 1)

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
HolderRef = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,64}$")]


class PassRefusedError(ProtocolError):
    """A pass a gate must not accept, with the reason it records."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PassMode(StrEnum):
    STATIC = "static"
    ROTATING = "rotating"


class PassBody(BaseModel):
    """What a pass says; no name or photo, only references a gate checks against its bundle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pass_id: UUID
    site: Name
    holder_ref: HolderRef = Field(description="The student's record id, as in the bundle.")
    zones: tuple[Name, ...] = Field(max_length=MAX_ZONES, description="Zones it opens.")
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="The site key that signs it.")
    holder_key: bytes | None = Field(
        default=None,
        min_length=PUBLIC_KEY_BYTES,
        max_length=PUBLIC_KEY_BYTES,
        description="Raw Ed25519 public key of the holder's phone; set for rotating passes.",
    )

    @property
    def pass_ref(self) -> str:
        """The pass as the coordinator stores it and bundles and events name it (`pass_ref`):
        the id's 32 lowercase hex digits, without dashes."""
        return self.pass_id.hex

    @model_validator(mode="after")
    def _window_fits(self) -> "PassBody":
        for moment in (self.valid_from, self.valid_until):
            if not _EPOCH <= moment <= _LAST_SECOND:
                raise ValueError("pass dates must lie between 1970 and 2106")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class VerifiedPass(BaseModel):
    """A pass whose signatures, site, time and (for rotating codes) step were checked."""

    model_config = ConfigDict(frozen=True)

    body: PassBody
    mode: PassMode
    step: int | None = Field(default=None, description="The rotating code's 30-second step.")


def pass_key_id(public_key: Ed25519PublicKey) -> str:
    """The key id passes and bundles name a site key by: 8 bytes of its SHA-256, in hex."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_BYTES].hex()


def rotation_step(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds()) // ROTATION_PERIOD_S


# --- issuing (coordinator and the holder's phone) ----------------------------------------------


def issue_pass(body: PassBody, signing_key: Ed25519PrivateKey) -> str:
    """The static text of a pass: what a printed QR code holds, and what the phone page keeps."""
    if pass_key_id(signing_key.public_key()) != body.key_id:
        raise ValueError("the pass names another key id than the key that signs it")
    packed = _pack(body)
    return STATIC_PREFIX + b45encode(packed + signing_key.sign(_PASS_DOMAIN + packed))


def rotating_code(static_text: str, holder_key: Ed25519PrivateKey, now: datetime) -> str:
    """The code a phone shows at `now`: the signed pass plus the step, signed by the holder."""
    signed = _base45_bytes(static_text.removeprefix(STATIC_PREFIX))
    body, _ = _unpack(signed)
    step = rotation_step(now)
    proof = holder_key.sign(_ROTATING_DOMAIN + body.pass_id.bytes + _STEP.pack(step))
    return ROTATING_PREFIX + b45encode(signed + _STEP.pack(step) + proof)


# --- reading (gates) ---------------------------------------------------------------------------


def read_pass(
    text: str,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    site: str,
    now: datetime,
    skew: timedelta = timedelta(seconds=60),
) -> VerifiedPass:
    """Check a scanned text in the order a forger is stopped soonest; PassRefusedError says why."""
    mode, data = _split_prefix(text)
    body, signed_length = _unpack(data)
    _check_signature(data[:signed_length], body, trusted_keys)
    if body.site != site:
        raise PassRefusedError(ReasonCode.PASS_WRONG_SITE, f"pass is for site {body.site!r}")
    step = _check_presentation(mode, body, data[signed_length:], now, skew)
    if now < body.valid_from - skew:
        raise PassRefusedError(ReasonCode.PASS_NOT_YET_VALID, f"valid from {body.valid_from}")
    if now > body.valid_until + skew:
        raise PassRefusedError(ReasonCode.PASS_EXPIRED, f"expired at {body.valid_until}")
    return VerifiedPass(body=body, mode=mode, step=step)


def _split_prefix(text: str) -> tuple[PassMode, bytes]:
    for prefix, mode in ((STATIC_PREFIX, PassMode.STATIC), (ROTATING_PREFIX, PassMode.ROTATING)):
        if text.startswith(prefix):
            return mode, _base45_bytes(text[len(prefix) :])
    raise PassRefusedError(ReasonCode.NOT_A_PASS, "not a campus pass (unknown prefix)")


def _base45_bytes(text: str) -> bytes:
    try:
        return b45decode(text)
    except ValueError as error:
        raise PassRefusedError(
            ReasonCode.PASS_MALFORMED, f"pass text is damaged: {error}"
        ) from None


def _check_signature(
    signed: bytes, body: PassBody, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    key = trusted_keys.get(body.key_id)
    if key is None:
        raise PassRefusedError(
            ReasonCode.PASS_UNKNOWN_KEY, f"pass signed by unknown key {body.key_id}"
        )
    packed, signature = signed[:-SIGNATURE_BYTES], signed[-SIGNATURE_BYTES:]
    try:
        key.verify(signature, _PASS_DOMAIN + packed)
    except InvalidSignature:
        raise PassRefusedError(ReasonCode.PASS_FORGED, "pass signature does not verify") from None


def _check_presentation(
    mode: PassMode, body: PassBody, rest: bytes, now: datetime, skew: timedelta
) -> int | None:
    """The rotating proof, or nothing after a static pass; returns the rotating step."""
    if mode is PassMode.STATIC:
        if rest:
            raise PassRefusedError(ReasonCode.PASS_MALFORMED, f"{len(rest)} bytes after the pass")
        if body.holder_key is not None:
            raise PassRefusedError(
                ReasonCode.PASS_NEEDS_ROTATING_CODE,
                "this pass is bound to a phone: show the live code, not a copy",
            )
        return None
    if body.holder_key is None:
        raise PassRefusedError(
            ReasonCode.PASS_MALFORMED, "rotating code for a pass with no holder key"
        )
    if len(rest) < _STEP.size + SIGNATURE_BYTES:
        raise PassRefusedError(ReasonCode.PASS_TRUNCATED, "rotating code is cut short")
    if len(rest) > _STEP.size + SIGNATURE_BYTES:
        raise PassRefusedError(ReasonCode.PASS_MALFORMED, "bytes after the rotating code")
    (step,) = _STEP.unpack_from(rest)
    holder = Ed25519PublicKey.from_public_bytes(body.holder_key)
    try:
        holder.verify(
            rest[_STEP.size :], _ROTATING_DOMAIN + body.pass_id.bytes + rest[: _STEP.size]
        )
    except InvalidSignature:
        raise PassRefusedError(
            ReasonCode.PASS_FORGED, "rotating code not signed by the holder"
        ) from None
    if step > rotation_step(now + skew):
        raise PassRefusedError(ReasonCode.PASS_CODE_FROM_FUTURE, "code is from the future")
    if step < rotation_step(now - skew):
        raise PassRefusedError(ReasonCode.PASS_CODE_STALE, "code is too old: a copy, not the phone")
    return int(step)


# --- the binary layout (docs/passes.md) ------------------------------------------------------


def _pack(body: PassBody) -> bytes:
    flags = _FLAG_HOLDER_KEY if body.holder_key is not None else 0
    head = _HEAD.pack(
        FORMAT_VERSION,
        flags,
        bytes.fromhex(body.key_id),
        body.pass_id.bytes,
        _seconds(body.valid_from),
        _seconds(body.valid_until),
    )
    texts = _short(body.site) + _short(body.holder_ref) + bytes([len(body.zones)])
    texts += b"".join(_short(zone) for zone in body.zones)
    return head + texts + (body.holder_key or b"")


def _unpack(data: bytes) -> tuple[PassBody, int]:
    """The body and the length of body plus signature; PassRefusedError for anything off."""
    reader = _Reader(data)
    version, flags, key_id, pass_id, valid_from, valid_until = _HEAD.unpack(reader.take(_HEAD.size))
    if version != FORMAT_VERSION:
        raise PassRefusedError(ReasonCode.PASS_MALFORMED, f"unknown pass format version {version}")
    if flags & ~_FLAG_HOLDER_KEY:
        raise PassRefusedError(ReasonCode.PASS_MALFORMED, f"unknown pass flags {flags:#x}")
    site, holder_ref = reader.short_text(), reader.short_text()
    zones = tuple(reader.short_text() for _ in range(reader.take(1)[0]))
    holder_key = reader.take(PUBLIC_KEY_BYTES) if flags & _FLAG_HOLDER_KEY else None
    reader.take(SIGNATURE_BYTES)
    try:
        body = PassBody(
            pass_id=UUID(bytes=pass_id),
            site=site,
            holder_ref=holder_ref,
            zones=zones,
            valid_from=_EPOCH + timedelta(seconds=valid_from),
            valid_until=_EPOCH + timedelta(seconds=valid_until),
            key_id=key_id.hex(),
            holder_key=holder_key,
        )
    except ValueError as error:
        raise PassRefusedError(
            ReasonCode.PASS_MALFORMED, f"pass fields are invalid: {error}"
        ) from None
    return body, reader.offset


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self._data):
            raise PassRefusedError(ReasonCode.PASS_TRUNCATED, "pass is cut short")
        chunk = self._data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def short_text(self) -> str:
        raw = self.take(self.take(1)[0])
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise PassRefusedError(
                ReasonCode.PASS_MALFORMED, "pass text field is not ASCII"
            ) from None


def _short(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([len(raw)]) + raw


def _seconds(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds())
