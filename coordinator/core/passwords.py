"""Passwords: the policy (length, common and guessable passwords), argon2id hashes, rehashing."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from coordinator.errors import CoordinatorError

MIN_LENGTH = 12
# argon2 hashes whatever it is given; the cap only stops a megabyte "password" costing CPU.
MAX_LENGTH = 256
# zxcvbn's score 3 is "safely unguessable: moderate protection from an offline slow-hash attack",
# which is what an argon2id hash is. Its own lists hold 30,000 common passwords.
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching grows fast); the first 72 characters decide.
_JUDGED_LENGTH = 72


class WeakPasswordError(CoordinatorError, ValueError):
    """The password does not meet the policy; the message says what is missing."""

    status_code = 422
    code = "weak_password"


def check_policy(password: str, *, about_the_person: Iterable[str] = ()) -> None:
    """Refuse a password shorter than 12 or longer than 256 characters, a NUL, or one that
    zxcvbn finds guessable: common passwords, keyboard runs, repeats, or the person's own
    name and email (`about_the_person`)."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"password: use at least {MIN_LENGTH} characters (this one has {len(password)});"
            " a few unrelated words make a long password easy to remember"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password: use at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise WeakPasswordError("password: must not contain the NUL character")
    judged = zxcvbn(password[:_JUDGED_LENGTH], user_inputs=[*_words(about_the_person)])
    if judged["score"] < MIN_SCORE:
        hint = judged["feedback"]["warning"] or "it is too easy to guess"
        raise WeakPasswordError(
            f"password: {hint.rstrip('.')}; a few unrelated words make a long password that is"
            " easy to remember and hard to guess"
        )


def _words(texts: Iterable[str]) -> list[str]:
    """The person's name and email split into words, the way people build passwords from them."""
    words: list[str] = []
    for text in texts:
        words.extend(part for part in text.replace("@", " ").replace(".", " ").split() if part)
        words.append(text)
    return words


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a password; `new_hash` is set when the stored hash is outdated."""

    is_valid: bool
    new_hash: str | None = None


@dataclass(frozen=True)
class Passwords:
    """Hashes and checks passwords with argon2id.

    Production uses argon2-cffi's defaults (RFC 9106 low-memory profile). Tests inject a cheap
    `argon2.PasswordHasher` so they stay fast; the production defaults are never weakened.
    """

    hasher: argon2.PasswordHasher = field(default_factory=argon2.PasswordHasher)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> Verdict:
        """Check `password`; a missing hash is checked against a decoy so timing tells nothing."""
        try:
            self.hasher.verify(stored_hash or self._decoy_hash, password)
        except (VerificationError, InvalidHashError):
            return Verdict(is_valid=False)
        if stored_hash is None:
            return Verdict(is_valid=False)
        if self.hasher.check_needs_rehash(stored_hash):
            return Verdict(is_valid=True, new_hash=self.hasher.hash(password))
        return Verdict(is_valid=True)

    @cached_property
    def _decoy_hash(self) -> str:
        # Built on first use, not at import time; an unknown account costs as much as a known one.
        return self.hasher.hash("decoy password for unknown accounts")
