"""The audit log: every change a person makes, chained by hashes so edits and deletions show.

Each row's hash covers its own content and the previous row's hash. Rows are only inserted (no
API updates or deletes them); `verify_chain` recomputes the chain and reports the first break.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from coordinator.db.bulk import is_postgresql
from coordinator.db.models import AuditEntry
from coordinator.services import downlink

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who is making a change, and from where."""

    user_id: int | None
    label: str
    address: str | None = None
    user_agent: str | None = None


SYSTEM = Actor(user_id=None, label="system")


def record_change(
    session: Session,
    actor: Actor,
    *,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    """Append one entry in the caller's transaction; it commits or rolls back with the change."""
    _serialise_writers(session)
    previous = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor_id=actor.user_id,
        actor=actor.label,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=_jsonable(before),
        after=_jsonable(after),
        address=actor.address,
        user_agent=(actor.user_agent or "")[:300] or None,
        previous_hash=previous or GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    # Whatever a device's bundle carries and was just changed makes that bundle stale, here,
    # in the same transaction, whichever entry point made the change.
    downlink.mark_changed(session, entity, entity_id, before, after)
    return entry


def entry_hash(entry: AuditEntry) -> str:
    content = {
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "before": entry.before,
        "after": entry.after,
        "address": entry.address,
        "user_agent": entry.user_agent,
        "previous_hash": entry.previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    """`head` is the newest hash: note it elsewhere to detect removal of the newest entries."""

    checked: int
    head: str
    broken: ChainBreak | None


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain from the first entry; stop at the first entry that does not fit."""
    previous, checked = GENESIS, 0
    for entry in _entries(session):
        checked += 1
        if entry.previous_hash != previous:
            problem = "the entry before it was changed or deleted"
            return ChainReport(checked, previous, ChainBreak(entry.id, problem))
        if entry_hash(entry) != entry.hash:
            problem = "its content was changed after it was written"
            return ChainReport(checked, previous, ChainBreak(entry.id, problem))
        previous = entry.hash
    return ChainReport(checked, previous, None)


def _entries(session: Session) -> Iterator[AuditEntry]:
    yield from session.scalars(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=500)
    )


def _serialise_writers(session: Session) -> None:
    # Two transactions reading the same last hash would fork the chain; on PostgreSQL a
    # transaction-scoped advisory lock lines writers up (SQLite allows one writer anyway).
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(727274)"))


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return plain
