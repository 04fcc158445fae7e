"""Who has checked in or out of which assignment on this device, kept across restarts.

The station asks this before deciding check-in versus check-out (and refuses a second check-in);
it is written right after the decision's event is committed to the outbox. A power cut between
the two can at worst let one person check in twice, which the coordinator stores as two events of
the same assignment; it never loses a decision.
"""

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from edge_agent.errors import OutboxError
from protocols import AttendanceAction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkins (
    assignment_key TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    at TEXT NOT NULL
)
"""


class CheckInLog:
    """The last attendance action per assignment, in SQLite (WAL) next to the outbox."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise OutboxError(f"cannot open the check-in log at {path}: {error}") from error
        self._lock = threading.Lock()

    def last_action(self, assignment_key: str) -> AttendanceAction | None:
        with self._lock:
            row = self._db.execute(
                "SELECT action FROM checkins WHERE assignment_key = ?", (assignment_key,)
            ).fetchone()
        return None if row is None else AttendanceAction(row[0])

    def remember(self, assignment_key: str, action: AttendanceAction, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO checkins (assignment_key, action, at) VALUES (?, ?, ?) "
                "ON CONFLICT (assignment_key) DO UPDATE SET action = excluded.action, "
                "at = excluded.at",
                (assignment_key, action.value, at.isoformat()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
