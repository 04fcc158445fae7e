"""The phone page in a real Chromium: claim the one-time link, show a rotating code that the gate's
own decoder reads off the screen and a gate verifies, roll over every 30 s, keep rotating with the
network gone, and come back from a reload while offline (service worker and IndexedDB)."""

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import numpy as np
import pytest
import uuid6
import uvicorn
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api.app import create_app
from coordinator.broker_config import free_port
from coordinator.bundles import keys
from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import Role
from edge_agent.hardware.qr_camera import decode_qr
from protocols.passes import ROTATION_PERIOD_S, VerifiedPass, read_pass
from protocols.signing import read_public_key
from tests.coordinator.campus import Campus, bearer, build_campus

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium: run scripts/setup.sh test"
    ),
]


@dataclass
class LiveCoordinator:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    campus: Campus


@pytest.fixture
def coordinator(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session]
) -> Iterator[LiveCoordinator]:
    """The coordinator under uvicorn on a free port, over a migrated SQLite campus."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=sqlite_url, mqtt_enabled=False, public_url=url)
    with sqlite_sessions() as session:
        campus = build_campus(session)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="coordinator", daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)  # uvicorn offers no start event to wait on
        assert server.started, "uvicorn did not start"
        yield LiveCoordinator(url, settings, sqlite_sessions, campus)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _pass_link(live: LiveCoordinator, now: datetime) -> tuple[str, UUID]:
    """A manager makes a link for a pass valid around `now`."""
    with live.sessions() as session:
        keys.ensure_active_key(session, live.settings.secret_key)
        student_pass = m.StudentPass(
            pass_ref=uuid6.uuid7().hex,
            student_id=live.campus.student.id,
            building_id=live.campus.own.building.id,
            zones=["main"],
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=30),
        )
        session.add(student_pass)
        session.commit()
        pass_id, ref = student_pass.id, UUID(hex=student_pass.pass_ref)
    manager = bearer(live.settings, live.campus.user(Role.MANAGER))
    response = httpx.post(f"{live.url}/api/v1/passes/{pass_id}/link", headers=manager)
    assert response.status_code == 201, response.text
    return str(response.json()["url"]), ref


def _gate_reads(live: LiveCoordinator, png: bytes, now: datetime) -> VerifiedPass:
    """What a gate of site `main` makes of the screen: its decoder, then its verification."""
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)
    (text,) = decode_qr(gray)
    assert text.startswith("CR1:")
    with live.sessions() as session:
        trusted = {k.key_id: read_public_key(k.public_key) for k in keys.trusted_keys(session)}
    return read_pass(text, trusted_keys=trusted, site="main", now=now)


def _moment(step: int) -> datetime:
    return datetime.fromtimestamp(step * ROTATION_PERIOD_S + 1, UTC)


def test_the_phone_page_shows_a_rotating_code_a_gate_accepts_online_and_offline(
    coordinator: LiveCoordinator,
) -> None:
    live = coordinator
    # Two seconds into a 30-second step, so the first code stays put while it is read.
    start_s = (int(datetime.now(UTC).timestamp()) // ROTATION_PERIOD_S + 1) * ROTATION_PERIOD_S + 2
    start = datetime.fromtimestamp(start_s, UTC)
    link, ref = _pass_link(live, start)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 480, "height": 900})
            page = context.new_page()
            page.clock.install(time=start)
            page.goto(link)
            canvas = page.locator("#code[data-step]")
            canvas.wait_for()
            assert "#t=" not in page.url  # the spent token leaves the address bar
            assert page.locator("#name").inner_text() == "Ada Student"
            assert "New code in" in page.locator("#countdown").inner_text()

            first_step = int(canvas.get_attribute("data-step") or 0)
            assert first_step == start_s // ROTATION_PERIOD_S
            first = canvas.screenshot()
            verified = _gate_reads(live, first, _moment(first_step))
            assert verified.body.pass_id == ref and verified.step == first_step

            second = _next_code(page, first_step)
            assert second != first
            assert _gate_reads(live, second, _moment(first_step + 1)).step == first_step + 1

            context.set_offline(True)
            is_offline = "fetch('/api/v1/health').then(() => false, () => true)"
            assert page.evaluate(is_offline), "the page still reaches the coordinator"
            third = _next_code(page, first_step + 1)
            assert _gate_reads(live, third, _moment(first_step + 2)).step == first_step + 2

            page.reload()  # offline: the service worker serves the page, IndexedDB the pass
            page.locator("#code[data-step]").wait_for()
            reloaded = page.locator("#code").screenshot()
            assert _gate_reads(live, reloaded, _moment(first_step + 2)).body.pass_id == ref
            context.set_offline(False)

            stranger = browser.new_context().new_page()  # the same link, on another phone
            stranger.goto(link)
            stranger.locator("#status.problem").wait_for()
            assert "already used" in stranger.locator("#status").inner_text()
            assert stranger.locator("#pass").is_hidden()
        finally:
            browser.close()


def _next_code(page: Page, step: int) -> bytes:
    """Thirty seconds later on the page's clock: the code of the next step, as on screen."""
    page.clock.fast_forward(ROTATION_PERIOD_S * 1000)
    page.wait_for_function(
        "step => document.querySelector('#code').dataset.step === String(step)", arg=step + 1
    )
    return page.locator("#code").screenshot()
