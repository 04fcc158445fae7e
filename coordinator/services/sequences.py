"""Sequence gaps per (device, boot), in the manner of Sparkplug B's sequence numbers.

Each boot of a device numbers its sequenced messages from 1. The highest number seen per boot is
kept; a jump past it opens a gap with its range, a late message inside a gap narrows, splits or
closes it. A new boot id is a new sequence. Rows are locked per (device, boot) in a fixed order,
so several ingest workers can share a device's messages without racing or deadlocking.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from coordinator.db.bulk import lock_rows, update_by_key
from coordinator.db.models import DeviceSequence, SequenceGap

Key = tuple[str, uuid.UUID]


@dataclass(frozen=True)
class Sequenced:
    """A newly stored message's place in its sender's sequence."""

    event_id: int
    device_id: str
    boot_id: uuid.UUID
    seq: int


def track(session: Session, messages: Iterable[Sequenced], *, now: datetime) -> set[int]:
    """Advance the sequences; returns the event ids that arrived late into a gap."""
    by_key: dict[Key, dict[int, int]] = defaultdict(dict)
    for message in messages:
        if message.seq > 0:
            by_key[(message.device_id, message.boot_id)][message.seq] = message.event_id
    if not by_key:
        return set()
    highs = _lock_highs(session, sorted(by_key))
    late: dict[Key, dict[int, int]] = {}
    new_highs = []
    for key, seqs in by_key.items():
        high = highs[key]
        late[key] = {seq: seqs[seq] for seq in seqs if seq <= high}
        for seq in sorted(seq for seq in seqs if seq > high):
            if seq > high + 1:
                session.add(_gap(key, high + 1, seq - 1, now))
            high = seq
        if high != highs[key]:
            new_highs.append({"device_id": key[0], "boot_id": key[1], "high_seq": high})
    if new_highs:
        update_by_key(session, DeviceSequence, ("device_id", "boot_id"), new_highs)
    return _fill(session, {key: seqs for key, seqs in late.items() if seqs}, now)


def _gap(key: Key, first: int, last: int, opened_at: datetime) -> SequenceGap:
    return SequenceGap(
        device_id=key[0], boot_id=key[1], first_seq=first, last_seq=last, opened_at=opened_at
    )


def _lock_highs(session: Session, keys: list[Key]) -> dict[Key, int]:
    """The high sequence number of each key, locked for this commit; a new key (a device's new
    boot) gets its row first, at 0."""
    rows = lock_rows(
        session,
        DeviceSequence,
        ("device_id", "boot_id"),
        keys,
        lambda key: {"device_id": key[0], "boot_id": key[1], "high_seq": 0},
    )
    return {(device_id, boot_id): row["high_seq"] for (device_id, boot_id), row in rows.items()}


def _fill(session: Session, late: dict[Key, dict[int, int]], now: datetime) -> set[int]:
    """Take late sequence numbers out of the open gaps they fall into."""
    if not late:
        return set()
    gaps: dict[Key, list[SequenceGap]] = defaultdict(list)
    for open_gap in session.scalars(
        select(SequenceGap)
        .where(tuple_(SequenceGap.device_id, SequenceGap.boot_id).in_(list(late)))
        .where(SequenceGap.closed_at.is_(None))
        .order_by(SequenceGap.id)
        .with_for_update()
    ):
        gaps[(open_gap.device_id, open_gap.boot_id)].append(open_gap)
    filled = set()
    for key, seqs in late.items():
        for seq, event_id in sorted(seqs.items()):
            gap = next((g for g in gaps[key] if _holds(g, seq)), None)
            if gap is not None:
                filled.add(event_id)
                rest = _take(gap, seq, now)
                if rest is not None:
                    session.add(rest)
                    gaps[key].append(rest)
    return filled


def _holds(gap: SequenceGap, seq: int) -> bool:
    return gap.closed_at is None and gap.first_seq <= seq <= gap.last_seq


def _take(gap: SequenceGap, seq: int, now: datetime) -> SequenceGap | None:
    """Remove `seq` from an open gap; returns the upper part when the gap splits in two."""
    if gap.first_seq == gap.last_seq:
        gap.closed_at = now
    elif seq == gap.first_seq:
        gap.first_seq += 1
    elif seq == gap.last_seq:
        gap.last_seq -= 1
    else:
        upper = _gap((gap.device_id, gap.boot_id), seq + 1, gap.last_seq, gap.opened_at)
        gap.last_seq = seq - 1
        return upper
    return None
