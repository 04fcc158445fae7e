"""A student's pass from application to revocation, through real parts: Mosquitto, PostgreSQL,
the coordinator's app (API, ingest, bundle builder), and a gate station's real runtime whose fake
camera is shown the pass's QR code as the coordinator renders it for printing.

A manager enters and submits the student's application and approves it, which issues the pass;
the printed QR, shown to the gate's camera, opens the gate and the access appears on the
coordinator; the pass is revoked, the gate's next bundle lists it, and the next showing is
refused as revoked, which the coordinator stores too.
"""

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import delete

from coordinator.api.app import create_app
from coordinator.bundles import keys
from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import DeviceStatus
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from edge_agent.gate_runtime import GateAgent
from edge_agent.hardware.fakes import FakeCamera
from tests.coordinator.campus import Campus, bearer, build_campus
from tests.fixtures.broker import Broker
from tests.integration.test_gate_downlink_broker import _gate, _provision, _until

pytestmark = pytest.mark.integration
GATE = "gate-a"
BLANK = np.full((480, 640, 3), 255, dtype=np.uint8)


@pytest.fixture
def coordinator(broker: Broker, postgres_url: str) -> Iterator[tuple[TestClient, Campus, Settings]]:
    """The campus with a gate device at its own building's gate; no pass yet."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with make_sessionmaker(engine)() as session:
        campus = build_campus(session)
        session.add(
            m.Device(
                id=GATE, site_id=campus.site.id, gate_id=campus.own.gate.id,
                profile="gate-station-sim", status=DeviceStatus.ACTIVE,
            )
        )  # fmt: skip
        # The campus's gates keep weekday hours; these tests run any day, at any hour.
        session.execute(delete(m.GateTimeRule))
        session.commit()
    engine.dispose()
    settings = Settings(
        database_url=postgres_url, mqtt_port=broker.port, bundle_debounce_s=0.1, bundle_poll_s=0.1
    )
    with make_sessionmaker(make_engine(postgres_url)).begin() as session:
        keys.ensure_active_key(session, settings.secret_key)  # `coordinator keys`, before devices
    with TestClient(create_app(settings)) as client:
        yield client, campus, settings


def _frame_of(png: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The printed code as a 640x480 camera sees it held up: on white, filling most of the frame."""
    code = Image.open(io.BytesIO(png)).convert("RGB")
    code.thumbnail((440, 440))
    frame = Image.fromarray(BLANK)
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    return np.asarray(frame, dtype=np.uint8)


def _accesses(client: TestClient, headers: dict[str, str], pass_id: int) -> list[dict[str, Any]]:
    page = client.get("/api/v1/access-logs", params={"limit": 50}, headers=headers)
    assert page.status_code == 200, page.text
    return [a for a in page.json()["items"] if a["pass_id"] == pass_id]


def _approved_pass(client: TestClient, campus: Campus, manager: dict[str, str]) -> dict[str, Any]:
    """The manager enters the student's application, submits it and approves it."""
    now = datetime.now(UTC)
    drafted = client.post(
        "/api/v1/pass-applications",
        json={
            "student_id": campus.student.id, "building_id": campus.own.building.id,
            "zones": ["main"], "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
        },
        headers=manager,
    )  # fmt: skip
    assert drafted.status_code == 201, drafted.text
    application = drafted.json()["id"]
    submitted = client.post(f"/api/v1/pass-applications/{application}/submit", headers=manager)
    assert submitted.status_code == 200, submitted.text
    approved = client.post(f"/api/v1/pass-applications/{application}/approve", headers=manager)
    assert approved.status_code == 201, approved.text
    issued: dict[str, Any] = approved.json()
    return issued


def test_a_pass_from_application_to_revocation_at_a_gate(
    coordinator: tuple[TestClient, Campus, Settings], broker: Broker, tmp_path: Path
) -> None:
    client, campus, settings = coordinator
    manager, technician = bearer(settings, campus.manager), bearer(settings, campus.technician)
    _provision(client, settings, technician, GATE, tmp_path)
    skipped = [0.0]
    gate: GateAgent = _gate(broker, campus.site.code, GATE, tmp_path, skipped)
    app = gate.app()
    app.start()
    stop = threading.Event()
    serving: threading.Thread | None = None
    try:
        _until(lambda: gate.book() is not None, "the gate's first bundle")
        assert gate.parts is not None
        camera = gate.parts.camera  # the gate-station-sim profile reads passes off the camera
        assert isinstance(camera, FakeCamera)
        camera.show(BLANK)
        serving = threading.Thread(target=gate.serve_until, args=(stop,), daemon=True)
        serving.start()

        issued = _approved_pass(client, campus, manager)
        png = client.get(f"/api/v1/passes/{issued['id']}/qr.png", headers=manager)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        camera.show(_frame_of(png.content))
        granted = _until(
            lambda: _accesses(client, manager, issued["id"]), "the gate's access on the coordinator"
        )
        assert [(a["decision"], a["reason"], a["device_id"]) for a in granted] == [
            ("granted", "ok", GATE)
        ]
        camera.show(BLANK)

        revoked = client.post(
            f"/api/v1/passes/{issued['id']}/revoke", json={"reason": "lost"}, headers=manager
        )
        assert revoked.status_code == 200, revoked.text
        _until(
            lambda: issued["pass_ref"] in gate.station.book.revoked,  # type: ignore[union-attr]
            "the revocation in the gate's bundle",
        )
        skipped[0] += 10  # a new showing, past the hold that merges one held-up pass into one
        camera.show(_frame_of(png.content))

        def refused() -> list[dict[str, Any]]:
            return [a for a in _accesses(client, manager, issued["id"]) if a["reason"] != "ok"]

        assert [(a["decision"], a["reason"]) for a in _until(refused, "the refusal stored")] == [
            ("denied", "pass_revoked")
        ]
    finally:
        stop.set()
        if serving is not None:
            serving.join(10)
        app.stop()
