"""Dead letters: messages that could not be read or stored, kept with the reason.

Every text that goes into the table is made storable first (no NUL, valid UTF-8, bounded), and
the body is cut to a bounded prefix: a dead letter must never itself fail to be written, and a
10 MB message must not become a 10 MB row.
"""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from coordinator.db.models import DeadLetter

BODY_PREFIX_BYTES = 4096
TOPIC_CHARS = 1024
REASON_CHARS = 2000


def storable_text(text: str, limit: int) -> str:
    """`text` as a database can hold it: NUL and unencodable characters escaped, then cut."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def record(session: Session, *, topic: str, body: bytes, reason: str) -> None:
    """Keep one unreadable message: its topic, the first bytes of its body, its size, why."""
    session.add(
        DeadLetter(
            topic=storable_text(topic, TOPIC_CHARS),
            body=body[:BODY_PREFIX_BYTES],
            size=len(body),
            reason=storable_text(reason, REASON_CHARS),
        )
    )


def purge(session: Session, *, received_before: datetime) -> int:
    """Delete dead letters received before the given time (retention); returns how many."""
    result = session.execute(delete(DeadLetter).where(DeadLetter.received_at < received_before))
    return int(result.rowcount)  # type: ignore[attr-defined]
