"""Invite mail goes through the outbox to a real SMTP server (aiosmtpd on a free port)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.broker_config import free_port
from coordinator.db.enums import Role
from coordinator.db.models import OutboxMail, utc_now
from coordinator.services.mail import deliver_pending, queue_mail
from tests.coordinator.signin import Campus, as_user, invite, make_campus, set_password


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    received: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _campus(sqlite_url: str, sqlite_sessions: sessionmaker[Session], port: int) -> Iterator[Campus]:
    yield from make_campus(
        sqlite_url,
        sqlite_sessions,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        mail_from="coordinator@campus.example",
        public_url="https://campus.example",
    )


def test_an_invite_is_mailed_and_its_link_sets_the_password(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session], mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    for campus in _campus(sqlite_url, sqlite_sessions, port):
        admin = as_user(campus, campus.add_user("boss@campus.example", Role.ADMIN), Role.ADMIN)
        sam = campus.add_user("sam@campus.example", password_hash=None)
        sent = invite(campus, sam, admin)
        assert sent.json() | {"expires_in": 0} == {"mailed": True, "link": None, "expires_in": 0}
        # TestClient runs the background delivery before it returns the answer.
        [mail] = box.received
        assert mail["To"] == "sam@campus.example"
        assert mail["From"] == "coordinator@campus.example"
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        [link] = [w for w in body.decode().split() if w.startswith("https://campus.example/")]
        assert set_password(campus, link).json()["outcome"] == "signed_in"
        with campus.sessions() as session:
            stored = session.scalars(select(OutboxMail)).one()
        assert stored.sent_at is not None and stored.body is None, "the link left with the mail"


def test_mail_the_server_cannot_take_stays_queued_with_the_reason(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session]
) -> None:
    nobody_listens = free_port()
    for campus in _campus(sqlite_url, sqlite_sessions, nobody_listens):
        admin = as_user(campus, campus.add_user("boss@campus.example", Role.ADMIN), Role.ADMIN)
        sam = campus.add_user("sam@campus.example", password_hash=None)
        assert invite(campus, sam, admin).json()["mailed"] is True
        with campus.sessions() as session:
            stored = session.scalars(select(OutboxMail)).one()
        assert stored.sent_at is None and stored.attempts == 1
        assert stored.last_error is not None
        assert stored.last_error.startswith("cannot reach the SMTP server")
        assert stored.body is not None and "https://campus.example/" in stored.body


def test_the_mail_command_retries_what_is_queued(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session], mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    with sqlite_sessions.begin() as session:
        queue_mail(session, to="sam@campus.example", subject="Hello", body="a link")
    env = os.environ | {
        "COORDINATOR_DATABASE_URL": sqlite_url,
        "COORDINATOR_SMTP_HOST": "127.0.0.1",
        "COORDINATOR_SMTP_PORT": str(port),
        "COORDINATOR_SMTP_STARTTLS": "false",
    }
    command = [sys.executable, "-m", "coordinator", "mail", "send"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mail: sent 1, failed 0"
    assert [mail["Subject"] for mail in box.received] == ["Hello"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert again.stdout.strip() == "mail: sent 0, failed 0", "sent once, not twice"


USERS_CSV = """email,full_name,role,is_active,buildings
sam@campus.example,Sam Supervisor,supervisor,true,
tia@campus.example,Tia Technician,technician,true,
"""


def _import_users(campus: Campus, admin: dict[str, str], **params: str) -> None:
    answer = campus.http.post(
        "/api/v1/import/users",
        content=USERS_CSV.encode(),
        headers=admin | {"Content-Type": "text/csv"},
        params=params,
    )
    assert answer.status_code == 200, answer.text


def test_users_imported_from_csv_are_invited_by_mail(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session], mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    for campus in _campus(sqlite_url, sqlite_sessions, port):
        admin = as_user(campus, campus.add_user("boss@campus.example", Role.ADMIN), Role.ADMIN)
        _import_users(campus, admin, dry_run="true")
        with campus.sessions() as session:
            assert session.scalars(select(OutboxMail)).all() == [], "a dry run invites nobody"
        _import_users(campus, admin)
        settings = campus.http.app.state.settings  # type: ignore[attr-defined]
        with campus.sessions() as session:
            delivery = deliver_pending(session, settings, now=utc_now())
        assert (delivery.sent, delivery.failed) == (2, 0)
        assert sorted(mail["To"] for mail in box.received) == [
            "sam@campus.example",
            "tia@campus.example",
        ]
        body = box.received[0].get_payload(decode=True)
        assert isinstance(body, bytes)
        [link] = [w for w in body.decode().split() if w.startswith("https://campus.example/")]
        assert set_password(campus, link).json()["outcome"] == "signed_in"


def test_a_user_created_through_the_api_is_invited(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session]
) -> None:
    for campus in make_campus(sqlite_url, sqlite_sessions):
        admin = as_user(campus, campus.add_user("boss@campus.example", Role.ADMIN), Role.ADMIN)
        created = campus.http.post(
            "/api/v1/users",
            json={"email": "sam@campus.example", "full_name": "Sam", "role": "supervisor"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        sam = created.json()["id"]
        [invited] = campus.audit("invite")
        assert invited.entity_id == str(sam)
        assert invited.after is not None and invited.after["mailed"] is False
        # Without SMTP the admin fetches a link to pass on; it voids the first one.
        link = invite(campus, sam, admin).json()["link"]
        assert set_password(campus, link).json()["outcome"] == "signed_in"
