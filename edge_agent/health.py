"""Sampling a device's vital signs for heartbeats, from /proc and /sys where they exist."""

import os
import shutil
from pathlib import Path

from edge_agent.clock import kernel_clock_synced
from protocols import ClockSync, Health

_THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
_MEMINFO = Path("/proc/meminfo")
_CLOCK_SYNC = {True: ClockSync.SYNCED, False: ClockSync.UNSYNCED, None: ClockSync.UNKNOWN}


def sample_health(
    *,
    data_dir: Path,
    agent_version: str,
    bundle_version: int | None,
    outbox_depth: int,
    outbox_full: bool = False,
    clock_offset_s: float | None = None,
) -> Health:
    return Health(
        cpu_temp_c=_cpu_temperature(),
        load_1m=os.getloadavg()[0],
        disk_free_bytes=shutil.disk_usage(data_dir).free,
        memory_used_pct=_memory_used_pct(),
        clock_sync=_CLOCK_SYNC[kernel_clock_synced()],
        agent_version=agent_version,
        bundle_version=bundle_version,
        outbox_depth=outbox_depth,
        outbox_full=outbox_full,
        clock_offset_s=clock_offset_s,
    )


def _cpu_temperature() -> float | None:
    try:
        return int(_THERMAL_ZONE.read_text()) / 1000
    except (OSError, ValueError):
        return None


def _memory_used_pct() -> float:
    fields = {}
    for line in _MEMINFO.read_text().splitlines():
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    total, available = fields["MemTotal"], fields["MemAvailable"]
    return round(100 * (total - available) / total, 1)
