"""Which passages the coordinator forwards, and to whom: granted accesses of known students
that a gate reported, inside the anti-passback window, to every other active gate of the same
site, each access once (coordinator.services.commands, coordinator.bundles.passages)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from coordinator.bundles.builder import Senders
from coordinator.bundles.passages import PassageForwarder
from coordinator.db import models as m
from coordinator.db.enums import DeviceStatus
from coordinator.services import commands
from protocols import AccessDecision, Direction, Passage, ReasonCode, decode
from tests.coordinator.campus import Campus, build_campus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=12)


def _gates(session: Session, campus: Campus) -> None:
    """gate-a and gate-b at the campus's two gates, a retired gate-c, and another site's gate."""
    rows = [
        ("gate-a", campus.own.gate.id, DeviceStatus.ACTIVE),
        ("gate-b", campus.other.gate.id, DeviceStatus.ACTIVE),
        ("gate-c", campus.other.gate.id, DeviceStatus.RETIRED),
    ]
    for device_id, gate_id, status in rows:
        session.add(
            m.Device(
                id=device_id, site_id=campus.site.id, gate_id=gate_id, profile="gate", status=status
            )
        )
    far = m.Site(code="far", name="Far campus", time_zone="UTC")
    session.add(far)
    session.flush()
    far_gate = m.Gate(site_id=far.id, code="g-far", name="Far", zone="main", direction="in")
    session.add(far_gate)
    session.flush()
    session.add(
        m.Device(
            id="gate-far", site_id=far.id, gate_id=far_gate.id, profile="gate",
            status=DeviceStatus.ACTIVE,
        )
    )  # fmt: skip
    session.flush()


def _access(
    session: Session,
    campus: Campus,
    *,
    at: datetime,
    decision: AccessDecision = AccessDecision.GRANTED,
    student: bool = True,
    access_id: int | None = None,
) -> int:
    access = m.AccessLog(
        id=access_id, gate_id=campus.own.gate.id, device_id="gate-a", at=at, decision=decision,
        reason=ReasonCode.OK, direction=Direction.OUT,
        student_id=campus.student.id if student else None, pass_id=campus.student_pass.id,
    )  # fmt: skip
    session.add(access)
    session.flush()
    return access.id


def test_only_granted_recent_passages_of_students_go_to_the_other_active_gates(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions() as session:
        campus = build_campus(session)
        _gates(session, campus)
        start = commands.last_access_id(session)
        granted = _access(
            session, campus, at=NOW - timedelta(minutes=1), decision=AccessDecision.GRANTED,
            student=True,
        )  # fmt: skip
        _access(session, campus, at=NOW, decision=AccessDecision.DENIED, student=True)
        _access(session, campus, at=NOW, decision=AccessDecision.GRANTED, student=False)
        _access(
            session, campus, at=NOW - WINDOW - timedelta(seconds=1),
            decision=AccessDecision.GRANTED, student=True,
        )  # fmt: skip
        notices = commands.passages_after(session, start, now=NOW, window=WINDOW)
    assert [(n.access_id, n.site, n.device_id) for n in notices] == [
        (granted, campus.site.code, "gate-b")
    ]
    passage = notices[0].passage
    assert passage == Passage(
        holder_ref=f"student-{campus.student.id}",
        pass_ref=campus.student_pass.pass_ref,
        direction=Direction.OUT,
        at=NOW - timedelta(minutes=1),
        gate_device_id="gate-a",
        expires_at=NOW - timedelta(minutes=1) + WINDOW,
    )


def test_the_forwarder_sends_each_access_once_and_finds_late_commits_within_its_lookback(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    forwarder = PassageForwarder(Senders(), window=WINDOW, lookback=timedelta(seconds=60))
    with sqlite_sessions() as session:
        campus = build_campus(session)
        _gates(session, campus)
        session.commit()
        assert forwarder.due(session, NOW) == []
        _access(session, campus, at=NOW, access_id=100)
        session.commit()
        first = forwarder.due(session, NOW + timedelta(seconds=1))
        assert [topic.split("/")[3:] for topic, _ in first] == [["gate-b", "cmd", "passage"]]
        assert isinstance(decode(first[0][1]).payload, Passage)
        assert forwarder.due(session, NOW + timedelta(seconds=2)) == []  # not twice
        # A lower id committed after a higher one was seen (two ingest workers) is found
        # while the higher one is younger than the lookback...
        _access(session, campus, at=NOW, access_id=50)
        session.commit()
        assert len(forwarder.due(session, NOW + timedelta(seconds=30))) == 1
        # ...and not once the low-water mark has moved past it: the bound of the re-read.
        _access(session, campus, at=NOW, access_id=60)
        session.commit()
        assert forwarder.due(session, NOW + timedelta(seconds=120)) == []
        _access(session, campus, at=NOW + timedelta(seconds=120), access_id=101)
        session.commit()
        assert len(forwarder.due(session, NOW + timedelta(seconds=121))) == 1
