"""The uplink's logic against the in-memory link: fast, no broker, no threads."""

import queue
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from edge_agent.health import sample_health
from edge_agent.link.base import Received
from edge_agent.link.fake import FakeLink
from edge_agent.store.outbox import Outbox
from edge_agent.uplink import Uplink, UplinkEvent, Wake
from protocols import (
    Attendance,
    AttendanceAction,
    Birth,
    CoordinatorState,
    CoordinatorStatus,
    Death,
    DeathCause,
    Envelope,
    EventKind,
    Heartbeat,
    Receipt,
    Sender,
    coordinator_state_topic,
    decode,
    encode,
    event_topic,
    receipt_topic,
    state_topic,
)

SITE = "main"
DEVICE = "door-01"
ATTENDANCE_TOPIC = event_topic(SITE, DEVICE, EventKind.ATTENDANCE)
HEARTBEAT_TOPIC = event_topic(SITE, DEVICE, EventKind.HEARTBEAT)
BOUND_S = 60.0
WORKER = "coordinator-ingest-1"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Rig:
    """An uplink wired to a fake link, driven by `pump()` instead of a thread, on a fake clock."""

    def __init__(self, tmp_path: Path, *, online: bool = True, auto_ack: bool = True) -> None:
        self.events: queue.Queue[UplinkEvent] = queue.Queue()
        self.received: list[Received] = []
        self.link = FakeLink(self.events.put, online=online, auto_ack=auto_ack)
        self.outbox = Outbox(tmp_path / "outbox.sqlite3")
        self.seconds = 1000.0
        self.uplink = Uplink(
            site=SITE,
            sender=Sender(DEVICE),
            outbox=self.outbox,
            link=self.link,
            birth=Birth(agent_version="test", profile="door-station-sim"),
            events=self.events,
            max_message_bytes=65536,
            when_received=self.received.append,
            receipt_timeout_s=BOUND_S,
            monotonic=lambda: self.seconds,
            wall_clock=lambda: NOW,
        )
        self.link.start()
        self.pump()  # the connection comes first, as when a device starts online

    def pump(self) -> None:
        self.uplink.process_queued()

    def later(self, seconds: float) -> None:
        """Time passes; the uplink thread's tick looks for overdue rows."""
        self.seconds += seconds
        self.events.put(Wake())
        self.pump()

    def receipt(self, ids: Iterable[UUID], *, device: str = DEVICE, topic: str = "") -> None:
        """The coordinator's ingest says these messages are stored."""
        envelope = Sender(device).state(Receipt(message_ids=list(ids)))
        self.link.deliver(topic or receipt_topic(SITE, DEVICE), encode(envelope))
        self.pump()

    def coordinator(
        self, status: CoordinatorStatus, *, retained: bool = False, clock: datetime = NOW
    ) -> None:
        """A worker's state message, as the broker forwards it."""
        state = Sender(WORKER, wall_clock=lambda: clock).state(CoordinatorState(status=status))
        self.link.deliver(coordinator_state_topic(WORKER), encode(state), retained=retained)
        self.pump()

    def sent_ids(self, topic: str = ATTENDANCE_TOPIC) -> list[UUID]:
        return [decode(message.body).message_id for message in self.link.on(topic)]


def _ids(envelopes: Iterable[Envelope]) -> list[UUID]:
    return [envelope.message_id for envelope in envelopes]


def _check_in(person: str) -> Attendance:
    return Attendance(action=AttendanceAction.CHECK_IN, person_ref=person)


