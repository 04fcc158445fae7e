"""The uplink's logic against the in-memory link: fast, no broker, no threads."""

import queue
from pathlib import Path

import pytest

from edge_agent.health import sample_health
from edge_agent.link.base import Received
from edge_agent.link.fake import FakeLink
from edge_agent.store.outbox import Outbox
from edge_agent.uplink import Uplink, UplinkEvent
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    Death,
    DeathCause,
    EventKind,
    Heartbeat,
    Sender,
    decode,
    event_topic,
    state_topic,
)

SITE = "main"
DEVICE = "door-01"
ATTENDANCE_TOPIC = event_topic(SITE, DEVICE, EventKind.ATTENDANCE)


class Rig:
    """An uplink wired to a fake link, driven by `pump()` instead of a thread."""

    def __init__(self, tmp_path: Path, *, online: bool = True, auto_ack: bool = True) -> None:
        self.events: queue.Queue[UplinkEvent] = queue.Queue()
        self.received: list[Received] = []
        self.link = FakeLink(self.events.put, online=online, auto_ack=auto_ack)
        self.outbox = Outbox(tmp_path / "outbox.sqlite3")
        self.uplink = Uplink(
            site=SITE,
            sender=Sender(DEVICE),
            outbox=self.outbox,
            link=self.link,
            birth=Birth(agent_version="test", profile="door-station-sim"),
            events=self.events,
            max_message_bytes=65536,
            when_received=self.received.append,
        )
        self.link.start()
        self.pump()  # the connection comes first, as when a device starts online

    def pump(self) -> None:
        self.uplink.process_queued()


def _check_in(person: str) -> Attendance:
    return Attendance(action=AttendanceAction.CHECK_IN, person_ref=person)


def test_recorded_events_are_sent_in_order_and_leave_the_outbox_when_acked(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    recorded = [rig.uplink.record(_check_in(f"p{n}")) for n in range(5)]
    rig.pump()
    sent = [decode(message.body) for message in rig.link.on(ATTENDANCE_TOPIC)]
    assert sent == recorded
    assert rig.outbox.count() == 0


def test_the_birth_is_retained_on_connect(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.pump()
    (birth,) = rig.link.on(state_topic(SITE, DEVICE))
    assert birth.retain and isinstance(decode(birth.body).payload, Birth)


def test_events_recorded_offline_wait_and_are_sent_marked_replayed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, online=False)
    recorded = [rig.uplink.record(_check_in(f"p{n}")) for n in range(3)]
    rig.pump()
    assert rig.outbox.count() == 3 and rig.link.sent == []
    rig.link.go_online()
    rig.pump()
    sent = [decode(message.body) for message in rig.link.on(ATTENDANCE_TOPIC)]
    assert [e.message_id for e in sent] == [e.message_id for e in recorded]
    assert all(envelope.replayed for envelope in sent)
    assert rig.outbox.count() == 0


def test_a_message_unacked_when_the_connection_drops_is_sent_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path, auto_ack=False)
    recorded = rig.uplink.record(_check_in("p1"))
    rig.pump()
    rig.link.go_offline()
    rig.pump()
    assert rig.outbox.count() == 1
    rig.link.go_online()
    rig.pump()
    attempts = rig.link.on(ATTENDANCE_TOPIC)
    assert [decode(m.body).message_id for m in attempts] == [recorded.message_id] * 2
    rig.link.ack(attempts[-1].mid)
    rig.pump()
    assert rig.outbox.count() == 0


def test_a_refused_message_stays_in_the_outbox(tmp_path: Path) -> None:
    rig = Rig(tmp_path, auto_ack=False)
    rig.uplink.record(_check_in("p1"))
    rig.pump()
    (message,) = rig.link.on(ATTENDANCE_TOPIC)
    rig.link.ack(message.mid, is_accepted=False)
    rig.pump()
    assert rig.outbox.count() == 1


def test_no_more_than_the_window_is_in_flight(tmp_path: Path) -> None:
    rig = Rig(tmp_path, auto_ack=False)
    for n in range(60):
        rig.uplink.record(_check_in(f"p{n}"))
    rig.pump()
    assert len(rig.link.on(ATTENDANCE_TOPIC)) == 50
    rig.link.ack(rig.link.on(ATTENDANCE_TOPIC)[0].mid)
    rig.pump()
    assert len(rig.link.on(ATTENDANCE_TOPIC)) == 51


def test_messages_on_subscribed_topics_reach_the_handler(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.uplink.subscribe("campus/v1/main/door-01/cmd/+")
    rig.link.deliver("campus/v1/main/door-01/cmd/open", b"{}")
    rig.pump()
    assert rig.link.filters == ["campus/v1/main/door-01/cmd/+"]
    assert rig.received == [Received("campus/v1/main/door-01/cmd/open", b"{}")]


def test_a_failing_handler_does_not_stop_the_uplink(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def explode(message: Received) -> None:
        raise RuntimeError("handler bug")

    rig.uplink._when_received = explode
    rig.link.deliver("campus/v1/main/door-01/cmd/open", b"{}")
    rig.uplink.record(_check_in("p1"))
    rig.pump()
    assert rig.outbox.count() == 0


def test_a_clean_stop_publishes_a_retained_death(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.pump()
    rig.uplink.stop()
    last = rig.link.on(state_topic(SITE, DEVICE))[-1]
    assert last.retain and decode(last.body).payload == Death(cause=DeathCause.SHUTDOWN)
    assert rig.link.is_stopped


@pytest.mark.parametrize("kept", [1, 7])
def test_heartbeats_may_be_dropped_at_the_bound_but_decisions_never(
    tmp_path: Path, kept: int
) -> None:
    rig = Rig(tmp_path, online=False)
    rig.outbox.max_items = kept
    health = sample_health(
        data_dir=tmp_path, agent_version="t", bundle_version=None, outbox_depth=0
    )
    for _ in range(3):
        rig.uplink.record(Heartbeat(health=health))
    decisions = [rig.uplink.record(_check_in(f"p{n}")) for n in range(kept + 2)]
    assert rig.outbox.is_full
    rig.link.go_online()
    rig.pump()
    sent = [decode(m.body).message_id for m in rig.link.on(ATTENDANCE_TOPIC)]
    assert sent == [e.message_id for e in decisions]
