"""Simulated devices: real outboxes and real MQTT links, scripted people instead of hardware."""

import itertools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.device import Device, open_device
from edge_agent.errors import ConfigError
from protocols import Attendance, AttendanceAction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationPlan:
    """How many devices, and what each does: `attendance` check-ins/outs and `heartbeats`.

    With `forever`, devices keep going (one attendance per interval, heartbeats every
    `heartbeat_every` intervals) until stopped; otherwise they stop once everything is acked.
    """

    devices: int
    site: str
    data_dir: Path
    broker: BrokerConfig
    credentials: dict[str, str]
    attendance: int = 3
    heartbeats: int = 1
    interval_s: float = 1.0
    heartbeat_every: int = 5
    forever: bool = False
    id_prefix: str = "sim"


@dataclass(frozen=True)
class DeviceReport:
    device_id: str
    recorded: int
    left_in_outbox: int


def device_ids(plan: SimulationPlan) -> list[str]:
    return [f"{plan.id_prefix}-{number:02d}" for number in range(1, plan.devices + 1)]


def device_config(plan: SimulationPlan, device_id: str) -> AgentConfig:
    password = plan.credentials.get(device_id)
    broker = plan.broker.model_copy(
        update={"username": device_id, "password": SecretStr(password)} if password else {}
    )
    return AgentConfig(
        device_id=device_id,
        site=plan.site,
        profile="door-station",
        data_dir=plan.data_dir / device_id,
        broker=broker,
    )


def run_simulation(
    plan: SimulationPlan, stop: threading.Event, drain_timeout_s: float = 30
) -> list[DeviceReport]:
    """Run every device's script; returns what each recorded and what it could not deliver."""
    devices = [open_device(device_config(plan, device_id)) for device_id in device_ids(plan)]
    recorded = dict.fromkeys(device_ids(plan), 0)
    try:
        for number, step in enumerate(_steps(plan)):
            if stop.wait(plan.interval_s):
                break
            for device in devices:
                _act(device, step, number)
                recorded[device.config.device_id] += 1
        for device in devices:
            device.uplink.wait_drained(drain_timeout_s)
        return [
            DeviceReport(d.config.device_id, recorded[d.config.device_id], d.outbox.count())
            for d in devices
        ]
    finally:
        for device in devices:
            device.close()


def _steps(plan: SimulationPlan) -> Iterator[str]:
    if plan.forever:
        for tick in itertools.count():
            yield "heartbeat" if tick % plan.heartbeat_every == 0 else "attendance"
    yield from ["heartbeat"] * min(plan.heartbeats, 1)
    yield from ["attendance"] * plan.attendance
    yield from ["heartbeat"] * max(plan.heartbeats - 1, 0)


def _act(device: Device, step: str, number: int) -> None:
    if step == "heartbeat":
        device.send_heartbeat()
        return
    action = AttendanceAction.CHECK_IN if number % 2 else AttendanceAction.CHECK_OUT
    device.uplink.record(
        Attendance(action=action, person_ref=f"supervisor-{device.config.device_id}")
    )


def read_credentials(path: Path | None) -> dict[str, str]:
    """`device_id password` per line; blank lines and # comments are ignored."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read credentials {path}: {error.strerror}") from None
    credentials = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{number}: expected 'device_id password'")
        credentials[parts[0]] = parts[1]
    return credentials
