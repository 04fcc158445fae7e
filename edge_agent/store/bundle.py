"""The bundle in force, the signing keys the device trusts, and the commands it has handled.

SQLite (WAL, synchronous=FULL). A new bundle replaces the old one, and the trusted keys it
names replace the old keys, in one transaction: a crash or power cut during `apply` leaves the
old bundle whole, never half of each. The bundle is kept as the exact signed body, so the
device can show what it holds by the same hash the coordinator computed. Secrets inside stay
sealed here; they are opened in memory only (edge_agent.store.device_key).
"""

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.errors import EdgeError
from protocols.bundle import Bundle
from protocols.signing import content_hash, parse_body, read_public_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trusted_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handled_commands (
    command_id TEXT PRIMARY KEY,
    handled_at TEXT NOT NULL
);
"""
MAX_HANDLED_COMMANDS = 10_000


class BundleStoreError(EdgeError, OSError):
    """The bundle store cannot be opened or written."""


@dataclass(frozen=True)
class HeldBundle:
    """The bundle in force: its version, the hash of its signed body, and the body itself."""

    version: int
    content_hash: str
    body: str


class BundleStore:
    """Where the device keeps its bundle; `apply` is all-or-nothing. Thread-safe."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise BundleStoreError(f"cannot open the bundle store at {path}: {error}") from error
        self.path = path
        self._lock = threading.Lock()
        self._parsed: tuple[str, Bundle] | None = None

    def held(self) -> HeldBundle | None:
        with self._lock:
            row = self._db.execute("SELECT version, content_hash, body FROM bundle").fetchone()
        return HeldBundle(*row) if row else None

    def current(self) -> Bundle | None:
        """The bundle in force, parsed once per version (what the station reads)."""
        held = self.held()
        if held is None:
            return None
        if self._parsed is None or self._parsed[0] != held.content_hash:
            self._parsed = (held.content_hash, parse_body(held.body))
        return self._parsed[1]

    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        with self._lock:
            rows = self._db.execute("SELECT key_id, public_key FROM trusted_keys").fetchall()
        return {key_id: read_public_key(text) for key_id, text in rows}

    def trust(self, key_id: str, public_key: str) -> None:
        """Add a signing key to trust (provisioning); later bundles may replace the set."""
        read_public_key(public_key)  # refuse what is not a key before storing it
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO trusted_keys (key_id, public_key) VALUES (?, ?)",
                (key_id, public_key),
            )

    def apply(
        self, bundle: Bundle, body: str, *, before_commit: Callable[[], None] | None = None
    ) -> HeldBundle:
        """Make `bundle` (whose signed text is `body`) the one in force, all or nothing.

        `before_commit` runs inside the transaction; tests use it to fail at the worst moment.
        """
        held = HeldBundle(bundle.version, content_hash(body), body)
        now = datetime.now(UTC).isoformat()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM bundle")
                self._db.execute(
                    "INSERT INTO bundle (id, version, content_hash, body, applied_at)"
                    " VALUES (1, ?, ?, ?, ?)",
                    (held.version, held.content_hash, body, now),
                )
                if bundle.signing_keys:
                    self._db.execute("DELETE FROM trusted_keys")
                    self._db.executemany(
                        "INSERT INTO trusted_keys (key_id, public_key) VALUES (?, ?)",
                        [(key.key_id, key.public_key) for key in bundle.signing_keys],
                    )
                if before_commit is not None:
                    before_commit()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return held

    def first_time(self, command_id: str) -> bool:
        """Record a command as handled; False if it was handled before (a redelivery)."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO handled_commands (command_id, handled_at) VALUES (?, ?)",
                (command_id, now),
            )
            self._db.execute(
                "DELETE FROM handled_commands WHERE command_id NOT IN (SELECT command_id FROM"
                " handled_commands ORDER BY handled_at DESC LIMIT ?)",
                (MAX_HANDLED_COMMANDS,),
            )
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()
