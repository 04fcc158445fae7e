"""Anti-passback: a person who went in must come out before going in again, and the other way round.

The gate keeps, per holder, the direction and time of their last granted passage in SQLite (WAL),
so a restart or a power cut does not forget who is inside. Passages seen by other gates of the
site (shared through the coordinator when online) are applied with `note` as well; the newest
passage wins, so a late copy cannot overwrite a fresher local one.

The rule is soft at the edges on purpose: a passage older than the window no longer counts (a
student who left through an unguarded exit is not locked out the next day), and a first passage
in either direction is allowed.
"""

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from protocols import Direction

DEFAULT_WINDOW = timedelta(hours=12)


class PassbackStore:
    """The last granted passage per holder; `path=None` keeps it in memory (tests, simulation)."""

    def __init__(self, path: Path | None = None, *, window: timedelta = DEFAULT_WINDOW) -> None:
        if window <= timedelta(0):
            raise ValueError("the anti-passback window must be positive")
        self.window = window
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS passages ("
            " holder TEXT PRIMARY KEY, direction TEXT NOT NULL, at REAL NOT NULL)"
        )
        self._db.commit()

    def is_passback(self, holder: str, direction: Direction, now: datetime) -> bool:
        """True when the holder's last passage, within the window, went the same way."""
        with self._lock:
            row = self._db.execute(
                "SELECT direction, at FROM passages WHERE holder = ?", (holder,)
            ).fetchone()
        if row is None:
            return False
        last_direction, at = Direction(row[0]), float(row[1])
        is_recent = now.timestamp() - at < self.window.total_seconds()
        return is_recent and last_direction is direction

    def note(self, holder: str, direction: Direction, at: datetime) -> None:
        """Remember a granted passage (here or at another gate), unless a newer one is known."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO passages (holder, direction, at) VALUES (?, ?, ?) "
                "ON CONFLICT (holder) DO UPDATE SET direction = excluded.direction, "
                "at = excluded.at WHERE excluded.at >= passages.at",
                (holder, direction.value, at.timestamp()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
