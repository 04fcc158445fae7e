"""Accounts people can use: invite, set a password through the link, change it, admin resets.

On SQLite and PostgreSQL, through the HTTP API, with the injected clock and cheap hasher.
"""

from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.auth.tokens import issue_access_token
from coordinator.db.enums import Role
from coordinator.db.models import (
    AccountLink,
    Building,
    ManagerBuilding,
    RefreshToken,
    Site,
    User,
)
from tests.coordinator.conftest import Api
from tests.coordinator.signin import (
    NEW_PASSWORD,
    PASSWORD,
    Campus,
    as_user,
    bearer,
    error_of,
    invite,
    make_campus,
    set_password,
)


@pytest.fixture
def campus(database_url: str, sessions: sessionmaker[Session]) -> Iterator[Campus]:
    yield from make_campus(database_url, sessions)


@pytest.fixture
def admin(campus: Campus) -> dict[str, str]:
    return as_user(campus, campus.add_user("boss@campus.example", Role.ADMIN), Role.ADMIN)


# --- invites ----------------------------------------------------------------------------------


def test_an_invited_person_sets_their_password_through_the_link_once(
    campus: Campus, admin: dict[str, str]
) -> None:
    sam = campus.add_user("sam@campus.example", password_hash=None)
    sent = invite(campus, sam, admin)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["mailed"] is False
    assert answer["expires_in"] == 24 * 3600
    assert answer["link"].startswith("http://127.0.0.1:8000/account/password#token=")
    signed_in = set_password(campus, answer["link"])
    assert signed_in.json()["outcome"] == "signed_in", signed_in.text
    assert signed_in.headers["Cache-Control"] == "no-store"
    assert campus.me(signed_in.json()["access_token"]).json()["email"] == "sam@campus.example"
    again = set_password(campus, answer["link"], "another long phrase here")
    assert "already used" in error_of(again, 401, "not_authenticated")
    assert campus.sign_in("sam@campus.example", password=NEW_PASSWORD).status_code == 200
    [invited] = campus.audit("invite")
    assert invited.after is not None
    assert invited.after == {"link_expires_at": invited.after["link_expires_at"], "mailed": False}
    [set_entry] = campus.audit("set_password")
    assert set_entry.entity_id == str(sam) and set_entry.after == {
        "password_set": True,
        "through": "invite",
    }


def test_only_a_hash_of_the_link_is_stored(campus: Campus, admin: dict[str, str]) -> None:
    sam = campus.add_user("sam@campus.example", password_hash=None)
    token = invite(campus, sam, admin).json()["link"].split("#token=")[1]
    with campus.sessions() as session:
        stored = session.scalars(select(AccountLink.token_hash)).one()
    assert token not in stored and len(stored) == 64


def test_an_invited_admin_enrols_a_second_factor_before_any_token(
    campus: Campus, admin: dict[str, str]
) -> None:
    other = campus.add_user("other@campus.example", Role.ADMIN, password_hash=None)
    answer = set_password(campus, invite(campus, other, admin).json()["link"])
    assert answer.json()["outcome"] == "totp_enrolment_required", answer.text
    assert "access_token" not in answer.json()


def test_an_invite_link_expires(campus: Campus, admin: dict[str, str]) -> None:
    sam = campus.add_user("sam@campus.example", password_hash=None)
    link = invite(campus, sam, admin).json()["link"]
    campus.clock.advance(hours=24)
    assert "expired" in error_of(set_password(campus, link), 401, "not_authenticated")


def test_a_newer_invite_voids_the_older_one(campus: Campus, admin: dict[str, str]) -> None:
    sam = campus.add_user("sam@campus.example", password_hash=None)
    first = invite(campus, sam, admin).json()["link"]
    second = invite(campus, sam, admin).json()["link"]
    assert set_password(campus, first).status_code == 401
    assert set_password(campus, second).status_code == 200


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("password1234", "common"),
        ("short", "at least 12 characters"),
        ("sam sam sam sam", "Repeats"),
        ("x" * 257, "at most 256 characters"),
    ],
)
def test_a_weak_password_is_refused_and_the_link_still_works(
    campus: Campus, admin: dict[str, str], password: str, problem: str
) -> None:
    sam = campus.add_user("sam@campus.example", password_hash=None)
    link = invite(campus, sam, admin).json()["link"]
    refused = set_password(campus, link, password)
    assert refused.status_code == 422
    assert problem in refused.text
    assert set_password(campus, link).status_code == 200


