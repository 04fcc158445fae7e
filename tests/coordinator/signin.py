"""A sign-in test bench: the API over a migrated database, a cheap hasher and a hand-moved clock."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import pyotp
from argon2.profiles import CHEAPEST
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.app import create_app
from coordinator.api.deps import get_clock, get_passwords
from coordinator.auth.clients import Clock
from coordinator.auth.tokens import issue_access_token
from coordinator.core.config import Settings
from coordinator.core.passwords import Passwords
from coordinator.db.enums import Role
from coordinator.db.models import AuditEntry, User

CHEAP = Passwords(argon2.PasswordHasher.from_parameters(CHEAPEST))
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "violet kettle orbit"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Campus:
    """The API under test, the database behind it and its clock."""

    http: TestClient
    sessions: sessionmaker[Session]
    clock: FakeClock

    def add_user(self, email: str, role: Role = Role.SUPERVISOR, **fields: Any) -> int:
        with self.sessions.begin() as session:
            user = User(
                email=email,
                full_name=email.split("@", maxsplit=1)[0].title(),
                role=role,
                **({"password_hash": CHEAP.hash(PASSWORD)} | fields),
            )
            session.add(user)
            session.flush()
            return user.id

    def sign_in(
        self, email: str, password: str = PASSWORD, address: str | None = None, **extra: str
    ) -> Response:
        body = {"email": email, "password": password, **extra}
        # The app's state comes from the main client's lifespan; another one only sets the address.
        http = self.http if address is None else TestClient(self.http.app, client=(address, 4000))
        response: Response = http.post("/api/v1/auth/sign-in", json=body)
        return response

    def refresh(self, refresh_token: str) -> Response:
        response: Response = self.http.post(
            "/api/v1/auth/refresh", json={"refresh_token": refresh_token}
        )
        return response

    def me(self, access_token: str) -> Response:
        response: Response = self.http.get("/api/v1/me", headers=bearer(access_token))
        return response

    def enrol(self, email: str) -> tuple[str, list[str]]:
        """Sign in as a not-yet-enrolled admin or manager and finish TOTP enrolment."""
        token = self.sign_in(email).json()["enrolment_token"]
        secret = self.http.post("/api/v1/auth/totp/enrol", headers=bearer(token)).json()["secret"]
        confirmed = self.http.post(
            "/api/v1/auth/totp/confirm",
            headers=bearer(token),
            # The step just before now (still in the window), so that the current code, which
            # the tests then sign in with, is not spent: each code is good once.
            json={"code": pyotp.TOTP(secret).at(self.clock.now - timedelta(seconds=30))},
        )
        assert confirmed.status_code == 200, confirmed.text
        return secret, confirmed.json()["recovery_codes"]

    def audit(self, action: str) -> list[AuditEntry]:
        with self.sessions() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def make_campus(
    database_url: str, sessions: sessionmaker[Session], **settings: Any
) -> Iterator[Campus]:
    # Starts at the real time: `GET /me` checks access tokens against the real clock.
    clock = FakeClock(datetime.now(UTC))
    service_clock: Clock = clock  # the fake must fit where the service takes a clock
    app = create_app(Settings(database_url=database_url, mqtt_enabled=False, **settings))
    app.dependency_overrides[get_passwords] = lambda: CHEAP
    app.dependency_overrides[get_clock] = lambda: service_clock
    with TestClient(app) as http:
        yield Campus(http, sessions, clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    message: str = body["message"]
    return message


def as_user(campus: Campus, user_id: int, role: Role) -> dict[str, str]:
    """An access token as a sign-in with a second factor would give (sign-in is tested apart)."""
    token = issue_access_token(
        campus.http.app.state.settings.secret_key,  # type: ignore[attr-defined]
        user_id=user_id,
        role=role.value,
        second_factor=True,
        lifetime=timedelta(minutes=5),
        now=campus.clock.now,
    )
    return bearer(token)


def invite(campus: Campus, user_id: int, headers: dict[str, str]) -> Response:
    response: Response = campus.http.post(f"/api/v1/users/{user_id}/invite", headers=headers)
    return response


def set_password(campus: Campus, link: str, password: str = NEW_PASSWORD) -> Response:
    token = link.split("#token=", maxsplit=1)[1]
    response: Response = campus.http.post(
        "/api/v1/auth/password/set", json={"token": token, "password": password}
    )
    return response