def test_recorded_events_are_sent_in_order_and_leave_the_outbox_on_the_receipt(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    recorded = [rig.uplink.record(_check_in(f"p{n}")) for n in range(5)]
    rig.pump()
    sent = [decode(message.body) for message in rig.link.on(ATTENDANCE_TOPIC)]
    assert sent == recorded
    rig.receipt(_ids(recorded))
    assert rig.outbox.count() == 0


def test_a_pubacked_message_stays_in_the_outbox_until_its_receipt(tmp_path: Path) -> None:
    rig = Rig(tmp_path)  # the fake broker PUBACKs every publish at once
    recorded = [rig.uplink.record(_check_in(f"p{n}")) for n in range(3)]
    rig.pump()
    assert rig.link.unacked == {} and rig.outbox.count() == 3
    assert rig.uplink.wait_sent(0)  # all at the broker, none receipted
    rig.receipt(_ids(recorded[:2]))
    assert [item.message_id for item in rig.outbox.pending()] == [str(recorded[2].message_id)]


def test_a_receipt_that_overtakes_the_puback_settles_the_message(tmp_path: Path) -> None:
    rig = Rig(tmp_path, auto_ack=False)
    recorded = rig.uplink.record(_check_in("p1"))
    rig.pump()
    (message,) = rig.link.on(ATTENDANCE_TOPIC)
    rig.receipt([recorded.message_id])
    rig.link.ack(message.mid)
    rig.later(BOUND_S * 3)
    assert rig.outbox.count() == 0
    assert rig.sent_ids() == [recorded.message_id]  # never sent again


def test_unknown_and_foreign_ids_and_malformed_receipts_are_ignored(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    recorded = rig.uplink.record(_check_in("p1"))
    rig.pump()
    rig.receipt([uuid4(), uuid4()])  # ids this device never held
    # A receipt made out to another device, even on this device's topic, is refused whole.
    rig.receipt([recorded.message_id], device="door-02")
    rig.link.deliver(receipt_topic(SITE, DEVICE), b"\x00not json")
    rig.link.deliver(receipt_topic(SITE, DEVICE), encode(Sender(DEVICE).state(_death())))
    rig.pump()
    assert rig.outbox.count() == 1
    assert rig.received == []  # receipts are the uplink's own business
    rig.receipt([recorded.message_id])
    assert rig.outbox.count() == 0


def test_an_unreceipted_message_is_sent_again_after_the_bound(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    first = rig.uplink.record(_check_in("p1"))
    rig.pump()
    rig.later(BOUND_S / 2)
    second = rig.uplink.record(_check_in("p2"))
    rig.pump()
    rig.later(BOUND_S / 2 - 1)
    assert rig.sent_ids() == _ids([first, second])  # not yet: inside the bound
    rig.later(1)
    assert rig.sent_ids() == _ids([first, second, first])  # only the overdue one
    rig.later(BOUND_S / 2)
    assert rig.sent_ids() == _ids([first, second, first, second])
    rig.receipt(_ids([first, second]))
    rig.later(BOUND_S * 2)
    assert rig.outbox.count() == 0 and len(rig.sent_ids()) == 4


def test_nothing_is_resent_on_a_timer_while_the_coordinator_is_away(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.coordinator(CoordinatorStatus.OFFLINE, retained=True)
    recorded = rig.uplink.record(_check_in("p1"))
    rig.pump()
    rig.later(BOUND_S * 10)
    assert rig.sent_ids() == [recorded.message_id]  # the broker holds it for the coordinator
    rig.coordinator(CoordinatorStatus.ONLINE)
    rig.later(BOUND_S - 1)
    assert rig.sent_ids() == [recorded.message_id]  # the bound counts from its return
    rig.later(1)
    assert rig.sent_ids() == [recorded.message_id] * 2


def test_a_reconnect_sends_every_unreceipted_message_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    recorded = [rig.uplink.record(_check_in(f"p{n}")) for n in range(3)]
    rig.pump()
    rig.receipt([recorded[0].message_id])
    rig.link.go_offline()  # e.g. the broker was killed and lost what it had acknowledged
    rig.pump()
    rig.link.go_online()
    rig.pump()
    assert rig.sent_ids() == _ids([*recorded, *recorded[1:]])
    assert all(decode(m.body).replayed for m in rig.link.on(ATTENDANCE_TOPIC)[3:])


def test_heartbeats_say_whether_the_coordinator_is_online_and_the_clock_offset(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    health = sample_health(
        data_dir=tmp_path, agent_version="t", bundle_version=None, outbox_depth=0
    )
    rig.uplink.record(Heartbeat(health=health))
    # Retained: may be hours old, so it says "online" but teaches the clock nothing.
    rig.coordinator(CoordinatorStatus.ONLINE, retained=True, clock=NOW - timedelta(hours=3))
    rig.uplink.record(Heartbeat(health=health))
    rig.coordinator(CoordinatorStatus.ONLINE, clock=NOW - timedelta(seconds=2.5))
    rig.uplink.record(Heartbeat(health=health))
    # The will: the broker sends it long after it was built, so its time is not a sample.
    rig.coordinator(CoordinatorStatus.OFFLINE, clock=NOW - timedelta(days=1))
    rig.uplink.record(Heartbeat(health=health))
    rig.pump()
    beats = [decode(m.body).payload for m in rig.link.on(HEARTBEAT_TOPIC)]
    reported = [
        (b.health.coordinator_online, b.health.clock_offset_s)
        for b in beats
        if isinstance(b, Heartbeat)
    ]
    assert reported == [(None, None), (True, None), (True, 2.5), (False, 2.5)]
    assert rig.received == []  # the coordinator's state is the uplink's own business


def _death() -> Death:
    return Death(cause=DeathCause.SHUTDOWN)


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
    rig.receipt(_ids(recorded))
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
    rig.receipt([recorded.message_id])
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
    assert rig.link.filters == [
        "campus/v1/main/door-01/receipt",
        "campus/v1/coordinator/+",
        "campus/v1/main/door-01/cmd/+",
    ]
    assert rig.received == [Received("campus/v1/main/door-01/cmd/open", b"{}")]


def test_a_failing_handler_does_not_stop_the_uplink(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def explode(message: Received) -> None:
        raise RuntimeError("handler bug")

    rig.uplink._when_received = explode
    rig.link.deliver("campus/v1/main/door-01/cmd/open", b"{}")
    recorded = rig.uplink.record(_check_in("p1"))
    rig.pump()
    assert rig.sent_ids() == [recorded.message_id]


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


def test_the_coordinator_is_online_while_any_worker_is_and_a_cleared_slot_is_forgotten(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    second = "coordinator-ingest-2"
    rig.coordinator(CoordinatorStatus.OFFLINE, retained=True)
    assert rig.uplink.coordinator.is_online is False
    online = Sender(second).state(CoordinatorState(status=CoordinatorStatus.ONLINE))
    rig.link.deliver(coordinator_state_topic(second), encode(online), retained=True)
    rig.pump()
    assert rig.uplink.coordinator.is_online is True
    rig.link.deliver(coordinator_state_topic(second), b"", retained=True)  # slot retired
    rig.link.deliver(coordinator_state_topic(WORKER), b"\x00garbage")  # ignored
    forged = Sender("door-02").state(CoordinatorState(status=CoordinatorStatus.ONLINE))
    rig.link.deliver(coordinator_state_topic(WORKER), encode(forged))  # not that worker's
    rig.pump()
    assert rig.uplink.coordinator.is_online is False
