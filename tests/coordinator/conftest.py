"""An API client over a migrated database holding a small campus (see campus.py)."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.app import create_app
from coordinator.core.config import Settings
from coordinator.db.enums import Role
from tests.coordinator.campus import Campus, bearer, build_campus


@dataclass
class Api:
    client: TestClient
    campus: Campus
    settings: Settings
    sessions: sessionmaker[Session]

    def as_(self, role: Role) -> dict[str, str]:
        return bearer(self.settings, self.campus.user(role))


def _api(database_url: str, sessions: sessionmaker[Session]) -> Iterator[Api]:
    with sessions() as session:
        campus = build_campus(session)
    settings = Settings(database_url=database_url, mqtt_enabled=False)
    with TestClient(create_app(settings)) as client:
        yield Api(client, campus, settings, sessions)


@pytest.fixture
def api(database_url: str, sessions: sessionmaker[Session]) -> Iterator[Api]:
    """On SQLite and on PostgreSQL."""
    yield from _api(database_url, sessions)


@pytest.fixture
def sqlite_api(sqlite_url: str, sqlite_sessions: sessionmaker[Session]) -> Iterator[Api]:
    yield from _api(sqlite_url, sqlite_sessions)
