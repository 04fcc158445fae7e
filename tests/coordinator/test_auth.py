"""Sign-in over HTTP on SQLite and PostgreSQL: tokens, rotation, theft detection, TOTP, limits."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.enums import Role
from coordinator.db.models import RecoveryCode, RefreshToken, SignInAttempt, User
from tests.coordinator.signin import PASSWORD, Campus, bearer, error_of, make_campus


@pytest.fixture
def campus(database_url: str, sessions: sessionmaker[Session]) -> Iterator[Campus]:
    yield from make_campus(database_url, sessions)


# --- passwords and tokens -------------------------------------------------------------------------


def test_signs_in_and_the_access_token_opens_me(campus: Campus) -> None:
    user_id = campus.add_user("Sam@Campus.example")
    response = campus.sign_in("sam@campus.example")
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["outcome"] == "signed_in" and tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60 and tokens["refresh_expires_in"] == 14 * 86400
    me = campus.me(tokens["access_token"]).json()
    assert (me["id"], me["role"], me["totp_confirmed"]) == (user_id, "supervisor", False)
    [entry] = campus.audit("sign_in")
    assert entry.actor_id == user_id and entry.after == {
        "user_id": user_id,
        "second_factor": "none",
    }


def test_refresh_tokens_are_stored_only_as_hashes(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    refresh_token = campus.sign_in("sam@campus.example").json()["refresh_token"]
    with campus.sessions() as session:
        [stored] = session.scalars(select(RefreshToken)).all()
    assert stored.token_hash != refresh_token and len(stored.token_hash) == 64


def test_wrong_password_and_unknown_email_get_the_same_answer(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    wrong_password = campus.sign_in("sam@campus.example", password="not the right one")
    unknown = campus.sign_in("nobody@campus.example")
    assert error_of(wrong_password, 401, "not_authenticated") == "email or password is wrong"
    assert error_of(unknown, 401, "not_authenticated") == "email or password is wrong"
    with campus.sessions() as session:
        attempts = session.scalars(select(SignInAttempt).order_by(SignInAttempt.id)).all()
    assert [(a.email, a.succeeded) for a in attempts] == [
        ("sam@campus.example", False),
        ("nobody@campus.example", False),
    ]


def test_an_expired_access_token_is_refused_and_refresh_renews_it(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    campus.clock.now = datetime.now(UTC) - timedelta(minutes=16)
    tokens = campus.sign_in("sam@campus.example").json()
    assert error_of(campus.me(tokens["access_token"]), 401, "not_authenticated") == (
        "access token expired: refresh it"
    )
    campus.clock.now = datetime.now(UTC)
    renewed = campus.refresh(tokens["refresh_token"]).json()
    assert campus.me(renewed["access_token"]).status_code == 200


def test_a_refresh_token_expires_after_its_lifetime(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    refresh_token = campus.sign_in("sam@campus.example").json()["refresh_token"]
    campus.clock.advance(days=14, seconds=1)
    message = error_of(campus.refresh(refresh_token), 401, "not_authenticated")
    assert message == "refresh token expired: sign in again"


# --- rotation, theft detection, sign-out ----------------------------------------------------------


def test_refresh_rotates_to_a_new_token_of_the_same_family(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    campus.clock.advance(minutes=-10)  # so the renewed access token is valid in real time
    first = campus.sign_in("sam@campus.example").json()
    campus.clock.advance(minutes=10)
    second = campus.refresh(first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert campus.me(second["access_token"]).status_code == 200
    third = campus.refresh(second["refresh_token"])
    assert third.status_code == 200, third.text
    with campus.sessions() as session:
        family = session.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
    assert len({token.family_id for token in family}) == 1
    assert [token.used_at is not None for token in family] == [True, True, False]


def test_a_refresh_token_used_twice_revokes_its_whole_family(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    stolen = campus.sign_in("sam@campus.example").json()["refresh_token"]
    elsewhere = campus.sign_in("sam@campus.example").json()["refresh_token"]
    rightful = campus.refresh(stolen).json()["refresh_token"]  # the user's app rotates first

    replay = campus.refresh(stolen)  # then the thief presents the copy

    assert "already used" in error_of(replay, 401, "not_authenticated")
    after_theft = campus.refresh(rightful)
    assert (
        error_of(after_theft, 401, "not_authenticated") == "this sign-in has ended: sign in again"
    )
    assert campus.refresh(elsewhere).status_code == 200, "another sign-in is not affected"
    [revocation] = campus.audit("revoke")
    assert revocation.actor == "system" and revocation.after == {
        "live_tokens": 0,
        "reason": "token reused",
    }


def test_sign_out_ends_the_sign_in(campus: Campus) -> None:
    user_id = campus.add_user("sam@campus.example")
    first = campus.sign_in("sam@campus.example").json()["refresh_token"]
    second = campus.refresh(first).json()["refresh_token"]
    signed_out = campus.http.post("/api/v1/auth/sign-out", json={"refresh_token": second})
    assert signed_out.status_code == 204
    assert error_of(campus.refresh(second), 401, "not_authenticated").startswith("this sign-in")
    [entry] = campus.audit("revoke")
    assert entry.actor_id == user_id and entry.after == {"live_tokens": 0, "reason": "signed out"}


def test_an_unknown_refresh_token_is_refused(campus: Campus) -> None:
    response = campus.refresh("x" * 43)
    assert (
        error_of(response, 401, "not_authenticated") == "refresh token is not valid: sign in again"
    )


def test_an_inactive_user_can_neither_sign_in_nor_refresh(campus: Campus) -> None:
    user_id = campus.add_user("sam@campus.example")
    refresh_token = campus.sign_in("sam@campus.example").json()["refresh_token"]
    with campus.sessions.begin() as session:
        session.get_one(User, user_id).is_active = False
    assert "disabled" in error_of(campus.refresh(refresh_token), 401, "not_authenticated")
    assert "disabled" in error_of(campus.sign_in("sam@campus.example"), 401, "not_authenticated")
    with campus.sessions() as session:
        assert all(t.revoked_at for t in session.scalars(select(RefreshToken)))


# --- the TOTP second factor -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
def test_an_admin_or_manager_without_totp_may_only_enrol(campus: Campus, role: Role) -> None:
    campus.add_user("boss@campus.example", role)
    answer = campus.sign_in("boss@campus.example").json()
    assert answer["outcome"] == "totp_enrolment_required" and "access_token" not in answer
    assert answer["expires_in"] == 600
    token = answer["enrolment_token"]
    assert error_of(campus.me(token), 401, "not_authenticated").startswith("access token is not")
    started = campus.http.post("/api/v1/auth/totp/enrol", headers=bearer(token)).json()
    assert started["otpauth_uri"].startswith("otpauth://totp/Campus%20coordinator:boss%40")

    wrong = campus.http.post(
        "/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": "000000"}
    )
    assert error_of(wrong, 422, "invalid_code").startswith("code: does not match")
    code = pyotp.TOTP(started["secret"]).at(campus.clock.now)
    confirmed = campus.http.post(
        "/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": code}
    ).json()

    assert len(set(confirmed["recovery_codes"])) == 10
    assert campus.me(confirmed["tokens"]["access_token"]).json()["totp_confirmed"] is True
    assert [e.action for e in campus.audit("totp_enrol_start") + campus.audit("totp_enrol")] == [
        "totp_enrol_start",
        "totp_enrol",
    ]
    with campus.sessions() as session:
        hashes = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not set(hashes) & set(confirmed["recovery_codes"])


def test_an_enrolment_token_expires(campus: Campus) -> None:
    campus.add_user("boss@campus.example", Role.ADMIN)
    campus.clock.now = datetime.now(UTC) - timedelta(minutes=11)
    token = campus.sign_in("boss@campus.example").json()["enrolment_token"]
    response = campus.http.post("/api/v1/auth/totp/enrol", headers=bearer(token))
    assert error_of(response, 401, "not_authenticated") == "enrolment token expired: sign in again"


def test_an_enrolled_manager_must_give_the_current_code(campus: Campus) -> None:
    campus.add_user("boss@campus.example", Role.MANAGER)
    secret, _ = campus.enrol("boss@campus.example")
    campus.clock.advance(minutes=5)

    without = campus.sign_in("boss@campus.example")
    assert error_of(without, 401, "second_factor_required").startswith("second_factor: enter")
    stale = pyotp.TOTP(secret).at(campus.clock.now - timedelta(minutes=2))
    wrong = campus.sign_in("boss@campus.example", second_factor=stale)
    assert error_of(wrong, 401, "not_authenticated").startswith("second_factor: the code is wrong")
    current = pyotp.TOTP(secret).at(campus.clock.now)
    right = campus.sign_in("boss@campus.example", second_factor=current)
    assert right.json()["outcome"] == "signed_in"


def test_a_supervisor_who_enrolled_needs_the_code_too(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    access_token = campus.sign_in("sam@campus.example").json()["access_token"]
    secret = campus.http.post("/api/v1/auth/totp/enrol", headers=bearer(access_token)).json()[
        "secret"
    ]
    confirmed = campus.http.post(
        "/api/v1/auth/totp/confirm",
        headers=bearer(access_token),
        json={"code": pyotp.TOTP(secret).at(campus.clock.now)},
    ).json()
    assert confirmed["tokens"] is None, "an access token holder is already signed in"
    assert error_of(campus.sign_in("sam@campus.example"), 401, "second_factor_required")


def test_enrolling_again_is_refused_once_confirmed(campus: Campus) -> None:
    campus.add_user("boss@campus.example", Role.ADMIN)
    secret, _ = campus.enrol("boss@campus.example")
    code = pyotp.TOTP(secret).at(campus.clock.now)
    tokens = campus.sign_in("boss@campus.example", second_factor=code).json()
    again = campus.http.post("/api/v1/auth/totp/enrol", headers=bearer(tokens["access_token"]))
    assert "already set up" in error_of(again, 409, "conflict")


def test_a_totp_code_works_once_and_never_after_a_newer_one(campus: Campus) -> None:
    campus.add_user("boss@campus.example", Role.ADMIN)
    secret, _ = campus.enrol("boss@campus.example")
    totp = pyotp.TOTP(secret)
    code = totp.at(campus.clock.now)
    assert campus.sign_in("boss@campus.example", second_factor=code).status_code == 200
    replayed = campus.sign_in("boss@campus.example", second_factor=code)
    assert error_of(replayed, 401, "not_authenticated").endswith("wrong or already used")
    campus.clock.advance(seconds=30)
    newer = totp.at(campus.clock.now)
    older = totp.at(campus.clock.now - timedelta(seconds=30))
    assert campus.sign_in("boss@campus.example", second_factor=newer).status_code == 200
    late = campus.sign_in("boss@campus.example", second_factor=older)  # still in the window
    assert error_of(late, 401, "not_authenticated").endswith("wrong or already used")


def test_a_recovery_code_works_once(campus: Campus) -> None:
    campus.add_user("boss@campus.example", Role.ADMIN)
    _, recovery_codes = campus.enrol("boss@campus.example")
    first, second = recovery_codes[0], recovery_codes[1]

    assert campus.sign_in("boss@campus.example", second_factor=first).status_code == 200
    reused = campus.sign_in("boss@campus.example", second_factor=first)
    assert error_of(reused, 401, "not_authenticated").endswith("wrong or already used")
    typed_loosely = second.upper().replace("-", " ")
    assert campus.sign_in("boss@campus.example", second_factor=typed_loosely).status_code == 200
    entries = [e.after for e in campus.audit("sign_in") if e.after]
    assert [e["recovery_codes_left"] for e in entries if e["second_factor"] == "recovery_code"] == [
        9,
        8,
    ]


# --- rate limits ----------------------------------------------------------------------------------


def test_five_failures_from_one_address_make_only_that_pair_wait(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    for _ in range(5):
        failed = campus.sign_in("sam@campus.example", password="guess", address="203.0.113.9")
        assert failed.status_code == 401
    waiting = campus.sign_in("sam@campus.example", address="203.0.113.9")
    message = error_of(waiting, 429, "rate_limited")
    assert message == (
        "too many failed sign-ins for this account from this address: try again in 15 minutes"
    )
    assert waiting.headers["Retry-After"] == str(15 * 60)
    # The owner, elsewhere, is not held up by the guesser.
    assert campus.sign_in("sam@campus.example", address="198.51.100.4").status_code == 200
    campus.clock.advance(minutes=15)
    assert campus.sign_in("sam@campus.example", address="203.0.113.9").status_code == 200


def test_a_success_clears_the_pair_count(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    for _ in range(2):
        for _ in range(4):
            campus.clock.advance(seconds=1)
            assert campus.sign_in("sam@campus.example", password="guess").status_code == 401
        campus.clock.advance(seconds=1)
        assert campus.sign_in("sam@campus.example").status_code == 200
    campus.clock.advance(seconds=1)
    for _ in range(5):
        assert campus.sign_in("sam@campus.example", password="guess").status_code == 401
    assert campus.sign_in("sam@campus.example").status_code == 429


def _guess_from_many_addresses(campus: Campus, email: str, count: int) -> None:
    """A patient guesser: each guess from a new address, waiting whenever told to."""
    for n in range(count):
        address = f"10.9.{n // 250}.{n % 250}"
        answer = campus.sign_in(email, password="guess", address=address)
        if answer.status_code == 429:
            campus.clock.advance(seconds=int(answer.headers["Retry-After"]))
            answer = campus.sign_in(email, password="guess", address=address)
        assert answer.status_code == 401, answer.text


def test_a_guesser_on_many_addresses_cannot_lock_the_owner_out(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    assert campus.sign_in("sam@campus.example", address="198.51.100.4").status_code == 200
    campus.clock.advance(minutes=1)
    _guess_from_many_addresses(campus, "sam@campus.example", 30)
    # From the address the owner signed in from before: at once.
    assert campus.sign_in("sam@campus.example", address="198.51.100.4").status_code == 200


def test_many_failures_slow_an_account_down_from_new_addresses_never_lock_it(
    campus: Campus,
) -> None:
    campus.add_user("sam@campus.example")
    _guess_from_many_addresses(campus, "sam@campus.example", 13)
    # 13 failures, 10 free: the next attempt waits 2^3 s after the latest failure.
    waiting = campus.sign_in("sam@campus.example", address="198.51.100.77")
    assert "it is being guessed at" in error_of(waiting, 429, "rate_limited")
    assert waiting.headers["Retry-After"] == "8"
    campus.clock.advance(seconds=8)
    assert campus.sign_in("sam@campus.example", address="198.51.100.77").status_code == 200


def test_the_account_slowdown_is_capped_at_a_minute(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    _guess_from_many_addresses(campus, "sam@campus.example", 40)
    waiting = campus.sign_in("sam@campus.example", address="198.51.100.77")
    assert waiting.status_code == 429
    assert waiting.headers["Retry-After"] == "60"


def test_fifty_failures_from_one_address_over_many_accounts_make_it_wait(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    for n in range(50):
        failed = campus.sign_in(f"guess{n}@campus.example", address="192.0.2.7")
        assert failed.status_code == 401
    waiting = campus.sign_in("sam@campus.example", address="192.0.2.7")
    assert error_of(waiting, 429, "rate_limited").startswith(
        "too many failed sign-ins for this address"
    )
    assert campus.sign_in("sam@campus.example", address="192.0.2.8").status_code == 200


# --- input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "sam@campus.example", "password": ""}, "password"),
        (
            {"email": "sam@campus.example", "password": PASSWORD, "second_factor": "12"},
            "second_factor",
        ),
        ({"email": "sam@campus.example", "password": PASSWORD, "remember": True}, "remember"),
    ],
)
def test_bad_sign_in_input_is_422_naming_the_field(
    campus: Campus, body: dict[str, object], field: str
) -> None:
    response = campus.http.post("/api/v1/auth/sign-in", json=body)
    assert error_of(response, 422, "invalid_input") == f"invalid input: {field}"


def test_a_garbage_bearer_token_is_401_not_500(campus: Campus) -> None:
    response = campus.http.post("/api/v1/auth/totp/enrol", headers=bearer("garbage"))
    assert error_of(response, 401, "not_authenticated").startswith("access token is not valid")
