"""Anti-passback across a site's gates: each granted access a gate reports is forwarded, as a
`passage` command, to the other gates of the same site.

Why a command from the push loop, and not a field in the next bundle or a publish from the
ingest projection: a passage matters within seconds (the student walks to the next gate), and a
bundle is a whole signed build (a gate's can be 0.7 MiB with 20,000 revocations) that would be
rebuilt and re-sent to every gate for every passage. The ingest projection runs inside the
ingest transaction, which may still be rolled back (a batch split into single messages), and
holds no broker connection; the push loop already owns the coordinator's publisher and reads
only what is committed, as it does for bundles. So the builder's round (`BundleBuilder`) asks
`due` for the accesses stored since its last round and publishes one small QoS 1 message per
other gate, after the read.

Bounded: only accesses inside the anti-passback window are forwarded (and each carries its end
as `expires_at`, after which a gate ignores it), at most `MAX_PASSAGES_PER_ROUND` per round; each
access is forwarded once per coordinator process. Rows are read by id from a low-water mark
`lookback` behind the newest one seen, so an access whose transaction committed a little after
a higher id (two ingest workers) is still found. A passage that reaches a gate twice (a second
coordinator, a restart) changes nothing: the gate keeps the newest passage per holder.
"""

import logging
from collections import deque
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from coordinator.services import commands
from protocols import CommandName, Sender, command_topic, encode

log = logging.getLogger(__name__)

# The gates' default anti-passback window (edge_agent.stations.passback.DEFAULT_WINDOW): a
# passage older than this cannot refuse anyone.
PASSBACK_WINDOW = timedelta(hours=12)
LOOKBACK = timedelta(seconds=60)


class Senders(Protocol):
    """One envelope sender per device (coordinator.bundles.builder.Senders)."""

    def for_device(self, device_id: str) -> Sender: ...


class PassageForwarder:
    """`due(session, now)`: the passage messages to publish now (each access once)."""

    def __init__(
        self,
        senders: Senders,
        *,
        window: timedelta = PASSBACK_WINDOW,
        lookback: timedelta = LOOKBACK,
    ) -> None:
        self._senders = senders
        self.window = window
        self.lookback = lookback
        self._low: int | None = None  # every access at or below this id has been looked at
        self._marks: deque[tuple[datetime, int]] = deque()  # (round, newest id then)
        self._forwarded: set[int] = set()

    def due(self, session: Session, now: datetime) -> list[tuple[str, bytes]]:
        """(topic, body) of each passage to publish, not retained, QoS 1."""
        if self._low is None:
            first = commands.first_access_since(session, now - self.lookback)
            self._low = commands.last_access_id(session) if first is None else first
        while self._marks and self._marks[0][0] <= now - self.lookback:
            self._low = max(self._low, self._marks.popleft()[1])
        self._marks.append((now, commands.last_access_id(session)))
        notices = commands.passages_after(session, self._low, now=now, window=self.window)
        self._forwarded = {a for a in self._forwarded if a > self._low}
        fresh = {n.access_id for n in notices} - self._forwarded
        self._forwarded |= fresh
        outgoing = []
        for notice in notices:
            if notice.access_id not in fresh:
                continue
            envelope = self._senders.for_device(notice.device_id).sequenced(notice.passage)
            topic = command_topic(notice.site, notice.device_id, CommandName.PASSAGE)
            outgoing.append((topic, encode(envelope)))
        if outgoing:
            log.info("forwarding %d passage(s) to other gates", len(outgoing))
        return outgoing
