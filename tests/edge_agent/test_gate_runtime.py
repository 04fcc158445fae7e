"""The gate station's runtime on the simulated profile: a pass shown to its fake camera opens the
gate, the access event reaches the (in-memory) broker, the anti-passback store is on disk."""

import threading
from datetime import timedelta
from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.gate_runtime import PASSBACK_FILE, GateAgent
from edge_agent.hardware.fakes import FakeCamera
from edge_agent.profile import GateStationProfile, load_profile
from protocols import Access, AccessDecision, Channel, Direction, ReasonCode, decode, parse_topic
from tests.edge_agent.hardware.qr_frames import frame_with
from tests.edge_agent.stations.gate_kit import HOLDER, NOW, book, static_pass
from tests.edge_agent.test_runtime import Links

SITE = "north"
DEVICE = "gate-01"


def _agent(tmp_path: Path) -> tuple[GateAgent, Links]:
    config = AgentConfig(device_id=DEVICE, site=SITE, profile="gate-station-sim", data_dir=tmp_path)
    profile = load_profile(config.profile)
    assert isinstance(profile, GateStationProfile)
    links = Links()
    gate_book = book()
    agent = GateAgent(
        config,
        profile,
        book=lambda: gate_book,
        make_link=links,
        wall_clock=lambda: NOW,
        is_clock_synced=lambda: True,
    )
    return agent, links


def _stop_after(agent: GateAgent, passes: int) -> threading.Event:
    """A stop event that fires after the serve loop has polled `passes` times."""
    stop = threading.Event()
    assert agent.station is not None
    poll = agent.station.poll
    count = 0

    def counting(timeout_s: float) -> object:
        nonlocal count
        count += 1
        if count >= passes:
            stop.set()
        return poll(0)

    agent.station.poll = counting  # type: ignore[method-assign,assignment]
    return stop


def test_a_pass_at_the_camera_opens_the_gate_and_reaches_the_broker(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert app.started == ["store", "hardware", "link", "station"]
        assert agent.parts is not None and isinstance(agent.parts.camera, FakeCamera)
        agent.parts.camera.show(frame_with(static_pass()))
        agent.serve_until(_stop_after(agent, 5))
        assert agent.parts.relay is not None and agent.parts.relay.is_unlocked
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
    finally:
        app.stop()
    assert links.link is not None
    accesses = [
        payload
        for message in links.link.sent
        if parse_topic(message.topic).channel is Channel.EVENT
        and isinstance(payload := decode(message.body).payload, Access)
    ]
    assert [(a.decision, a.reason, a.subject_ref) for a in accesses] == [
        (AccessDecision.GRANTED, ReasonCode.OK, HOLDER)
    ]
    assert (tmp_path / PASSBACK_FILE).exists()


def test_anti_passback_survives_a_restart_of_the_agent(tmp_path: Path) -> None:
    for expected in (ReasonCode.OK, ReasonCode.ANTI_PASSBACK):
        agent, _ = _agent(tmp_path)
        app = agent.app()
        app.start()
        try:
            assert agent.station is not None and agent.passback is not None
            decision = agent.station.present_code(static_pass())
            assert decision is not None and decision.reason is expected
            assert agent.passback.is_passback(HOLDER, Direction.IN, NOW + timedelta(minutes=1))
        finally:
            app.stop()
