"""Passwords: the length policy, argon2id hashes, and rehashing when the parameters change."""

from dataclasses import dataclass, field
from functools import cached_property

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from coordinator.errors import CoordinatorError

MIN_LENGTH = 12
# argon2 hashes whatever it is given; the cap only stops a megabyte "password" costing CPU.
MAX_LENGTH = 256


class WeakPasswordError(CoordinatorError, ValueError):
    """The password does not meet the policy; the message says what is missing."""

    status_code = 422
    code = "weak_password"


def check_policy(password: str) -> None:
    """Refuse a password shorter than 12 or longer than 256 characters."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"password: use at least {MIN_LENGTH} characters (this one has {len(password)});"
            " a few unrelated words make a long password easy to remember"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password: use at most {MAX_LENGTH} characters")


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
