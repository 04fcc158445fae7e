"""The outbox keeps messages in order across restarts and lets them go only when told."""

from pathlib import Path

import pytest

from edge_agent.errors import OutboxError
from edge_agent.store.outbox import Outbox


def test_items_come_back_oldest_first_and_survive_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    first = outbox.put("m1", "t/1", b"one")
    outbox.put("m2", "t/2", b"two")
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.sqlite3")
    assert [(i.message_id, i.topic, i.body) for i in reopened.pending()] == [
        ("m1", "t/1", b"one"),
        ("m2", "t/2", b"two"),
    ]
    reopened.remove(first)
    assert [i.message_id for i in reopened.pending()] == ["m2"]
    assert reopened.count() == 1


def test_pending_pages_after_a_cursor(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    ids = [outbox.put(f"m{n}", "t", b"x") for n in range(5)]
    assert [i.id for i in outbox.pending(after_id=ids[1], limit=2)] == ids[2:4]
    assert outbox.last_id() == ids[-1]


def test_a_message_id_is_stored_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put("m1", "t", b"x")
    with pytest.raises(Exception, match="UNIQUE"):
        outbox.put("m1", "t", b"x")


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(blocker / "outbox.sqlite3")
