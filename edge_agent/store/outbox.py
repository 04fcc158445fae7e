"""The outbox: every message is written here before it is sent, and removed only when acked."""

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_agent.errors import OutboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    body BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    message_id: str
    topic: str
    body: bytes


class Outbox:
    """A SQLite (WAL) queue of encoded messages that survives power loss.

    `put` commits before returning (synchronous=FULL), so a message the station acted on is on
    disk before anything is sent. Items leave only through `remove`, after the broker's PUBACK.
    Safe to use from several threads: one connection behind a lock.
    """

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise OutboxError(f"cannot open the outbox at {path}: {error}") from error
        self.path = path
        self._lock = threading.Lock()

    def put(self, message_id: str, topic: str, body: bytes) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (message_id, topic, body) VALUES (?, ?, ?)",
                (message_id, topic, body),
            )
        return int(cursor.lastrowid or 0)

    def pending(self, *, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Oldest first, so events reach the coordinator in the order they happened."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, message_id, topic, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def remove(self, item_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def last_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        return int(row[0])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
