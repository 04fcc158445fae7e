"""A door takes a `config` command within what its profile allows: the settings it names are
judged by the profile's (or the agent config's) own bounds, all or nothing, in force at once,
kept across a restart, and answered; anything else is refused with the reason. In-memory link;
through the real broker in tests/integration/test_gate_downlink_broker.py."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.remote_config import SETTINGS_FILE
from edge_agent.runtime import DoorAgent
from edge_agent.store.device_key import create_device_key
from protocols import (
    CommandName,
    CommandResult,
    CommandStatus,
    ConfigChange,
    Sender,
    ack_topic,
    command_topic,
    decode,
    encode,
)
from tests.edge_agent.test_gate_downlink import _wait
from tests.edge_agent.test_runtime import DEVICE, SITE, Links, _agent


def _send(agent: DoorAgent, links: Links, settings: dict[str, object]) -> CommandResult:
    command = ConfigChange(command_id=uuid.uuid4(), settings=settings)
    assert links.link is not None
    links.link.deliver(
        command_topic(SITE, DEVICE, CommandName.CONFIG),
        encode(Sender(DEVICE).sequenced(command)),
    )

    def answer() -> list[CommandResult]:
        return [
            p
            for m in links.link.on(ack_topic(SITE, DEVICE))  # type: ignore[union-attr]
            if isinstance(p := decode(m.body).payload, CommandResult)
            and p.command_id == command.command_id
        ]

    assert _wait(lambda: bool(answer()))
    return answer()[0]


@pytest.fixture
def door(tmp_path: Path) -> Iterator[tuple[DoorAgent, Links]]:
    create_device_key(tmp_path / "device-key.pem")
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    yield agent, links
    app.stop()


def test_settings_within_the_profile_are_applied_at_once(door: tuple[DoorAgent, Links]) -> None:
    agent, links = door
    result = _send(agent, links, {"geofence_radius_m": 40, "frames_per_attempt": 3})
    assert result.status is CommandStatus.DONE
    assert result.detail == "settings changed: frames_per_attempt=3, geofence_radius_m=40"
    assert agent.station is not None
    assert agent.station.policy.geofence_radius_m == 40 and agent.station.policy.frames == 3
    result = _send(agent, links, {"heartbeat_interval_s": 7.5})
    assert result.status is CommandStatus.DONE and agent.config.heartbeat_interval_s == 7.5


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"geofence_radius_m": 60_000}, "less than or equal to 50000"),
        ({"geofence_radius_m": -1}, "greater than 0"),
        ({"frames_per_attempt": 31}, "less than or equal to 30"),
        ({"heartbeat_interval_s": 10**9}, "less than or equal to 86400"),
        ({"geofence_radius_m": "far"}, "must be a number"),
        ({"face_distance_max": 1.5}, "calibration"),
        ({"check_in_before_s": 60}, "comes with the bundle"),
        ({"pin_relay": 4}, "not a setting this station takes"),
        ({"frames_per_attempt": 3, "geofence_radius_m": 0}, "greater than 0"),
    ],
)
def test_out_of_bounds_or_unknown_settings_are_refused_and_change_nothing(
    door: tuple[DoorAgent, Links], settings: dict[str, object], words: str
) -> None:
    agent, links = door
    assert agent.station is not None
    before = agent.station.policy
    result = _send(agent, links, settings)
    assert result.status is CommandStatus.REFUSED and words in (result.detail or ""), result
    assert agent.station.policy == before  # all or nothing
    assert not (agent.config.data_dir / SETTINGS_FILE).exists()


def test_accepted_settings_outlive_a_restart(tmp_path: Path) -> None:
    create_device_key(tmp_path / "device-key.pem")
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert _send(agent, links, {"geofence_radius_m": 42}).status is CommandStatus.DONE
    finally:
        app.stop()
    again, _ = _agent(tmp_path)
    app = again.app()
    app.start()
    try:
        assert again.station is not None and again.station.policy.geofence_radius_m == 42
    finally:
        app.stop()


def test_a_change_that_cannot_be_kept_is_not_made(door: tuple[DoorAgent, Links]) -> None:
    agent, links = door
    assert agent.station is not None
    (agent.config.data_dir / SETTINGS_FILE).with_suffix(".tmp").mkdir()  # the write will fail
    result = _send(agent, links, {"geofence_radius_m": 40})
    assert result.status is CommandStatus.FAILED and "IsADirectoryError" in (result.detail or "")
    assert agent.station.policy.geofence_radius_m != 40
