"""Storing device messages exactly once; the caller owns the transaction."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coordinator.db.models import DeadLetter, Event
from coordinator.services import downlink
from protocols import Envelope, ProtocolError, Topic, decode_on_topic, parse_topic


@dataclass(frozen=True)
class RawMessage:
    """A message as the broker delivered it."""

    topic: str
    body: bytes


@dataclass(frozen=True)
class IngestReport:
    stored: int
    duplicates: int
    dead_letters: int


def ingest(
    session: Session, messages: Sequence[RawMessage], *, site: str | None, max_bytes: int
) -> IngestReport:
    """Store each readable message once; keep unreadable ones as dead letters with the reason."""
    rows: list[dict[str, object]] = []
    envelopes: list[Envelope] = []
    dead = 0
    for message in messages:
        try:
            topic = parse_topic(message.topic, site=site)
            envelope = decode_on_topic(topic, message.body, max_bytes=max_bytes)
        except ProtocolError as error:
            session.add(DeadLetter(topic=message.topic, body=message.body, reason=str(error)))
            dead += 1
            continue
        rows.append(_event_row(topic, envelope))
        envelopes.append(envelope)
    stored = _insert_new(session, rows)
    downlink.apply_replies(session, envelopes, datetime.now(UTC))
    return IngestReport(stored=stored, duplicates=len(rows) - stored, dead_letters=dead)


def _event_row(topic: Topic, envelope: Envelope) -> dict[str, object]:
    return {
        "message_id": envelope.message_id,
        "device_id": envelope.device_id,
        "site": topic.site,
        "kind": envelope.payload.type,
        "boot_id": envelope.boot_id,
        "seq": envelope.seq,
        "device_time": envelope.device_time,
        "replayed": envelope.replayed,
        "payload": envelope.payload.model_dump(mode="json"),
    }


def _insert_new(session: Session, rows: list[dict[str, object]]) -> int:
    """Insert, skipping (device_id, message_id) pairs already stored; returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Event)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["device_id", "message_id"])
        .returning(Event.id)
    )
    return len(session.execute(statement).all())
