"""Engines and sessions, made by the app factory or CLI from settings, never at import time."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.migrate import require_current


def make_engine(database_url: str) -> Engine:
    is_sqlite = database_url.startswith("sqlite")
    engine = create_engine(
        database_url,
        connect_args={"check_same_thread": False} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _begin_sqlite(connection: Any) -> None:
    # Python's sqlite3 begins a transaction only at the first write, so a SAVEPOINT before it
    # would start (and its RELEASE commit) a transaction of its own; begin explicitly instead.
    # IMMEDIATE takes the write lock at the start, waiting up to the busy timeout for it: a
    # deferred transaction that has read and then writes after another connection committed
    # fails at once with "database is locked" (its snapshot is stale), whatever the timeout.
    # SQLite has one writer at a time anyway; this makes the API, ingest and the builder queue
    # for it instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # WAL lets the API read while ingest writes; a busy timeout instead of "database is locked".
    connection.isolation_level = None  # transactions are begun by `_begin_sqlite`
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(database_url: str) -> Iterator[Session]:
    """One transaction on a migrated database, for commands and scripts; commits on success."""
    engine = make_engine(database_url)
    try:
        require_current(engine)
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()
