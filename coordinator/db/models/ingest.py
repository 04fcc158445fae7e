"""What devices sent, as the ingest stores it: events, dead letters, sequences, gaps, presence."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.db.models.base import Base, UtcDateTime, utc_now


class Event(Base):
    """One message a device sent (events, state and acks), stored exactly once.

    The unique (device_id, message_id) pair is what makes redelivery harmless.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("device_id", "message_id", name="uq_events_device_message"),
        Index("ix_events_device_boot_seq", "device_id", "boot_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[uuid.UUID]
    device_id: Mapped[str] = mapped_column(String(63), index=True)
    site: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    boot_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    device_time: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    replayed: Mapped[bool]
    late: Mapped[bool] = mapped_column(default=False)  # replayed, or filled a sequence gap
    # Why the event could not become a domain record (unknown person, unregistered device, ...).
    refusal: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class DeadLetter(Base):
    """A message that could not be read, kept with the reason so nothing is silently dropped.

    `body` is at most a bounded prefix of what arrived; `size` is how long the whole body was.
    """

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)


class DeviceSequence(Base):
    """The highest sequence number seen per (device, boot): where the next gap would start."""

    __tablename__ = "device_sequences"

    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    boot_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    high_seq: Mapped[int] = mapped_column(Integer)


class SequenceGap(Base):
    """Sequence numbers of one boot not (yet) received: first_seq..last_seq, both included.

    Narrowed or split as late messages fill it; closed (closed_at set) when nothing is missing.
    """

    __tablename__ = "sequence_gaps"
    __table_args__ = (
        Index("ix_sequence_gaps_device_boot", "device_id", "boot_id"),
        CheckConstraint("first_seq <= last_seq", name="ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63))
    boot_id: Mapped[uuid.UUID]
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class DevicePresence(Base):
    """Whether a device is online, from its retained birth and death and its heartbeats.

    Keyed by the wire's device id, registered or not, so a technician sees a new device arrive.
    """

    __tablename__ = "device_presence"

    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    is_online: Mapped[bool]
    boot_id: Mapped[uuid.UUID | None]
    born_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    agent_version: Mapped[str | None] = mapped_column(String(40))
    bundle_version: Mapped[int | None] = mapped_column(Integer)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSON)
