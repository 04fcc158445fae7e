"""TOTP: sealed secrets, otpauth URIs, the ±1 step window, and recovery codes."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from pydantic import SecretStr

from coordinator.auth.totp import (
    RECOVERY_CODE_COUNT,
    TotpSecretError,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    open_secret,
    provisioning_uri,
    seal_secret,
)

ROOT = SecretStr("a-test-root-secret-that-is-long-enough-1234")
NOW = datetime(2026, 5, 4, 9, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=30)


def test_a_sealed_secret_opens_for_its_user_only() -> None:
    secret = new_secret()
    sealed = seal_secret(ROOT, 7, secret)
    assert secret.encode() not in sealed
    assert open_secret(ROOT, 7, sealed) == secret
    with pytest.raises(TotpSecretError, match="user 8: the stored TOTP secret cannot be opened"):
        open_secret(ROOT, 8, sealed)


def test_a_sealed_secret_does_not_open_under_another_root_secret() -> None:
    sealed = seal_secret(ROOT, 7, new_secret())
    with pytest.raises(TotpSecretError):
        open_secret(SecretStr("another-root-secret-that-is-long-enough-99"), 7, sealed)


def test_sealing_twice_gives_different_bytes() -> None:
    secret = new_secret()
    assert seal_secret(ROOT, 7, secret) != seal_secret(ROOT, 7, secret)


def test_the_provisioning_uri_names_the_issuer_and_the_account() -> None:
    secret = new_secret()
    uri = urlparse(provisioning_uri(secret, "ada@campus.example"))
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path) == "/Campus coordinator:ada@campus.example"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Campus coordinator"]


@pytest.mark.parametrize(
    ("offset", "is_accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_a_code_is_accepted_one_step_either_side(offset: int, is_accepted: bool) -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(NOW + offset * STEP)
    step = matching_step(secret, code, NOW)
    assert (step is not None) is is_accepted
    if is_accepted:
        assert step == pyotp.TOTP(secret).timecode(NOW) + offset


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", " 123456"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert matching_step(new_secret(), code, NOW) is None


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODE_COUNT == len(set(codes))
    assert all(re.fullmatch(r"[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}", code) for code in codes)


@pytest.mark.parametrize("typed", ["k3m9p-x7q2d", "K3M9P-X7Q2D", "k3m9px7q2d", " k3m9p x7q2d "])
def test_recovery_codes_forgive_case_spaces_and_a_missing_dash(typed: str) -> None:
    assert normalise_recovery_code(typed) == "k3m9p-x7q2d"
