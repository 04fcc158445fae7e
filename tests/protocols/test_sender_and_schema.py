"""Envelopes are stamped with one boot id and a gap-free sequence; the reference is up to date."""

from datetime import UTC, datetime
from pathlib import Path

from protocols import Attendance, AttendanceAction, Birth, Sender
from protocols.schema import export_schemas, stale_files
from tests.conftest import REPO


def test_sender_sequences_events_from_one_and_states_at_zero() -> None:
    fixed = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    ticks = iter(range(100, 200))
    sender = Sender("door-01", wall_clock=lambda: fixed, monotonic_ns=lambda: next(ticks))
    payload = Attendance(action=AttendanceAction.CHECK_IN, person_ref="p1")
    first, second = sender.sequenced(payload), sender.sequenced(payload)
    birth = sender.state(Birth(agent_version="1", profile="door"))
    assert (first.seq, second.seq, birth.seq) == (1, 2, 0)
    assert first.boot_id == second.boot_id == birth.boot_id
    assert first.message_id < second.message_id  # UUIDv7 sorts by creation time
    assert (first.device_time, first.monotonic_ns, second.monotonic_ns) == (fixed, 100, 101)


def test_a_new_sender_is_a_new_boot() -> None:
    assert Sender("door-01").boot_id != Sender("door-01").boot_id


def test_committed_protocol_reference_matches_the_models() -> None:
    stale = stale_files(REPO / "docs" / "protocol")
    assert stale == [], f"run `python -m protocols export-schema`; stale: {stale}"


def test_export_writes_a_schema_per_message(tmp_path: Path) -> None:
    written = {path.name for path in export_schemas(tmp_path)}
    assert {"envelope.schema.json", "attendance.schema.json", "README.md"} <= written
    assert stale_files(tmp_path) == []
    (tmp_path / "birth.schema.json").write_text("{}")
    assert stale_files(tmp_path) == ["birth.schema.json"]
