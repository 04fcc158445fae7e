"""The outbox: every message is written here before it is sent, and removed only when the
coordinator's receipt says it is stored (a broker's PUBACK is not enough)."""

import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from edge_agent.errors import OutboxError

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        body BLOB NOT NULL,
        droppable INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox (id) WHERE droppable = 1",
)
DEFAULT_MAX_ITEMS = 200_000
_SQL_CHUNK = 500  # host parameters per statement, well under SQLite's limit


@dataclass(frozen=True)
class OutboxItem:
    id: int
    message_id: str
    topic: str
    body: bytes


class Outbox:
    """A SQLite (WAL) queue of encoded messages that survives power loss.

    `put` commits before returning (synchronous=FULL), so a message the station acted on is on
    disk before anything is sent. Items leave only through `remove_messages`, when the
    coordinator's receipt names them. Safe to use from several threads: one connection behind
    a lock.

    Bounded by `max_items`, counting every message the coordinator has not yet receipted (sent
    or not), where only `droppable` messages (heartbeats) may be lost: at the bound
    the oldest droppable message makes room; when none is left, a droppable message is not
    kept, while every other message (a decision, a violation) is still written and `is_full`
    turns true, so the device keeps deciding and raises its alarm instead of forgetting.
    """

    def __init__(self, path: Path, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        if max_items < 1:
            raise OutboxError(f"the outbox bound must be at least 1, not {max_items}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._create_schema()
            self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except (OSError, sqlite3.Error) as error:
            raise OutboxError(f"cannot open the outbox at {path}: {error}") from error
        self.path = path
        self.max_items = max_items
        self._lock = threading.Lock()

    def _create_schema(self) -> None:
        self._db.execute(_SCHEMA[0])
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "droppable" not in columns:  # an outbox written by an older agent
            self._db.execute("ALTER TABLE outbox ADD COLUMN droppable INTEGER NOT NULL DEFAULT 0")
        self._db.execute(_SCHEMA[1])

    def put(self, message_id: str, topic: str, body: bytes, *, droppable: bool = False) -> int:
        """Commit one message; its row id, or 0 when a droppable message was not kept."""
        with self._lock:
            is_full = self._count >= self.max_items
            if is_full and not self._drop_oldest_droppable() and droppable:
                return 0
            try:
                cursor = self._db.execute(
                    "INSERT INTO outbox (message_id, topic, body, droppable) VALUES (?, ?, ?, ?)",
                    (message_id, topic, body, int(droppable)),
                )
            except sqlite3.Error as error:
                raise OutboxError(f"cannot write to the outbox at {self.path}: {error}") from error
            self._count += 1
        return int(cursor.lastrowid or 0)

    def _drop_oldest_droppable(self) -> bool:
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE id = "
            "(SELECT id FROM outbox WHERE droppable = 1 ORDER BY id LIMIT 1)"
        )
        self._count -= cursor.rowcount
        return cursor.rowcount > 0

    def pending(self, *, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Oldest first, so events reach the coordinator in the order they happened."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, message_id, topic, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def items(self, item_ids: Collection[int]) -> list[OutboxItem]:
        """The rows with these ids that are still here, oldest first."""
        found: list[OutboxItem] = []
        ids = sorted(item_ids)
        with self._lock:
            for start in range(0, len(ids), _SQL_CHUNK):
                chunk = ids[start : start + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                found += [
                    OutboxItem(*row)
                    for row in self._db.execute(
                        "SELECT id, message_id, topic, body FROM outbox "  # noqa: S608 - only ?s
                        f"WHERE id IN ({marks}) ORDER BY id",
                        chunk,
                    )
                ]
        return found

    def remove(self, item_id: int) -> None:
        """Forget one row by its row id (see `remove_messages` for why it is not synced)."""
        self._delete("id", [item_id])

    def remove_messages(self, message_ids: Collection[str]) -> int:
        """Forget the messages a receipt names; ids not held are ignored. How many went.

        Not synced to disk at once: a delete lost in a power cut only sends the message again,
        which the coordinator drops as a duplicate, while an fsync per receipt would cap the
        drain of a long backlog at the disk's sync rate."""
        return self._delete("message_id", list(message_ids))

    def _delete(self, column: str, keys: list[str] | list[int]) -> int:
        removed = 0
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                for start in range(0, len(keys), _SQL_CHUNK):
                    chunk = keys[start : start + _SQL_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    cursor = self._db.execute(
                        f"DELETE FROM outbox WHERE {column} IN ({marks})",  # noqa: S608 - fixed names
                        chunk,
                    )
                    removed += cursor.rowcount
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
            self._count -= removed
        return removed

    def last_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        return int(row[0])

    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def is_full(self) -> bool:
        """At or over the bound: only messages that must not be lost are being kept."""
        return self.count() >= self.max_items

    def close(self) -> None:
        with self._lock:
            self._db.close()
