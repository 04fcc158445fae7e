"""The door station's runtime on the simulated profile: ordered start, reverse stop, heartbeats,
its own command topic, the full-outbox alarm, and systemd's notify socket. In-memory link."""

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge_agent.app import App, Step
from edge_agent.config import AgentConfig
from edge_agent.link.base import LinkEvent, Will
from edge_agent.link.fake import FakeLink
from edge_agent.profile import DoorStationProfile
from edge_agent.runtime import DoorAgent, load_door_profile
from edge_agent.systemd import Every, Notifier
from protocols import (
    Attendance,
    Channel,
    CommandName,
    Death,
    DeathCause,
    EventKind,
    Heartbeat,
    OpenDoor,
    Sender,
    command_topic,
    coordinator_state_filter,
    decode,
    device_command_filter,
    encode,
    event_topic,
    parse_topic,
    receipt_topic,
    state_topic,
)
from tests.edge_agent.test_door_station import CARD, SUPERVISOR, ScriptedVerifier, _hash
from vision import Reason

SITE = "main"
DEVICE = "door-01"


class Links:
    """Makes FakeLinks and keeps the one the agent got."""

    link: FakeLink | None = None

    def __call__(self, will: Will, notify: Callable[[LinkEvent], object]) -> FakeLink:
        self.link = FakeLink(notify, will=will)
        return self.link


def _agent(tmp_path: Path, **changes: object) -> tuple[DoorAgent, Links]:
    from edge_agent.stations.book import DoorBook

    config = AgentConfig(
        device_id=DEVICE,
        site=SITE,
        profile="door-station-sim",
        data_dir=tmp_path,
        heartbeat_interval_s=30,
        **changes,
    )
    links = Links()
    book = DoorBook(hash_card=_hash, people={_hash(CARD): SUPERVISOR})
    agent = DoorAgent(
        config,
        load_door_profile(config),
        book=lambda: book,
        make_link=links,
        make_verifier=lambda profile: ScriptedVerifier(Reason.MATCH),
        wall_clock=lambda: datetime(2026, 6, 1, 8, 50, tzinfo=UTC),
        is_clock_synced=lambda: True,
    )
    return agent, links


def _stop_after(agent: DoorAgent, passes: int) -> threading.Event:
    """A stop event that fires after the serve loop has made `passes` passes."""
    stop = threading.Event()
    assert agent.station is not None
    serve = agent.station.serve
    count = 0

    def counting(timeout_s: float) -> object:
        nonlocal count
        count += 1
        if count >= passes:
            stop.set()
        return serve(0)

    agent.station.serve = counting  # type: ignore[method-assign,assignment]
    return stop


