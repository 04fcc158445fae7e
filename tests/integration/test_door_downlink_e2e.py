"""End to end through a door station: a manager assigns a supervisor through the API; the
room's station gets the new bundle over Mosquitto; the supervisor's tap is accepted and the
check-in reaches the coordinator; the assignment is removed, the next bundle arrives, and the
next tap is refused as not assigned here. Real broker, real PostgreSQL, the station's real
runtime on the simulated profile's fake hardware, and the real face check: the supervisor's
templates are enrolled through the coordinator's enrolment API from photos of scikit-image's
astronaut, and the station's fake camera shows that face moving like a live head (as
`edge-agent simulate` does), judged by the station's own face pipeline."""

import io
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from coordinator.api.app import create_app
from coordinator.bundles import keys
from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import Role
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.hardware.fakes import FakeCamera
from edge_agent.runtime import DEVICE_KEY_FILE, DoorAgent, load_door_profile
from edge_agent.simulate import Faces
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key
from tests.coordinator.campus import START, Campus, bearer, build_campus
from tests.fixtures.broker import Broker
from vision import FacePipeline

pytestmark = pytest.mark.integration
CARD = "04:A1:B2:C3:D4"
SIM_LATITUDE, SIM_LONGITUDE = 48.2082, 16.3738  # firmware_profiles/door-station-sim.yaml


def _until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def coordinator(broker: Broker, postgres_url: str) -> Iterator[tuple[TestClient, Campus, Settings]]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with make_sessionmaker(engine)() as session:
        campus = build_campus(session)
    engine.dispose()
    settings = Settings(
        database_url=postgres_url,
        mqtt_port=broker.port,
        bundle_debounce_s=0.1,
        bundle_poll_s=0.1,
        bundle_horizon_hours=24 * 14,  # the campus's sessions are days ahead of today
    )
    with TestClient(create_app(settings)) as client:
        yield client, campus, settings


def _new_supervisor(settings: Settings, campus: Campus) -> int:
    """A supervisor who also supervises later that day in another room of the same building
    (templates come later, through the enrolment API)."""
    engine = make_engine(settings.database_url)
    with Session(engine) as session, session.begin():
        user = m.User(
            email="newcomer@campus.test", full_name="New Supervisor", role=Role.SUPERVISOR,
            is_active=True, totp_confirmed=False,
        )  # fmt: skip
        session.add(user)
        session.flush()
        room = m.Room(building_id=campus.own.building.id, code="r-a2", name="Room A2", capacity=9)
        session.add(room)
        session.flush()
        later = m.ExamSession(
            exam_id=campus.exam.id, room_id=room.id, starts_at=START + timedelta(hours=5),
            ends_at=START + timedelta(hours=7),
        )  # fmt: skip
        session.add(later)
        session.flush()
        session.add(m.Assignment(session_id=later.id, supervisor_id=user.id, status="accepted"))
        user_id = user.id
    engine.dispose()
    return user_id


def _photos() -> list[tuple[str, tuple[str, bytes, str]]]:
    """Three framings of the astronaut's portrait, as a phone would take them, as PNG."""
    portrait = np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    files = []
    for number, (top, left) in enumerate(((0, 0), (12, 8), (6, 20)), 1):
        buffer = io.BytesIO()
        Image.fromarray(portrait[top : top + 460, left : left + 460]).save(buffer, format="PNG")
        files.append(("photos", (f"photo-{number}.png", buffer.getvalue(), "image/png")))
    return files


def _provision(settings: Settings, data_dir: Path) -> str:
    """What provisioning does: the device's key pair, and the coordinator's key to trust."""
    public = create_device_key(data_dir / DEVICE_KEY_FILE)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        keys.ensure_active_key(session, settings.secret_key)
        trusted = [(k.key_id, k.public_key) for k in keys.trusted_keys(session)]
    engine.dispose()
    store = BundleStore(data_dir / "bundle.sqlite3")
    for key_id, key in trusted:
        store.trust(key_id, key)
    store.close()
    return public


