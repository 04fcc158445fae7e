"""`coordinator create-admin`: an audited admin on a migrated database, errors in one line."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from coordinator.core.passwords import Passwords
from coordinator.db.enums import Role
from coordinator.db.migrate import upgrade
from coordinator.db.models import AuditEntry, User
from coordinator.db.session import make_engine, make_sessionmaker

PASSWORD = "correct horse battery staple"


def _create_admin(
    database_url: str, *args: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": database_url,
        "COORDINATOR_ADMIN_PASSWORD": password,
    }
    command = [sys.executable, "-m", "coordinator", "create-admin", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def migrated(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    return sqlite_url


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    return result.stderr.strip()


def test_creates_an_audited_admin_whose_password_verifies(migrated: str) -> None:
    result = _create_admin(migrated, "--email", "Ada@Campus.example", "--full-name", "Ada Lovelace")
    assert result.returncode == 0, result.stderr
    assert "admin ada@campus.example created" in result.stdout
    engine = make_engine(migrated)
    with make_sessionmaker(engine)() as session:
        admin = session.scalars(select(User)).one()
        entry = session.scalars(select(AuditEntry)).one()
    engine.dispose()
    assert (admin.email, admin.full_name, admin.role, admin.is_active) == (
        "ada@campus.example",
        "Ada Lovelace",
        Role.ADMIN,
        True,
    )
    assert admin.totp_confirmed is False and admin.password_hash is not None
    assert Passwords().verify(admin.password_hash, PASSWORD).is_valid
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == (
        "cli",
        "create",
        "user",
        str(admin.id),
    )
    assert entry.after is not None and entry.after["password_set"] is True
    assert PASSWORD not in str(entry.after)


def test_refuses_an_email_that_already_has_an_account(migrated: str) -> None:
    assert (
        _create_admin(migrated, "--email", "ada@campus.example", "--full-name", "Ada").returncode
        == 0
    )
    again = _create_admin(migrated, "--email", "ADA@campus.example", "--full-name", "Ada Again")
    assert _one_line_error(again) == "coordinator: email: ada@campus.example already has an account"


def test_refuses_a_short_password_naming_the_rule(migrated: str) -> None:
    result = _create_admin(
        migrated, "--email", "ada@campus.example", "--full-name", "Ada", password="short"
    )
    assert "coordinator: password: use at least 12 characters" in _one_line_error(result)


def test_refuses_a_malformed_email_naming_the_field(migrated: str) -> None:
    result = _create_admin(migrated, "--email", "not-an-email", "--full-name", "Ada")
    assert _one_line_error(result) == "coordinator: email: not an email address (name@example.org)"


def test_needs_a_migrated_database(sqlite_url: str) -> None:
    result = _create_admin(sqlite_url, "--email", "ada@campus.example", "--full-name", "Ada")
    assert "run `coordinator migrate`" in _one_line_error(result)


def test_without_the_variable_it_prompts_twice_with_hidden_input(migrated: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COORDINATOR_ADMIN_PASSWORD"}
    command = [sys.executable, "-m", "coordinator", "create-admin", "--database-url", migrated]
    command += ["--email", "ada@campus.example", "--full-name", "Ada"]
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    result = subprocess.run(
        command, input=typed, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Repeat for confirmation" in result.stdout and PASSWORD not in result.stdout
