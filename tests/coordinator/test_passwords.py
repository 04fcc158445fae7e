"""Passwords: the policy (length, common and guessable), argon2id hashes, rehashing."""

import argon2
import pytest
from argon2.profiles import CHEAPEST

from coordinator.core.passwords import Passwords, WeakPasswordError, check_policy

CHEAP = Passwords(argon2.PasswordHasher.from_parameters(CHEAPEST))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "use at least 12 characters (this one has 5)"),
        ("x" * 11, "use at least 12 characters (this one has 11)"),
        ("x" * 257, "use at most 256 characters"),
        ("correct horse\x00battery", "must not contain the NUL character"),
        ("passwordpassword", "Repeats like"),
        ("qwertyuiop123", "very common password"),
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "Repeats like",
        ),
    ],
)
def test_policy_refuses_with_a_message_naming_the_rule(password: str, message: str) -> None:
    with pytest.raises(WeakPasswordError, match=r"^password: ") as refused:
        check_policy(password)
    assert message in str(refused.value)


def test_policy_accepts_a_few_unrelated_words() -> None:
    check_policy("violet kettle orbit")


def test_policy_accepts_a_long_random_password_beyond_what_zxcvbn_reads() -> None:
    check_policy("gT7#kq2!Lm9z" * 20)


def test_policy_refuses_a_password_built_from_the_persons_name() -> None:
    check_policy("florentina vasquez-lindqvist")
    with pytest.raises(WeakPasswordError, match="password: "):
        check_policy(
            "florentina vasquez-lindqvist",
            about_the_person=["Florentina Vasquez-Lindqvist", "florentina@uni.example"],
        )


def test_a_hash_verifies_only_its_own_password() -> None:
    stored = CHEAP.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert CHEAP.verify(stored, "correct horse battery").is_valid
    assert not CHEAP.verify(stored, "correct horse battery!").is_valid


def test_a_hash_made_with_older_parameters_is_replaced_on_verify() -> None:
    older = Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=16, parallelism=1))
    stored = older.hash("correct horse battery")
    verdict = CHEAP.verify(stored, "correct horse battery")
    assert verdict.is_valid and verdict.new_hash is not None
    assert "m=8,t=1,p=1" in verdict.new_hash
    again = CHEAP.verify(verdict.new_hash, "correct horse battery")
    assert again.is_valid and again.new_hash is None


def test_a_current_hash_is_not_rehashed() -> None:
    verdict = CHEAP.verify(CHEAP.hash("correct horse battery"), "correct horse battery")
    assert verdict.is_valid and verdict.new_hash is None


@pytest.mark.parametrize("stored", [None, "", "not-an-argon2-hash"])
def test_a_missing_or_broken_hash_never_verifies(stored: str | None) -> None:
    assert not CHEAP.verify(stored, "correct horse battery").is_valid
