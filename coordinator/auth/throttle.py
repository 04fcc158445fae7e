"""Slowing down password guessing without letting a guesser lock the owner out.

Three counts over the sign-in attempts of the last `window`:

- one account from one address: a few failures, then that pair waits (the guesser, usually);
- one address over all accounts: many failures, then that address waits (password spraying);
- one account from everywhere: past a threshold each further attempt waits longer, up to a
  minute, so a botnet gets a trickle of guesses; it is never a lockout.

An address the account signed in from successfully before ("known") skips the last two, so the
owner at their usual desk signs in whatever strangers are doing to their account.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from coordinator.auth.clients import Client
from coordinator.db.models import SignInAttempt
from coordinator.errors import RateLimitedError


@dataclass(frozen=True)
class ThrottleRules:
    """Failures allowed within `window`; see the module docstring."""

    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5
    per_address: int = 50
    account_free: int = 10
    account_max_delay: timedelta = timedelta(minutes=1)
    known_for: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: who it claims to be, from where, when."""

    email: str
    client: Client
    at: datetime

    @property
    def address(self) -> str:
        return self.client.address[:64]


@dataclass(frozen=True)
class Throttle:
    rules: ThrottleRules = ThrottleRules()

    def check(self, session: Session, attempt: Attempt) -> None:
        """Raise `RateLimitedError` with the wait if this attempt must not be tried yet."""
        self._check_pair(session, attempt)
        if self._is_known_address(session, attempt):
            return
        self._check_address(session, attempt)
        self._check_account(session, attempt)

    def record(self, session: Session, attempt: Attempt, *, succeeded: bool) -> None:
        session.add(
            SignInAttempt(
                email=attempt.email[:254],
                address=attempt.address,
                at=attempt.at,
                succeeded=succeeded,
            )
        )
        session.flush()

    def _check_pair(self, session: Session, attempt: Attempt) -> None:
        pair = (SignInAttempt.email == attempt.email) & (SignInAttempt.address == attempt.address)
        since = _since_last_success(session, pair, attempt.at - self.rules.window)
        failures = _failures(session, pair, since)
        wait = _wait_needed(failures, self.rules.per_pair, self.rules.window, attempt.at)
        if wait is not None:
            _refuse("this account from this address", wait)

    def _check_address(self, session: Session, attempt: Attempt) -> None:
        failures = _failures(
            session, SignInAttempt.address == attempt.address, attempt.at - self.rules.window
        )
        wait = _wait_needed(failures, self.rules.per_address, self.rules.window, attempt.at)
        if wait is not None:
            _refuse("this address", wait)

    def _check_account(self, session: Session, attempt: Attempt) -> None:
        account = SignInAttempt.email == attempt.email
        since = _since_last_success(session, account, attempt.at - self.rules.window)
        failures = _failures(session, account, since)
        beyond = len(failures) - self.rules.account_free
        if beyond < 0:
            return
        # Doubling from one second: 1 s, 2 s, 4 s … capped, measured from the latest failure.
        delay = min(timedelta(seconds=2 ** min(beyond, 16)), self.rules.account_max_delay)
        wait = failures[-1] + delay - attempt.at
        if wait > timedelta(0):
            _refuse("this account (it is being guessed at)", wait)

    def _is_known_address(self, session: Session, attempt: Attempt) -> bool:
        known = exists().where(
            SignInAttempt.email == attempt.email,
            SignInAttempt.address == attempt.address,
            SignInAttempt.succeeded.is_(True),
            SignInAttempt.at > attempt.at - self.rules.known_for,
        )
        return bool(session.scalar(select(known)))


def _since_last_success(
    session: Session, matches: ColumnElement[bool], window_start: datetime
) -> datetime:
    last_success = session.scalar(
        select(func.max(SignInAttempt.at)).where(matches, SignInAttempt.succeeded.is_(True))
    )
    return max(window_start, last_success) if last_success else window_start


def _failures(session: Session, matches: ColumnElement[bool], since: datetime) -> list[datetime]:
    return list(
        session.scalars(
            select(SignInAttempt.at)
            .where(matches, SignInAttempt.succeeded.is_(False), SignInAttempt.at > since)
            .order_by(SignInAttempt.at)
        )
    )


def _wait_needed(
    failures: Sequence[datetime], limit: int, window: timedelta, now: datetime
) -> timedelta | None:
    """How long until fewer than `limit` failures remain in the window; None if already so."""
    if len(failures) < limit:
        return None
    return failures[len(failures) - limit] + window - now


def _refuse(what: str, wait: timedelta) -> None:
    seconds = max(1, math.ceil(wait.total_seconds()))
    when = f"{seconds} second(s)" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
    raise RateLimitedError(
        f"too many failed sign-ins for {what}: try again in {when}", retry_after_s=seconds
    )
