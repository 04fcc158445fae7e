"""Settings the coordinator may change with a `config` command, within the device's own bounds.

Which settings a station takes is a table per kind of station (`DOOR_SETTINGS`,
`GATE_SETTINGS`), each naming where the setting lives: the agent config (`heartbeat_interval_s`)
or the firmware profile's thresholds. The new value is judged by that model's own field rules,
so a value the profile or the config file could not hold is refused too, with the rule it
breaks. A change is all or nothing; accepted settings are kept in `remote-settings.json` in the
data folder (written atomically) and applied again at the next start, until the next change.

Face thresholds are not remote settings on purpose: they are the face model's calibration,
shipped in the firmware profile, and loosening them from afar would weaken every check-in.
"""

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from edge_agent.config import AgentConfig
from edge_agent.link.downlink import CommandRefusedError
from edge_agent.profile import Thresholds

log = logging.getLogger(__name__)

SETTINGS_FILE = "remote-settings.json"
Value = str | int | float | bool
M = TypeVar("M", bound=BaseModel)


class Home(StrEnum):
    """Where a setting lives."""

    CONFIG = "config"
    THRESHOLDS = "thresholds"


DOOR_SETTINGS: Mapping[str, Home] = {
    "heartbeat_interval_s": Home.CONFIG,
    "geofence_radius_m": Home.THRESHOLDS,
    "frames_per_attempt": Home.THRESHOLDS,
}
GATE_SETTINGS: Mapping[str, Home] = {"heartbeat_interval_s": Home.CONFIG}

_CALIBRATION = "is the face model's calibration in the firmware profile; change the profile"
_FROM_BUNDLE = "comes with the bundle from the coordinator, not from a config command"
WHY_NOT: Mapping[str, str] = {
    "face_distance_max": _CALIBRATION,
    "face_unknown_margin": _CALIBRATION,
    "liveness_min": _CALIBRATION,
    "check_in_before_s": _FROM_BUNDLE,
    "check_in_after_s": _FROM_BUNDLE,
}


@dataclass(frozen=True)
class Tunables:
    """What a remote setting can change: the agent config and the profile's thresholds."""

    config: AgentConfig
    thresholds: Thresholds


def change(current: Tunables, settings: Mapping[str, Value], table: Mapping[str, Home]) -> Tunables:
    """The tunables with `settings` applied; CommandRefusedError names the first refusal."""
    if not settings:
        raise CommandRefusedError("a config command must name at least one setting")
    updates: dict[Home, dict[str, Value]] = {Home.CONFIG: {}, Home.THRESHOLDS: {}}
    for name, value in settings.items():
        home = table.get(name)
        if home is None:
            why = WHY_NOT.get(name) or (
                f"is not a setting this station takes (it takes: {', '.join(sorted(table))})"
            )
            raise CommandRefusedError(f"{name[:64]!r} {why}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandRefusedError(f"{name} must be a number, got {str(value)[:40]!r}")
        updates[home][name] = value
    return Tunables(
        config=_judged(current.config, updates[Home.CONFIG]),
        thresholds=_judged(current.thresholds, updates[Home.THRESHOLDS]),
    )


def _judged(model: M, updates: Mapping[str, Value]) -> M:
    """`model` with `updates`, validated by the model's own rules (bounds, cross-field checks)."""
    if not updates:
        return model
    try:
        return type(model).model_validate(model.model_dump() | dict(updates))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise CommandRefusedError(
            f"{where}={first.get('input')!r} is outside what this device allows: {first['msg']}"
        ) from None


class SettingsFile:
    """The accepted remote settings, kept across restarts (atomic replace, fsynced)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SETTINGS_FILE

    def load(self) -> dict[str, Value]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.error("ignoring unreadable %s: %s", self.path, error)
            return {}
        if not isinstance(raw, dict):
            log.error("ignoring %s: not an object of settings", self.path)
            return {}
        return {str(k): v for k, v in raw.items() if isinstance(v, int | float | str | bool)}

    def save(self, settings: Mapping[str, Value]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(dict(settings), handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)


@dataclass
class RemoteSettings:
    """A station's tunables: the configured ones with the accepted remote settings on top."""

    base: Tunables
    table: Mapping[str, Home]
    file: SettingsFile

    def __post_init__(self) -> None:
        self.current = self.base
        kept = self.file.load()
        try:
            self.current = change(self.base, kept, self.table) if kept else self.base
            self._kept = kept
        except CommandRefusedError as error:  # the profile changed under them: start clean
            log.error("remote settings in %s no longer fit; not applied: %s", self.file.path, error)
            self._kept = {}

    def apply(self, settings: Mapping[str, Value]) -> str:
        """Judge, keep and take `settings`; returns what changed, for the command result."""
        changed = change(self.current, settings, self.table)
        kept = self._kept | dict(settings)
        self.file.save(kept)  # kept first: a change that cannot be kept is not made
        self.current, self._kept = changed, kept
        return "settings changed: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