def _events(client: TestClient, headers: dict[str, str], kind: str) -> list[dict[str, Any]]:
    page = client.get("/api/v1/events", params={"kind": kind, "limit": 100}, headers=headers)
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_assign_tap_unassign_tap(
    coordinator: tuple[TestClient, Campus, Settings], broker: Broker, tmp_path: Path
) -> None:
    client, campus, settings = coordinator
    admin, manager = bearer(settings, campus.admin), bearer(settings, campus.manager)
    device_id, session_id = campus.own.device.id, campus.own.session.id
    supervisor_id = _new_supervisor(settings, campus)
    card = client.post("/api/v1/cards", json={"uid": CARD, "user_id": supervisor_id}, headers=admin)
    assert card.status_code == 201, card.text
    enrolled = client.post(
        f"/api/v1/users/{supervisor_id}/face-templates", files=_photos(), headers=admin
    )
    assert enrolled.status_code == 201, enrolled.text
    public = _provision(settings, tmp_path)
    registered = client.patch(
        f"/api/v1/devices/{device_id}", json={"public_key": public}, headers=admin
    )
    assert registered.status_code == 200, registered.text
    here = {"latitude": SIM_LATITUDE, "longitude": SIM_LONGITUDE}  # the simulated station's fix
    placed = client.patch(f"/api/v1/rooms/{campus.own.room.id}", json=here, headers=admin)
    assert placed.status_code == 200, placed.text

    config = AgentConfig(
        device_id=device_id, site=campus.site.code, profile="door-station-sim",
        data_dir=tmp_path, broker=BrokerConfig(port=broker.port), heartbeat_interval_s=300,
    )  # fmt: skip
    agent = DoorAgent(
        config,
        load_door_profile(config),
        wall_clock=lambda: START - timedelta(minutes=10),  # inside the check-in window
        is_clock_synced=lambda: True,
    )
    app = agent.app()
    app.start()
    assert isinstance(agent.verifier, FacePipeline)  # the station's own face check, not a script
    assert agent.parts is not None and isinstance(agent.parts.camera, FakeCamera)
    live = Faces.load(agent.verifier, agent.profile.thresholds.frames_per_attempt).live
    agent.parts.camera.show(*live)  # the supervisor in front of the door, turning their head
    stop = threading.Event()
    serving = threading.Thread(target=agent.serve_until, args=(stop,), daemon=True)
    serving.start()
    try:
        person = f"user-{supervisor_id}"
        assigned = client.post(
            "/api/v1/assignments",
            json={"session_id": session_id, "supervisor_id": supervisor_id},
            headers=manager,
        )
        assert assigned.status_code == 201, assigned.text
        _until(lambda: any(p.person_ref == person and p.assignments
                           for p in agent.current_book().people.values()),
               "the bundle with the new supervisor")  # fmt: skip
        assert agent.parts is not None and agent.parts.reader is not None
        agent.parts.reader.present(CARD)  # type: ignore[attr-defined]
        checked_in = _until(
            lambda: [e for e in _events(client, admin, "attendance")
                     if e["payload"]["person_ref"] == person],
            "the check-in on the coordinator",
        )  # fmt: skip
        assert checked_in[0]["payload"]["action"] == "check_in"
        assert checked_in[0]["payload"]["face_distance"] is not None  # a real comparison
        assert checked_in[0]["payload"]["assignment_ref"] == str(assigned.json()["id"])

        removed = client.delete(f"/api/v1/assignments/{assigned.json()['id']}", headers=manager)
        assert removed.status_code == 204, removed.text
        _until(lambda: any(p.person_ref == person and not p.assignments
                           for p in agent.current_book().people.values()),
               "the bundle without the assignment")  # fmt: skip
        agent.parts.reader.present(CARD)  # type: ignore[attr-defined]
        refused = _until(
            lambda: [e for e in _events(client, admin, "attempt")
                     if e["payload"]["subject_ref"] == person
                     and e["payload"]["outcome"] == "refused"],
            "the refused tap on the coordinator",
        )  # fmt: skip
        assert refused[0]["payload"]["reason"] == "no_assignment"
    finally:
        stop.set()
        serving.join(10)
        app.stop()
