"""Fixtures shared by the integration tests."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MEMORY_FILESYSTEM = Path("/dev/shm")  # tmpfs on Linux: an fsync there returns at once


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder for simulated devices' outboxes, in memory where the machine has tmpfs.

    For tests that fail the coordinator's side (its processes, the broker, the database) and
    never a device: there a device's fsync protects nothing, and on disk one per recorded event
    (the outbox commits with synchronous=FULL) was most of a 20,000-event test's time. The
    outbox code is the agent's own all the same; the agent's own crash tests
    (tests/edge_agent/test_power_cut.py) keep it on disk.
    """
    if not MEMORY_FILESYSTEM.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="campus-outboxes-", dir=MEMORY_FILESYSTEM) as folder:
        yield Path(folder)
