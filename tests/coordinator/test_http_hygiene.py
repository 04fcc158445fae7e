"""HTTP hygiene: security headers, no caching of tokens, a body size limit, proxy headers
believed only from configured proxies, and Retry-After on 429."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.models import SignInAttempt
from tests.coordinator.signin import Campus, error_of, make_campus

PROXY = "10.0.0.1"


@pytest.fixture
def campus(sqlite_url: str, sqlite_sessions: sessionmaker[Session]) -> Iterator[Campus]:
    yield from make_campus(
        sqlite_url,
        sqlite_sessions,
        trusted_proxies=[PROXY, "10.1.0.0/16"],
        max_request_bytes=4096,
        max_upload_bytes=64 * 1024,
    )


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/no-such-route", "/api/v1/me"])
def test_every_answer_carries_the_security_headers(campus: Campus, path: str) -> None:
    headers = campus.http.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_the_api_docs_page_gets_a_policy_that_lets_it_load(campus: Campus) -> None:
    docs = campus.http.get("/docs")
    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]


def test_token_answers_are_not_cached(campus: Campus) -> None:
    campus.add_user("sam@campus.example")
    signed_in = campus.sign_in("sam@campus.example")
    assert signed_in.status_code == 200
    assert signed_in.headers["Cache-Control"] == "no-store"
    renewed = campus.refresh(signed_in.json()["refresh_token"])
    assert renewed.headers["Cache-Control"] == "no-store"


def test_a_body_over_the_limit_is_refused_with_413(campus: Campus) -> None:
    huge = {"email": "sam@campus.example", "password": "x" * 5000}
    answer = campus.http.post("/api/v1/auth/sign-in", json=huge)
    assert "larger than 4096 bytes" in error_of(answer, 413, "request_too_large")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_streamed_body_is_counted_not_trusted(campus: Campus) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    # A generator is sent chunked, without Content-Length.
    answer = campus.http.post(
        "/api/v1/auth/sign-in", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert error_of(answer, 413, "request_too_large")


@pytest.mark.parametrize("length", ["-1", "1e9", "99999999999999999999"])
def test_a_nonsense_content_length_is_refused(campus: Campus, length: str) -> None:
    answer = campus.http.post(
        "/api/v1/auth/sign-in", content=b"{}", headers={"Content-Length": length}
    )
    assert answer.status_code == 413


def test_uploads_have_their_own_larger_limit(campus: Campus) -> None:
    photo = [("photos", ("a.jpg", b"\xff" * 20_000, "image/jpeg"))]
    within = campus.http.post("/api/v1/users/1/face-templates", files=photo)
    assert within.status_code == 401, "read whole and handed on: the route decides"
    too_big = [("photos", ("a.jpg", b"\xff" * 70_000, "image/jpeg"))]
    beyond = campus.http.post("/api/v1/users/1/face-templates", files=too_big)
    assert beyond.status_code == 413


def _attempt_address(campus: Campus) -> str:
    with campus.sessions() as session:
        address = session.scalars(
            select(SignInAttempt.address).order_by(SignInAttempt.id.desc())
        ).first()
    assert address is not None
    return address


@pytest.mark.parametrize("peer", [PROXY, "10.1.2.3"])
def test_a_configured_proxy_names_the_client(campus: Campus, peer: str) -> None:
    via_proxy = TestClient(campus.http.app, client=(peer, 4000))
    via_proxy.post(
        "/api/v1/auth/sign-in",
        json={"email": "sam@campus.example", "password": "wrong password"},
        headers={"X-Forwarded-For": "203.0.113.50"},
    )
    assert _attempt_address(campus) == "203.0.113.50"


def test_anyone_else_cannot_choose_their_address(campus: Campus) -> None:
    direct = TestClient(campus.http.app, client=("198.51.100.7", 4000))
    for _ in range(6):
        direct.post(
            "/api/v1/auth/sign-in",
            json={"email": "sam@campus.example", "password": "wrong password"},
            headers={"X-Forwarded-For": "203.0.113.50"},
        )
    assert _attempt_address(campus) == "198.51.100.7"
    waiting = direct.post(
        "/api/v1/auth/sign-in",
        json={"email": "sam@campus.example", "password": "wrong password"},
        headers={"X-Forwarded-For": "203.0.113.99"},  # a new spoofed address changes nothing
    )
    assert waiting.status_code == 429
    assert int(waiting.headers["Retry-After"]) == 15 * 60
