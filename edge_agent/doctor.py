"""`edge-agent doctor`: check what a station needs, one line per check, with the fix for each.

Checks, in the order a technician would fix them: the config and firmware profile, each
hardware part the profile names, the face models and TFLite runtime, the clock, the data folder
and the broker connection. Nothing is changed on the device.
"""

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edge_agent.clock import kernel_clock_synced
from edge_agent.config import AgentConfig
from edge_agent.errors import EdgeError
from edge_agent.hardware.factory import probe_parts
from edge_agent.link.base import Connected, LinkEvent
from edge_agent.profile import DoorStationProfile, GateStationProfile, load_profile

BROKER_WAIT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One check's result: what was checked, whether it is fine, and what to do if not."""

    check: str
    is_ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.is_ok else 'FAIL'}  {self.check}: {self.detail}"


def examine(config: AgentConfig, *, broker_wait_s: float = BROKER_WAIT_S) -> Iterator[Finding]:
    """Every check's finding; a failed profile stops the checks that need it."""
    try:
        profile = load_profile(config.profile)
    except EdgeError as error:
        yield Finding("firmware profile", False, str(error))
        return
    yield Finding("firmware profile", True, f"{profile.name} ({profile.station} station)")
    yield from _hardware(profile)
    yield _models(profile)
    yield _clock()
    yield _data_dir(config)
    yield _broker(config, broker_wait_s)


def _hardware(profile: DoorStationProfile | GateStationProfile) -> Iterator[Finding]:
    """Each part opened on its own, so every broken part is reported, not just the first."""
    for check in probe_parts(profile):
        yield Finding(f"hardware {check.part}", check.is_ok, check.detail)


def _models(profile: DoorStationProfile | GateStationProfile) -> Finding:
    try:
        from vision import FacePipeline, VisionError  # noqa: PLC0415 - slow, only when asked
    except ImportError as error:
        return Finding("face models", False, f"{error}; fix: pip install '.[agent,vision]'")
    try:
        FacePipeline(settings=profile.vision_settings())
    except VisionError as error:
        return Finding("face models", False, str(error))
    return Finding("face models", True, "detector and embedder load on the TFLite runtime")


def _clock() -> Finding:
    synced = kernel_clock_synced()
    if synced:
        return Finding("clock", True, "synchronised by NTP (chrony or timesyncd)")
    state = "not synchronised" if synced is False else "sync state unknown"
    return Finding(
        "clock",
        False,
        f"{state}; events will be flagged clock_unsynced; fix: enable chrony or "
        "systemd-timesyncd and check `timedatectl` shows 'System clock synchronized: yes'",
    )


def _data_dir(config: AgentConfig) -> Finding:
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        probe = config.data_dir / ".doctor-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        return Finding(
            "data folder",
            False,
            f"{config.data_dir} is not writable ({error.strerror}); fix: create it and give it "
            "to the agent's user (deploy/edge-agent.service runs as edge-agent)",
        )
    return Finding("data folder", True, f"{config.data_dir} is writable")


def _broker(config: AgentConfig, wait_s: float) -> Finding:
    from edge_agent.link.mqtt import MqttLink  # noqa: PLC0415 - paho only for this check

    events: queue.Queue[LinkEvent] = queue.Queue()
    where = f"{config.broker.host}:{config.broker.port}"
    link = MqttLink(config.broker, f"{config.device_id}-doctor", None, events.put)
    link.start()
    try:
        return _wait_connected(events.get, wait_s, where)
    finally:
        link.stop()


def _wait_connected(get: Callable[..., LinkEvent], wait_s: float, where: str) -> Finding:
    try:
        event = get(timeout=wait_s)
    except queue.Empty:
        return Finding(
            "broker",
            False,
            f"no answer from {where} within {wait_s:.0f} s, or it refused the credentials; "
            "fix: check broker.host/port, the network and the device's password",
        )
    if isinstance(event, Connected):
        return Finding("broker", True, f"connected to {where}")
    return Finding("broker", False, f"{where}: {event}")
