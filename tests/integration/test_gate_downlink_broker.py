"""Gates and doors on the downlink through real parts (Mosquitto, PostgreSQL, the coordinator's
app with its ingest and builder, the stations' real runtimes with their MQTT links):

- two gates of one site receive their bundles; a student passes gate A; the coordinator stores
  the access and forwards the passage to gate B, which then refuses the same pass in the same
  direction as anti-passback;
- a gate obeys open (the turnstile relay), resync and config (heartbeat) from the API, and
  refuses a setting it does not take; the results reach the API;
- the pass is revoked on the coordinator; the gate's next bundle lists it and the next scan is
  refused as revoked;
- a door takes a config change within its profile's bounds and refuses one beyond them.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from coordinator.api.app import create_app
from coordinator.bundles import keys
from coordinator.bundles.passes import pass_text
from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import DeviceStatus
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from edge_agent.app import App
from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.gate_runtime import GateAgent
from edge_agent.profile import GateStationProfile, load_profile
from edge_agent.runtime import DEVICE_KEY_FILE, DoorAgent, load_door_profile
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key
from protocols import Direction, ReasonCode
from tests.coordinator.campus import Campus, bearer, build_campus
from tests.edge_agent.test_door_station import ScriptedVerifier
from tests.fixtures.broker import Broker
from vision import Reason

pytestmark = pytest.mark.integration
GATES = ("gate-a", "gate-b")


def _until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def coordinator(
    broker: Broker, postgres_url: str
) -> Iterator[tuple[TestClient, Campus, Settings, tuple[int, str]]]:
    """The campus with a gate device at each of its two gates and a pass valid today."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with make_sessionmaker(engine)() as session:
        campus = build_campus(session)
        for device_id, side in zip(GATES, (campus.own, campus.other), strict=True):
            session.add(
                m.Device(
                    id=device_id, site_id=campus.site.id, gate_id=side.gate.id,
                    profile="gate-station-sim", status=DeviceStatus.ACTIVE,
                )
            )  # fmt: skip
        student_pass = m.StudentPass(
            pass_ref=uuid.uuid4().hex, student_id=campus.student.id, zones=["main"],
            valid_from=datetime.now(UTC) - timedelta(days=1),
            valid_until=datetime.now(UTC) + timedelta(days=30),
        )  # fmt: skip
        session.add(student_pass)
        # The campus's gates keep weekday hours; these tests run any day, at any hour.
        session.execute(delete(m.GateTimeRule))
        session.commit()
        pass_id = student_pass.id
    engine.dispose()
    settings = Settings(
        database_url=postgres_url, mqtt_port=broker.port, bundle_debounce_s=0.1, bundle_poll_s=0.1
    )
    with TestClient(create_app(settings)) as client:
        yield client, campus, settings, (pass_id, _signed_pass(settings, pass_id))


def _signed_pass(settings: Settings, pass_id: int) -> str:
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        keys.ensure_active_key(session, settings.secret_key)
        text = pass_text(session, settings.secret_key, session.get_one(m.StudentPass, pass_id))
    engine.dispose()
    return text


def _provision(
    client: TestClient, settings: Settings, headers: dict[str, str], device_id: str, data: Path
) -> None:
    """What provisioning does: the device's key pair registered, the coordinator's keys trusted."""
    public = create_device_key(data / DEVICE_KEY_FILE)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        trusted = [(k.key_id, k.public_key) for k in keys.trusted_keys(session)]
    engine.dispose()
    store = BundleStore(data / "bundle.sqlite3")
    for key_id, key in trusted:
        store.trust(key_id, key)
    store.close()
    path = f"/api/v1/devices/{device_id}"
    answer = client.patch(path, json={"public_key": public}, headers=headers)
    assert answer.status_code == 200, answer.text


def _config(broker: Broker, device_id: str, site: str, data: Path, profile: str) -> AgentConfig:
    return AgentConfig(
        device_id=device_id, site=site, profile=profile, data_dir=data,
        broker=BrokerConfig(port=broker.port), heartbeat_interval_s=300,
    )  # fmt: skip


def _gate(broker: Broker, site: str, device_id: str, data: Path, skipped: list[float]) -> GateAgent:
    """A gate whose monotonic clock the test can move ahead by `skipped[0]` seconds."""
    config = _config(broker, device_id, site, data, "gate-station-sim")
    profile = load_profile(config.profile)
    assert isinstance(profile, GateStationProfile)
    return GateAgent(
        config,
        profile,
        is_clock_synced=lambda: True,
        monotonic=lambda: time.monotonic() + skipped[0],
    )


