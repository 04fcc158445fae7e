"""Who is asking and when: the request's client and the clock every sign-in rule reads."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from coordinator.db.models import User
from coordinator.services.audit import Actor

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Client:
    """Where a request came from, for rate limits and the audit log.

    `address` is the peer's address, or the forwarded one only when the peer is a configured
    proxy (see `COORDINATOR_TRUSTED_PROXIES`).
    """

    address: str
    user_agent: str | None = None

    def acting_as(self, user: User | None) -> Actor:
        if user is None:
            return Actor(None, "system", self.address, self.user_agent)
        return Actor(user.id, user.email, self.address, self.user_agent)