def test_inviting_someone_who_has_a_password_is_a_conflict(
    campus: Campus, admin: dict[str, str]
) -> None:
    sam = campus.add_user("sam@campus.example")
    assert "reset it instead" in error_of(invite(campus, sam, admin), 409, "conflict")


def test_an_unknown_user_or_a_bad_link_is_refused_cleanly(
    campus: Campus, admin: dict[str, str]
) -> None:
    assert invite(campus, 2_000_000_000, admin).status_code == 404
    bad = campus.http.post(
        "/api/v1/auth/password/set", json={"token": "a" * 43 + "\x00", "password": NEW_PASSWORD}
    )
    assert error_of(bad, 422, "invalid_input") == "invalid input: token"


# --- changing one's own password --------------------------------------------------------------


def test_changing_the_password_needs_the_current_one_and_ends_other_sign_ins(
    campus: Campus,
) -> None:
    campus.add_user("sam@campus.example")
    # Signed in two seconds ago (JWTs count whole seconds, and refuse an `iat` in the future).
    campus.clock.advance(seconds=-2)
    elsewhere = campus.sign_in("sam@campus.example").json()
    here = campus.sign_in("sam@campus.example").json()
    campus.clock.advance(seconds=2)
    wrong = campus.http.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=bearer(here["access_token"]),
    )
    assert "current_password" in error_of(wrong, 422, "invalid_input")
    changed = campus.http.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(here["access_token"]),
    )
    assert changed.status_code == 200, changed.text
    assert campus.me(changed.json()["access_token"]).status_code == 200
    for old in (elsewhere, here):
        assert campus.refresh(old["refresh_token"]).status_code == 401
        assert campus.me(old["access_token"]).status_code == 401
    assert campus.sign_in("sam@campus.example").status_code == 401
    assert campus.sign_in("sam@campus.example", password=NEW_PASSWORD).status_code == 200


# --- admin resets -----------------------------------------------------------------------------


def test_an_admin_resets_a_password_the_person_sets_a_new_one(
    campus: Campus, admin: dict[str, str]
) -> None:
    sam = campus.add_user("sam@campus.example")
    campus.clock.advance(seconds=-2)
    tokens = campus.sign_in("sam@campus.example").json()
    campus.clock.advance(seconds=2)
    reset = campus.http.post(f"/api/v1/users/{sam}/reset-password", headers=admin)
    assert reset.status_code == 200, reset.text
    assert campus.refresh(tokens["refresh_token"]).status_code == 401
    assert "was reset" in error_of(campus.me(tokens["access_token"]), 401, "not_authenticated")
    assert campus.sign_in("sam@campus.example").status_code == 401
    assert set_password(campus, reset.json()["link"]).json()["outcome"] == "signed_in"
    [entry] = campus.audit("reset_password")
    assert entry.before == {"password_set": True} and entry.after == {"password_set": False}


def test_an_admin_resets_a_lost_second_factor(campus: Campus, admin: dict[str, str]) -> None:
    manager = campus.add_user("mia@campus.example", Role.MANAGER)
    campus.enrol("mia@campus.example")
    reset = campus.http.post(f"/api/v1/users/{manager}/reset-second-factor", headers=admin)
    assert reset.status_code == 204, reset.text
    again = campus.sign_in("mia@campus.example")
    assert again.json()["outcome"] == "totp_enrolment_required"
    [entry] = campus.audit("reset_second_factor")
    assert entry.after == {
        "totp_confirmed": False,
        "totp_secret_set": False,
        "recovery_codes_left": 0,
    }


def test_an_admin_cannot_reset_their_own_account(campus: Campus) -> None:
    boss = campus.add_user("boss@campus.example", Role.ADMIN)
    headers = as_user(campus, boss, Role.ADMIN)
    for action in ("reset-password", "reset-second-factor"):
        answer = campus.http.post(f"/api/v1/users/{boss}/{action}", headers=headers)
        assert "not on your own account" in error_of(answer, 409, "conflict")