def test_the_app_starts_in_order_and_stops_in_reverse(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    assert app.started == ["store", "hardware", "face models", "link", "station", "tamper watch"]
    assert links.link is not None and links.link.filters == [
        receipt_topic(SITE, DEVICE),
        coordinator_state_filter(),
        device_command_filter(SITE, DEVICE),
    ]
    app.stop()
    assert app.started == []
    assert links.link.is_stopped


def test_a_failing_step_stops_the_ones_already_started() -> None:
    done: list[str] = []

    def fail() -> None:
        raise RuntimeError("no camera")

    app = App(
        [
            Step("a", lambda: done.append("start a"), lambda: done.append("stop a")),
            Step("b", lambda: done.append("start b"), lambda: done.append("stop b")),
            Step("c", fail, lambda: done.append("stop c")),
        ]
    )
    with pytest.raises(RuntimeError, match="no camera"):
        app.start()
    assert done == ["start a", "start b", "stop b", "stop a"]


def test_a_failing_stop_does_not_keep_the_rest_running() -> None:
    done: list[str] = []

    def fail() -> None:
        raise OSError("stuck")

    app = App(
        [Step("a", lambda: None, lambda: done.append("stop a")), Step("b", lambda: None, fail)]
    )
    app.start()
    app.stop()
    assert done == ["stop a"]


def test_the_served_loop_decides_taps_and_sends_heartbeats(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert agent.parts is not None and agent.parts.reader is not None
        agent.parts.reader.present(CARD)  # type: ignore[attr-defined]
        agent.serve_until(_stop_after(agent, 3))
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
    finally:
        app.stop()
    assert links.link is not None
    kinds = {
        type(decode(message.body).payload)
        for message in links.link.sent
        if parse_topic(message.topic).channel is Channel.EVENT
    }
    assert {Attendance, Heartbeat} <= kinds
    goodbye = decode(links.link.on(state_topic(SITE, DEVICE))[-1].body)
    assert goodbye.payload == Death(cause=DeathCause.SHUTDOWN)


def test_heartbeats_report_the_clock_offset_from_the_coordinator(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        coordinator_clock = datetime(2026, 6, 1, 8, 50, tzinfo=UTC) - timedelta(seconds=2.5)
        command = Sender(DEVICE, wall_clock=lambda: coordinator_clock).sequenced(
            OpenDoor(command_id="00000000-0000-7000-8000-000000000001")
        )
        assert links.link is not None
        links.link.deliver(command_topic(SITE, DEVICE, CommandName.OPEN), encode(command))
        links.link.deliver(command_topic(SITE, DEVICE, CommandName.OPEN), b"\x00garbage")
        assert agent.uplink is not None
        agent.uplink.wait_sent(5)
        waited = threading.Event()
        for _ in range(500):  # the uplink thread handles the command; bounded wait for it
            if agent.clock_offset.seconds is not None or waited.wait(0.01):
                break
        agent.send_heartbeat()
        agent.uplink.wait_sent(5)
    finally:
        app.stop()
    heartbeat = decode(links.link.on(event_topic(SITE, DEVICE, EventKind.HEARTBEAT))[-1].body)
    assert isinstance(heartbeat.payload, Heartbeat)
    assert heartbeat.payload.health.clock_offset_s == 2.5
    assert not heartbeat.clock_unsynced


def test_events_stamped_while_the_clock_is_unsynced_are_flagged(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    agent.is_clock_synced = lambda: False
    app = agent.app()
    app.start()
    try:
        agent.send_heartbeat()
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
    finally:
        app.stop()
    assert links.link is not None
    (heartbeat,) = links.link.on(event_topic(SITE, DEVICE, EventKind.HEARTBEAT))
    assert decode(heartbeat.body).clock_unsynced


def test_a_full_outbox_sounds_the_alarm_and_sets_the_health_flag(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path, outbox_max_items=100)
    app = agent.app()
    app.start()
    try:
        assert links.link is not None and agent.outbox is not None
        links.link.go_offline()
        for _ in range(101):
            agent.parts.reader.present("DEADBEEF")  # type: ignore[union-attr]
            agent.station.serve(0)  # type: ignore[union-attr]
        agent._sound_alarm_if_full()
        assert agent.parts is not None and agent.parts.leds["amber"].is_lit
        agent.send_heartbeat()
        assert agent.outbox.count() == 101  # every refusal kept, the heartbeat dropped
        links.link.go_online()
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
        links.link.receipt_sent()  # the coordinator stored them: only now do they leave
        assert agent.uplink.wait_drained(5)
        agent._sound_alarm_if_full()
        assert not agent.parts.leds["amber"].is_lit
    finally:
        app.stop()


def test_the_notifier_speaks_systemd_s_protocol(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert notifier.watchdog_interval_s == 2.0
        notifier.ready("serving")
        notifier.watchdog()
        notifier.stopping()
        said = [server.recv(256) for _ in range(3)]
    assert said == [b"READY=1\nSTATUS=serving", b"WATCHDOG=1", b"STOPPING=1"]


def test_outside_systemd_the_notifier_does_nothing() -> None:
    notifier = Notifier({})
    assert not notifier.is_active and notifier.watchdog_interval_s is None
    notifier.ready()


def test_every_is_due_once_per_interval() -> None:
    now = [0.0]
    every = Every(10, lambda: now[0], at_once=True)
    seen = []
    for step in range(25):
        now[0] = float(step)
        seen.append(every.is_due())
    assert [i for i, due in enumerate(seen) if due] == [0, 10, 20]


def test_a_gate_profile_is_refused_by_run_with_the_fix(tmp_path: Path) -> None:
    from edge_agent.errors import ConfigError

    config = AgentConfig(device_id=DEVICE, site=SITE, profile="gate-station-pi5", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="fix: name a door-station profile"):
        load_door_profile(config)


def test_the_sim_profile_is_a_door_profile() -> None:
    config = AgentConfig(
        device_id=DEVICE, site=SITE, profile="door-station-sim", data_dir=Path("/nonexistent")
    )
    assert isinstance(load_door_profile(config), DoorStationProfile)


def _violations(links: Links) -> list[str]:
    assert links.link is not None
    return [
        decode(message.body).payload.detail or ""  # type: ignore[union-attr]
        for message in links.link.on(event_topic(SITE, DEVICE, EventKind.VIOLATION))
    ]


def test_a_door_forced_open_is_reported_and_a_granted_one_is_not(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert agent.parts is not None and agent.station is not None
        contact = agent.parts.pin_factory.pin(24)  # the sim profile's reed switch, pulled up
        agent.parts.reader.present(CARD)  # type: ignore[union-attr]
        assert agent.station.serve(0).is_accepted  # type: ignore[union-attr]
        contact.drive_high()  # opened within the granted pulse
        contact.drive_low()
        agent.report_tamper()
        granted = [v for v in _violations(links) if v.startswith("door_")]
        contact.drive_high()  # opened again with no decision: forced
        agent.report_tamper()
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
    finally:
        app.stop()
    assert granted == []
    forced = [v for v in _violations(links) if v.startswith("door_forced_open")]
    assert len(forced) == 1


def test_a_covered_camera_is_reported_as_tamper(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert agent.parts is not None
        camera = agent.parts.camera
        assert camera is not None
        camera.show(np.zeros((480, 640, 3), dtype=np.uint8))  # type: ignore[attr-defined]
        for _ in range(5):  # a finding needs several frames in a row
            assert agent.tamper is not None
            agent.tamper._camera_due = 0.0
            agent.report_tamper()
        assert agent.uplink is not None and agent.uplink.wait_sent(5)
    finally:
        app.stop()
    assert any(v.startswith("camera_covered") for v in _violations(links))
