"""Stamping payloads with envelopes for one run of a sending process."""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from protocols.ids import new_boot_id, new_message_id
from protocols.messages import (
    AckPayload,
    CommandPayload,
    CoordinatorPayload,
    Envelope,
    EventPayload,
    ReceiptPayload,
    StatePayload,
)

UnsequencedPayload = StatePayload | ReceiptPayload | CoordinatorPayload


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sender:
    """Wraps payloads in envelopes: one boot id per run and a gap-free sequence for events.

    Events, commands and acks are sequenced from 1; births and deaths carry seq 0 because the
    last will is built once at connect time and may be sent by the broker at any later point.
    Clocks are injectable so tests need no sleeps. `is_clock_synced`, when given, is asked at
    each stamp; a False answer flags the envelope `clock_unsynced`.
    """

    def __init__(
        self,
        device_id: str,
        *,
        boot_id: UUID | None = None,
        wall_clock: Callable[[], datetime] = utc_now,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        is_clock_synced: Callable[[], bool] | None = None,
    ) -> None:
        self.device_id = device_id
        self.boot_id = boot_id or new_boot_id()
        self._wall_clock = wall_clock
        self._monotonic_ns = monotonic_ns
        self._is_clock_synced = is_clock_synced
        self._seq = 0
        self._lock = threading.Lock()

    def sequenced(self, payload: EventPayload | CommandPayload | AckPayload) -> Envelope:
        with self._lock:
            self._seq += 1
            return self._wrap(payload, self._seq)

    def state(self, payload: UnsequencedPayload) -> Envelope:
        """An unsequenced message (seq 0): a birth or death, a receipt, a coordinator state."""
        return self._wrap(payload, 0)

    def _wrap(
        self, payload: UnsequencedPayload | EventPayload | CommandPayload | AckPayload, seq: int
    ) -> Envelope:
        return Envelope(
            message_id=new_message_id(),
            device_id=self.device_id,
            boot_id=self.boot_id,
            seq=seq,
            device_time=self._wall_clock(),
            monotonic_ns=self._monotonic_ns(),
            clock_unsynced=self._is_clock_synced is not None and not self._is_clock_synced(),
            payload=payload,
        )