def _command(
    client: TestClient, headers: dict[str, str], device_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Send a command through the API and wait for the device's answer to reach it."""
    sent = client.post(f"/api/v1/devices/{device_id}/commands", json=body, headers=headers)
    assert sent.status_code == 201, sent.text

    def answered() -> dict[str, Any] | None:
        listed = client.get(f"/api/v1/devices/{device_id}/commands", headers=headers).json()
        found: dict[str, Any] = next(c for c in listed if c["id"] == sent.json()["id"])
        return None if found["status"] == "pending" else found

    answer: dict[str, Any] = _until(answered, f"the answer to {body['name']}")
    return answer


def _accesses(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = client.get("/api/v1/events", params={"kind": "access", "limit": 10}, headers=headers)
    items: list[dict[str, Any]] = sorted(page.json()["items"], key=lambda e: e["id"])
    return items if len(items) == 2 else []


def test_gates_share_passages_and_obey_commands(
    coordinator: tuple[TestClient, Campus, Settings, tuple[int, str]],
    broker: Broker,
    tmp_path: Path,
) -> None:
    client, campus, settings, (pass_id, text) = coordinator
    technician = bearer(settings, campus.technician)
    agents: list[GateAgent] = []
    apps: list[App] = []
    skipped = [0.0]
    try:
        for device_id in GATES:
            data = tmp_path / device_id
            data.mkdir()
            _provision(client, settings, technician, device_id, data)
            agent = _gate(broker, campus.site.code, device_id, data, skipped)
            apps.append(agent.app())
            apps[-1].start()
            agents.append(agent)
        gate_a, gate_b = agents
        _until(lambda: all(a.book() is not None for a in agents), "both gates' bundles")
        assert gate_a.station is not None and gate_b.station is not None

        granted = gate_a.station.present_code(text)
        assert granted is not None and granted.reason is ReasonCode.OK, granted
        holder = f"student-{campus.student.id}"
        _until(
            lambda: gate_b.passback.is_passback(  # type: ignore[union-attr]
                holder, Direction.IN, datetime.now(UTC)
            ),
            "the passage forwarded to gate B",
        )
        refused = gate_b.station.present_code(text)
        assert refused is not None and refused.reason is ReasonCode.ANTI_PASSBACK
        stored = _until(lambda: _accesses(client, technician), "both accesses on the coordinator")
        assert [(a["payload"]["reason"], a["refusal"]) for a in stored] == [
            ("ok", None),
            ("anti_passback", None),
        ]

        body: dict[str, Any] = {"name": "open", "reason": "jam", "hold_s": 4}
        opened = _command(client, technician, "gate-b", body)
        assert opened["status"] == "done", opened
        assert gate_b.parts is not None and gate_b.parts.relay is not None
        assert gate_b.parts.relay.is_unlocked
        resynced = _command(client, technician, "gate-b", {"name": "resync", "reason": "check"})
        assert resynced["status"] == "done", resynced  # the gate acknowledged its bundle again
        body = {"name": "config", "reason": "quieter", "settings": {"heartbeat_interval_s": 120}}
        changed = _command(client, technician, "gate-b", body)
        assert changed["status"] == "done" and gate_b.config.heartbeat_interval_s == 120
        body = {"name": "config", "reason": "wider", "settings": {"geofence_radius_m": 80}}
        refused_config = _command(client, technician, "gate-b", body)
        assert refused_config["status"] == "refused"
        assert "not a setting this station takes" in refused_config["detail"]

        # Revoked on the coordinator: the gate's next bundle lists it, the next scan is refused.
        admin = bearer(settings, campus.admin)
        revoked = client.post(
            f"/api/v1/passes/{pass_id}/revoke", json={"reason": "lost"}, headers=admin
        )
        assert revoked.status_code == 200, revoked.text
        pass_ref = revoked.json()["pass_ref"]
        _until(lambda: pass_ref in gate_a.station.book.revoked, "the revocation")  # type: ignore[union-attr]
        skipped[0] += 3  # a new showing, not the same code still held up (GateSettings.hold_s)
        again = gate_a.station.present_code(text)
        assert again is not None and again.reason is ReasonCode.PASS_REVOKED
    finally:
        for app in apps:
            app.stop()


def test_a_door_takes_config_within_its_profile_through_the_broker(
    coordinator: tuple[TestClient, Campus, Settings, tuple[int, str]],
    broker: Broker,
    tmp_path: Path,
) -> None:
    client, campus, settings, _ = coordinator
    technician = bearer(settings, campus.technician)
    device_id = campus.own.device.id
    _provision(client, settings, technician, device_id, tmp_path)
    config = _config(broker, device_id, campus.site.code, tmp_path, "door-station-sim")
    agent = DoorAgent(
        config,
        load_door_profile(config),
        make_verifier=lambda profile: ScriptedVerifier(Reason.MATCH),
        is_clock_synced=lambda: True,
    )
    app = agent.app()
    app.start()
    stop = threading.Event()
    serving = threading.Thread(target=agent.serve_until, args=(stop,), daemon=True)
    serving.start()
    try:
        body = {"name": "config", "reason": "tight room", "settings": {"geofence_radius_m": 40}}
        done = _command(client, technician, device_id, body)
        assert done["status"] == "done", done
        assert agent.station is not None and agent.station.policy.geofence_radius_m == 40
        # The API's bound for a radius is 100 km; this door's profile allows 50 km.
        body = {"name": "config", "reason": "huge", "settings": {"geofence_radius_m": 60_000}}
        refused = _command(client, technician, device_id, body)
        assert refused["status"] == "refused" and "50000" in refused["detail"], refused
        assert agent.station.policy.geofence_radius_m == 40
    finally:
        stop.set()
        serving.join(10)
        app.stop()
