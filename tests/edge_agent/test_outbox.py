"""The outbox keeps messages in order across restarts and lets them go only when told."""

import sqlite3
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


def test_at_the_bound_the_oldest_heartbeat_makes_room(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_items=3)
    outbox.put("hb1", "hb", b"x", droppable=True)
    outbox.put("hb2", "hb", b"x", droppable=True)
    outbox.put("d1", "evt", b"x")
    outbox.put("d2", "evt", b"x")
    assert [i.message_id for i in outbox.pending()] == ["hb2", "d1", "d2"]
    assert outbox.count() == 3 and outbox.is_full


def test_when_full_of_decisions_a_heartbeat_is_not_kept_but_a_decision_is(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_items=2)
    outbox.put("d1", "evt", b"x")
    outbox.put("d2", "evt", b"x")
    assert outbox.put("hb1", "hb", b"x", droppable=True) == 0
    assert outbox.put("d3", "evt", b"x") > 0
    assert [i.message_id for i in outbox.pending()] == ["d1", "d2", "d3"]
    assert outbox.is_full
    for item in outbox.pending():
        outbox.remove(item.id)
    assert not outbox.is_full and outbox.count() == 0


def test_the_count_survives_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_items=2)
    outbox.put("d1", "evt", b"x")
    outbox.put("d2", "evt", b"x")
    outbox.close()
    assert Outbox(tmp_path / "outbox.sqlite3", max_items=2).is_full


def test_an_outbox_written_by_an_older_agent_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "message_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, body BLOB NOT NULL)"
        )
        db.execute("INSERT INTO outbox (message_id, topic, body) VALUES ('old', 't', x'00')")
    db.close()
    outbox = Outbox(path, max_items=1)
    assert outbox.put("hb", "hb", b"x", droppable=True) == 0  # the old row is a decision
    assert [i.message_id for i in outbox.pending()] == ["old"]


@pytest.mark.parametrize("bound", [0, -5])
def test_a_bound_below_one_is_refused(tmp_path: Path, bound: int) -> None:
    with pytest.raises(OutboxError, match="at least 1"):
        Outbox(tmp_path / "outbox.sqlite3", max_items=bound)


def test_messages_leave_by_message_id_and_unknown_ids_are_ignored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    ids = [outbox.put(f"m{n}", "t", b"x") for n in range(1200)]  # past one SQL chunk
    assert outbox.remove_messages(["m0", "m5", "nope", "m5"]) == 2
    assert outbox.remove_messages([f"m{n}" for n in range(10, 1100)]) == 1090
    assert outbox.count() == 1200 - 1092
    assert [item.message_id for item in outbox.items([ids[0], ids[1], ids[1199]])] == [
        "m1",
        "m1199",
    ]
