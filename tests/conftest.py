"""Shared fixtures: a private Mosquitto, a fresh PostgreSQL database, SQLite for unit tests."""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.postgres"]

REPO = Path(__file__).resolve().parent.parent

# Generated cases are checked for what they find, not for how fast the machine makes them: with
# pytest-xdist on two cores, a busy machine must not turn a passing property into a failure.
settings.register_profile("campus", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("campus")

# The coordinator refuses to start without a root secret; tests get a fresh random one per run.
os.environ.setdefault("COORDINATOR_SECRET_KEY", secrets.token_urlsafe(48))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coordinator.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both backends the coordinator supports, migrated to head."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sqlite_sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh SQLite database, migrated to head."""
    yield from _migrated_sessions(sqlite_url)


@pytest.fixture
def pg_sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh PostgreSQL database, migrated to head."""
    yield from _migrated_sessions(postgres_url)


def _migrated_sessions(url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()
