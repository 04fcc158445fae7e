"""Storing device messages exactly once; the caller owns the transaction.

One batch: read every message (unreadable ones become dead letters with a reason), insert the
readable ones skipping (device, message id) pairs already stored, and, for the new ones only,
advance the sequence-gap tracking and the devices' presence, all in the caller's transaction.
A duplicate delivery therefore changes nothing.
"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from coordinator.db.bulk import as_json, insert_or_skip, is_postgresql
from coordinator.db.models import Event
from coordinator.services import dead_letters, downlink, presence, sequences
from protocols import Channel, Envelope, ProtocolError, Topic, decode_on_topic, parse_topic


@dataclass(frozen=True)
class RawMessage:
    """A message as the broker delivered it."""

    topic: str
    body: bytes


@dataclass(frozen=True)
class Kept:
    """A device message the coordinator now holds for good, as an event (new or a duplicate)
    or a dead letter: what a receipt to the device names. Births and deaths are not kept
    for receipts: they never wait in an outbox."""

    site: str
    device_id: str
    message_id: UUID


@dataclass(frozen=True)
class IngestReport:
    """What a batch did; `stored_by_kind` and `dead_by_reason` feed the metrics."""

    stored: int
    duplicates: int
    dead_letters: int
    stored_by_kind: Counter[str] = field(default_factory=Counter)
    dead_by_reason: Counter[str] = field(default_factory=Counter)
    new_events: list[tuple[int, Envelope]] = field(default_factory=list)  # (row id, envelope)
    kept: list[Kept] = field(default_factory=list)


@dataclass(frozen=True)
class Readable:
    """A message whose topic and envelope were read and checked: ready to store."""

    topic: Topic
    envelope: Envelope


@dataclass(frozen=True)
class Unreadable:
    """A message that cannot be stored as an event: it becomes a dead letter saying why.
    `category` is a short label for metrics."""

    message: RawMessage
    category: str
    reason: str


def read(message: RawMessage, *, site: str | None, max_bytes: int) -> Readable | Unreadable:
    """Parse one delivery; anything the protocol refuses comes back as `Unreadable`, never raised.

    Needs no database, so the ingest worker reads each message as it arrives, while its
    storing thread waits on the database."""
    try:
        topic = parse_topic(message.topic, site=site)
    except ProtocolError as error:
        return Unreadable(message, "bad_topic", str(error))
    if len(message.body) > max_bytes:
        reason = f"message is {len(message.body)} bytes, over the limit of {max_bytes}"
        return Unreadable(message, "too_large", reason)
    try:
        return Readable(topic, decode_on_topic(topic, message.body, max_bytes=max_bytes))
    except ProtocolError as error:
        return Unreadable(message, "invalid", str(error))


def ingest(
    session: Session,
    messages: Sequence[RawMessage | Readable | Unreadable],
    *,
    site: str | None,
    max_bytes: int,
    now: datetime | None = None,
) -> IngestReport:
    """Store each readable message once; keep unreadable ones as dead letters with the reason.

    `messages` as delivered, or already `read` (with the same `site` and `max_bytes`)."""
    received_at = now or datetime.now(UTC)
    readable: list[Readable] = []
    dead_by_reason: Counter[str] = Counter()
    kept: list[Kept] = []
    for message in messages:
        item = (
            read(message, site=site, max_bytes=max_bytes)
            if isinstance(message, RawMessage)
            else message
        )
        if isinstance(item, Unreadable):
            raw = item.message
            dead_letters.record(session, topic=raw.topic, body=raw.body, reason=item.reason)
            dead_by_reason[item.category] += 1
            unreadable = kept_unreadable(raw, max_bytes=max_bytes)
            if unreadable is not None:
                kept.append(unreadable)
            continue
        readable.append(item)
        if item.topic.channel is not Channel.STATE:
            kept.append(Kept(item.topic.site, item.topic.device_id, item.envelope.message_id))
    new = _insert_new(session, readable, received_at)
    _follow(session, new, received_at)
    downlink.apply_replies(session, [item.envelope for item in new.values()], received_at)
    return IngestReport(
        stored=len(new),
        duplicates=len(readable) - len(new),
        dead_letters=sum(dead_by_reason.values()),
        stored_by_kind=Counter(item.envelope.payload.type for item in new.values()),
        dead_by_reason=dead_by_reason,
        new_events=[(event_id, item.envelope) for event_id, item in new.items()],
        kept=kept,
    )


def kept_unreadable(message: RawMessage, *, max_bytes: int) -> Kept | None:
    """What a receipt can name for a message kept as a dead letter: its device (from the topic,
    which the broker binds to the sender's account) and the message id, if the body has one.
    Without a receipt the device would send the same refused bytes again forever."""
    try:
        topic = parse_topic(message.topic)
    except ProtocolError:
        return None
    if topic.channel not in (Channel.EVENT, Channel.ACK) or len(message.body) > max_bytes:
        return None
    try:
        document = json.loads(message.body)
        return Kept(topic.site, topic.device_id, UUID(str(document["message_id"])))
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


def _follow(session: Session, new: dict[int, Readable], received_at: datetime) -> None:
    """Sequence gaps and presence, from the messages stored for the first time."""
    late = sequences.track(
        session,
        (
            sequences.Sequenced(event_id, i.envelope.device_id, i.envelope.boot_id, i.envelope.seq)
            for event_id, i in new.items()
        ),
        now=received_at,
    )
    if late:
        session.execute(update(Event).where(Event.id.in_(sorted(late))).values(late=True))
    presence.apply(
        session,
        (
            presence.Signal(item.envelope, received_at)
            for item in new.values()
            if presence.is_presence(item.envelope)
        ),
    )


def _event_row(item: Readable) -> dict[str, object]:
    """An event's columns from its message (the payload as its wire model), for either insert."""
    envelope = item.envelope
    return {
        "message_id": envelope.message_id,
        "device_id": envelope.device_id,
        "site": item.topic.site,
        "kind": envelope.payload.type,
        "boot_id": envelope.boot_id,
        "seq": envelope.seq,
        "device_time": envelope.device_time,
        "replayed": envelope.replayed,
        "payload": envelope.payload,
    }


def _insert_new(
    session: Session, readable: list[Readable], received_at: datetime
) -> dict[int, Readable]:
    """Insert, skipping (device_id, message_id) pairs already stored; the new ones by row id."""
    if not readable:
        return {}
    by_key = {(i.envelope.device_id, i.envelope.message_id): i for i in readable}
    if is_postgresql(session):
        rows = as_json([_event_row(item) for item in by_key.values()])
        result = session.execute(
            _JSON_INSERT, {"received_at": received_at.astimezone(UTC), "rows": rows}
        )
    else:
        # One cached statement run over the batch's rows (SQLAlchemy's "insertmanyvalues").
        statement = insert_or_skip(session, Event, ["device_id", "message_id"]).returning(
            Event.id, Event.device_id, Event.message_id
        )
        values = [
            _event_row(item)
            | {
                "received_at": received_at,
                "late": item.envelope.replayed,
                "payload": item.envelope.payload.model_dump(mode="json"),
            }
            for item in by_key.values()
        ]
        result = session.execute(
            statement, values, execution_options={"synchronize_session": False}
        )
    return {row.id: by_key[(row.device_id, row.message_id)] for row in result}


# On PostgreSQL the batch travels as one JSON document through one short statement: the driver
# parses and caches the statement once, and pydantic writes the document in one call. A
# multi-row VALUES statement (kilobytes of text per batch) was parsed anew for every batch, and
# one array per column was dumped by the driver element by element; each cost a third of the
# ingest's CPU in its time.
_JSON_INSERT = text(
    """
    INSERT INTO events (message_id, device_id, site, kind, boot_id, seq, device_time,
                        received_at, replayed, late, payload)
    SELECT message_id, device_id, site, kind, boot_id, seq, device_time,
           CAST(:received_at AS timestamptz), replayed, replayed, payload
    FROM json_to_recordset(CAST(:rows AS json))
         AS batch(message_id uuid, device_id text, site text, kind text, boot_id uuid,
                  seq integer, device_time timestamptz, replayed boolean, payload json)
    ON CONFLICT (device_id, message_id) DO NOTHING
    RETURNING id, device_id, message_id
    """
)