# --- step-up ----------------------------------------------------------------------------------


def test_a_promoted_supervisor_must_sign_in_again_with_a_second_factor(
    campus: Campus, admin: dict[str, str]
) -> None:
    sam = campus.add_user("sam@campus.example")
    tokens = campus.sign_in("sam@campus.example").json()
    promoted = campus.http.patch(f"/api/v1/users/{sam}", json={"role": "admin"}, headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert "role has changed" in error_of(
        campus.me(tokens["access_token"]), 401, "not_authenticated"
    )
    assert "sign in again" in error_of(
        campus.refresh(tokens["refresh_token"]), 401, "not_authenticated"
    )
    assert campus.sign_in("sam@campus.example").json()["outcome"] == "totp_enrolment_required"


def test_a_role_change_made_anywhere_ends_the_sign_in_at_refresh(campus: Campus) -> None:
    sam = campus.add_user("sam@campus.example", Role.TECHNICIAN)
    tokens = campus.sign_in("sam@campus.example").json()
    with campus.sessions.begin() as session:
        # As a CSV import or any other writer would: straight to the table.
        session.get_one(User, sam).role = Role.SUPERVISOR
    assert campus.refresh(tokens["refresh_token"]).status_code == 401
    with campus.sessions() as session:
        family = session.scalars(select(RefreshToken).where(RefreshToken.user_id == sam)).all()
    assert all(token.revoked_at is not None for token in family)


def test_a_change_of_buildings_ends_a_managers_sign_in(campus: Campus) -> None:
    mia = campus.add_user("mia@campus.example", Role.MANAGER)
    secret, _ = campus.enrol("mia@campus.example")
    code = pyotp.TOTP(secret).at(campus.clock.now)
    tokens = campus.sign_in("mia@campus.example", second_factor=code).json()
    with campus.sessions.begin() as session:
        site = Site(code="main", name="Main campus", time_zone="Europe/Berlin")
        session.add(site)
        session.flush()
        building = Building(site_id=site.id, code="b-a", name="Building A")
        session.add(building)
        session.flush()
        session.add(ManagerBuilding(user_id=mia, building_id=building.id))
    ended = campus.refresh(tokens["refresh_token"])
    assert "buildings" in error_of(ended, 401, "not_authenticated")
    [revoked] = campus.audit("revoke")
    assert revoked.after == {"live_tokens": 0, "reason": "account changed"}


def test_a_role_that_needs_a_second_factor_is_refused_without_one(campus: Campus) -> None:
    boss = campus.add_user("boss@campus.example", Role.ADMIN)
    token = issue_access_token(
        campus.http.app.state.settings.secret_key,  # type: ignore[attr-defined]
        user_id=boss,
        role="admin",
        second_factor=False,
        lifetime=timedelta(minutes=5),
    )
    refused = campus.me(token)
    assert "must sign in with a second factor" in error_of(refused, 401, "not_authenticated")


# --- who may invite ---------------------------------------------------------------------------


def test_a_manager_invites_only_supervisors_assigned_in_their_buildings(api: Api) -> None:
    campus = api.campus
    manager = api.as_(Role.MANAGER)

    def invite_as(headers: dict[str, str], user_id: int) -> Response:
        answer: Response = api.client.post(f"/api/v1/users/{user_id}/invite", headers=headers)
        return answer

    assert invite_as(manager, campus.own.supervisor.id).status_code == 200
    for elsewhere in (campus.other.supervisor, campus.technician, campus.admin):
        assert error_of(invite_as(manager, elsewhere.id), 404, "not_found") == "no such user"
    supervisor = api.as_(Role.SUPERVISOR)
    assert invite_as(supervisor, campus.other.supervisor.id).status_code == 403
    assert invite_as(api.as_(Role.ADMIN), campus.other.supervisor.id).status_code == 200
    for action in ("reset-password", "reset-second-factor"):
        answer = api.client.post(
            f"/api/v1/users/{campus.own.supervisor.id}/{action}", headers=manager
        )
        assert answer.status_code == 403
