"""Passes: Base45 against RFC 9285, the signed format, every refusal reason, and a fuzzed reader."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.base45 import b45decode, b45encode
from protocols.passes import (
    QR_ERROR_CORRECTION,
    ROTATING_PREFIX,
    STATIC_PREFIX,
    PassBody,
    PassMode,
    PassRefusedError,
    issue_pass,
    pass_key_id,
    read_pass,
    rotating_code,
)
from protocols.vocabulary import ReasonCode

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SITE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PHONE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
TRUSTED = {pass_key_id(SITE_KEY.public_key()): SITE_KEY.public_key()}


def body(**changes: object) -> PassBody:
    fields: dict[str, object] = {
        "pass_id": UUID("0192f0c4-1b2c-7d3e-8f40-123456789abc"),
        "site": "north-campus",
        "holder_ref": "student-12345",
        "zones": ("main-gate", "library"),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=180),
        "key_id": pass_key_id(SITE_KEY.public_key()),
    }
    return PassBody.model_validate(fields | changes)


def phone_body() -> PassBody:
    return body(holder_key=PHONE_KEY.public_key().public_bytes_raw())


def read(text: str, **options: object) -> object:
    arguments: dict[str, object] = {"trusted_keys": TRUSTED, "site": "north-campus", "now": NOW}
    return read_pass(text, **(arguments | options))  # type: ignore[arg-type]


def refusal(text: str, **options: object) -> ReasonCode:
    with pytest.raises(PassRefusedError) as refused:
        read(text, **options)
    return refused.value.reason


# --- Base45 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"", "")],
)
def test_base45_matches_the_rfc_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@given(st.binary(max_size=300))
def test_base45_round_trips_any_bytes(raw: bytes) -> None:
    assert b45decode(b45encode(raw)) == raw


@pytest.mark.parametrize("text", ["GGW", "ZZZ", "a", "AB", "A\x00B"])
def test_base45_refuses_what_is_not_base45(text: str) -> None:
    with pytest.raises(ValueError, match="Base45"):
        b45decode(text)


# --- the format ----------------------------------------------------------------------------------


def test_a_static_pass_reads_back_as_issued() -> None:
    text = issue_pass(body(), SITE_KEY)
    assert text.startswith(STATIC_PREFIX)
    verified = read(text)
    assert verified.body == body()  # type: ignore[attr-defined]
    assert verified.mode is PassMode.STATIC  # type: ignore[attr-defined]


def test_a_rotating_code_reads_back_with_its_step() -> None:
    code = rotating_code(issue_pass(phone_body(), SITE_KEY), PHONE_KEY, NOW)
    assert code.startswith(ROTATING_PREFIX)
    verified = read(code)
    assert verified.mode is PassMode.ROTATING  # type: ignore[attr-defined]
    assert verified.step == int(NOW.timestamp()) // 30  # type: ignore[attr-defined]


def test_payload_size_and_qr_version_are_as_documented() -> None:
    """docs/passes.md states these figures; change both together."""
    static = issue_pass(body(), SITE_KEY)
    rotating = rotating_code(issue_pass(phone_body(), SITE_KEY), PHONE_KEY, NOW)
    assert (len(b45decode(static[4:])), len(static)) == (144, 220)
    assert (len(b45decode(rotating[4:])), len(rotating)) == (244, 370)
    static_qr = segno.make_qr(static, error=QR_ERROR_CORRECTION, boost_error=False)
    rotating_qr = segno.make_qr(rotating, error=QR_ERROR_CORRECTION, boost_error=False)
    assert static_qr.mode == "alphanumeric" and rotating_qr.mode == "alphanumeric"
    assert (static_qr.version, rotating_qr.version) == (8, 12)


def test_issuing_with_a_key_the_pass_does_not_name_is_refused() -> None:
    with pytest.raises(ValueError, match="another key id"):
        issue_pass(body(), OTHER_KEY)


@pytest.mark.parametrize(
    "changes",
    [
        {"valid_until": NOW - timedelta(days=2)},
        {"valid_from": datetime(1969, 12, 31, tzinfo=UTC)},
        {"valid_until": datetime(2106, 12, 31, tzinfo=UTC)},
        {"holder_ref": "has space"},
        {"holder_ref": "nul\x00"},
        {"zones": tuple(f"z{index}" for index in range(17))},
        {"site": "Upper"},
    ],
)
def test_a_body_the_format_cannot_hold_is_refused_before_signing(
    changes: dict[str, object],
) -> None:
    with pytest.raises(ValueError):
        body(**changes)


# --- every refusal has its own reason -------------------------------------------------------------


def _flip_last_byte(text: str) -> str:
    raw = bytearray(b45decode(text[4:]))
    raw[-1] ^= 0x01
    return text[:4] + b45encode(bytes(raw))


def _cut(text: str, keep: int) -> str:
    return text[:4] + b45encode(b45decode(text[4:])[:keep])


def test_refusals_name_their_reason() -> None:
    static = issue_pass(body(), SITE_KEY)
    phone = issue_pass(phone_body(), SITE_KEY)
    other_key = {pass_key_id(OTHER_KEY.public_key()): OTHER_KEY.public_key()}
    forged_holder = rotating_code(phone, OTHER_KEY, NOW)
    cases = {
        "HELLO WORLD": ReasonCode.NOT_A_PASS,
        STATIC_PREFIX + "a": ReasonCode.PASS_MALFORMED,
        _cut(static, 40): ReasonCode.PASS_TRUNCATED,
        _flip_last_byte(static): ReasonCode.PASS_FORGED,
        phone: ReasonCode.PASS_NEEDS_ROTATING_CODE,
        forged_holder: ReasonCode.PASS_FORGED,
        _cut(rotating_code(phone, PHONE_KEY, NOW), 200): ReasonCode.PASS_TRUNCATED,
        static + "00": ReasonCode.PASS_MALFORMED,
    }
    for text, reason in cases.items():
        assert refusal(text) is reason, text
    assert refusal(static, trusted_keys=other_key) is ReasonCode.PASS_UNKNOWN_KEY
    assert refusal(static, site="south-campus") is ReasonCode.PASS_WRONG_SITE
    assert refusal(static, now=NOW - timedelta(days=2)) is ReasonCode.PASS_NOT_YET_VALID
    assert refusal(static, now=NOW + timedelta(days=181)) is ReasonCode.PASS_EXPIRED


def test_a_rotating_code_is_good_only_within_the_skew() -> None:
    phone = issue_pass(phone_body(), SITE_KEY)
    old = rotating_code(phone, PHONE_KEY, NOW - timedelta(minutes=3))
    future = rotating_code(phone, PHONE_KEY, NOW + timedelta(minutes=3))
    assert refusal(old) is ReasonCode.PASS_CODE_STALE
    assert refusal(future) is ReasonCode.PASS_CODE_FROM_FUTURE
    slightly_late = rotating_code(phone, PHONE_KEY, NOW - timedelta(seconds=40))
    assert read(slightly_late).mode is PassMode.ROTATING  # type: ignore[attr-defined]
    assert refusal(slightly_late, skew=timedelta(seconds=5)) is ReasonCode.PASS_CODE_STALE


def test_a_static_copy_of_a_phone_pass_taken_from_a_rotating_code_is_refused() -> None:
    """A screenshot holds the signed pass; re-encoding it as a printed pass must not work."""
    code = rotating_code(issue_pass(phone_body(), SITE_KEY), PHONE_KEY, NOW)
    raw = b45decode(code[4:])
    copied = STATIC_PREFIX + b45encode(raw[: len(raw) - 68])
    assert refusal(copied) is ReasonCode.PASS_NEEDS_ROTATING_CODE


# --- fuzzing: whatever is scanned ends as a pass or a refusal with a reason ---------------------


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(PassRefusedError) as refused:
        read(text)
    assert refused.value.reason in ReasonCode


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_corrupted_real_passes_are_refused_with_a_reason(data: st.DataObject) -> None:
    text = data.draw(
        st.sampled_from(
            [
                issue_pass(body(), SITE_KEY),
                rotating_code(issue_pass(phone_body(), SITE_KEY), PHONE_KEY, NOW),
            ]
        )
    )
    raw = bytearray(b45decode(text[4:]))
    position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    for damaged in (text[:4] + b45encode(bytes(raw)), text[:4] + b45encode(bytes(raw[:cut]))):
        try:
            verified = read(damaged)
        except PassRefusedError as refused:
            assert refused.reason in ReasonCode
        else:  # only a cut at the very end of an unchanged prefix could still verify
            pytest.fail(f"a damaged pass was accepted: {verified}")
