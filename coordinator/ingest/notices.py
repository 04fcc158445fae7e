"""What an ingest worker tells the devices: receipts for what it committed, and its own state.

Receipts are built per committed batch: one per device (split only past MAX_RECEIPT_IDS ids),
naming every message of that device the batch holds for good, new or duplicate, stored or
dead-lettered. Message ids rather than per-boot sequence ranges: the outbox is keyed by message
id; a batch is a scattered subset of a device's messages (shared subscriptions split them
between workers, resends and replays of earlier boots mix in), so ranges would fragment; and an
id names exactly one row, so a receipt can never cover a message that was not stored.
"""

import time
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from coordinator.services.events import Kept
from protocols import (
    CoordinatorState,
    CoordinatorStatus,
    Envelope,
    Receipt,
    coordinator_state_topic,
    encode,
    receipt_topic,
)
from protocols.ids import new_message_id
from protocols.messages import MAX_RECEIPT_IDS

Notice = tuple[str, bytes]  # (topic, body)


def receipts(kept: Iterable[Kept], *, boot_id: UUID, now: datetime) -> list[Notice]:
    """One receipt per device for what a batch kept, in the order the devices first appear."""
    by_device: dict[tuple[str, str], dict[UUID, None]] = {}
    for item in kept:
        by_device.setdefault((item.site, item.device_id), {})[item.message_id] = None
    notices = []
    for (site, device_id), ids in by_device.items():
        ordered = list(ids)
        for start in range(0, len(ordered), MAX_RECEIPT_IDS):
            chunk = ordered[start : start + MAX_RECEIPT_IDS]
            envelope = _unsequenced(device_id, boot_id, now, Receipt(message_ids=chunk))
            notices.append((receipt_topic(site, device_id), encode(envelope)))
    return notices


def worker_state(
    worker_id: str, status: CoordinatorStatus, *, boot_id: UUID, now: datetime
) -> Notice:
    """A worker's retained state message (online on connect; offline as its last will)."""
    envelope = _unsequenced(worker_id, boot_id, now, CoordinatorState(status=status))
    return coordinator_state_topic(worker_id), encode(envelope)


def _unsequenced(
    device_id: str, boot_id: UUID, now: datetime, payload: Receipt | CoordinatorState
) -> Envelope:
    return Envelope(
        message_id=new_message_id(),
        device_id=device_id,
        boot_id=boot_id,
        seq=0,
        device_time=now,
        monotonic_ns=time.monotonic_ns(),
        payload=payload,
    )
