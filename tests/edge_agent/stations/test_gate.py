"""The gate's decision on fakes with a hand-moved clock: every reason, outbox first, one read."""

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.hardware.base import Beeps
from edge_agent.hardware.fakes import FakeCardReader, FakeQrScanner
from edge_agent.stations.gate import GateSettings
from edge_agent.stations.passback import PassbackStore
from protocols import (
    Access,
    AccessDecision,
    Credential,
    Direction,
    EventPayload,
    ReasonCode,
    decode,
)
from protocols.base45 import b45decode, b45encode
from protocols.passes import STATIC_PREFIX, rotating_code
from tests.edge_agent.stations.gate_kit import (
    CARD_UID,
    HOLDER,
    NOW,
    PASS_ID,
    PHONE_KEY,
    Gate,
    HandClock,
    book,
    foreign_pass,
    make_gate,
    phone_pass,
    static_pass,
    weekday_hours,
)

OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def forged_pass() -> str:
    """A genuine pass with one bit of its signature flipped."""
    raw = bytearray(b45decode(static_pass().removeprefix(STATIC_PREFIX)))
    raw[-1] ^= 0x01
    return STATIC_PREFIX + b45encode(bytes(raw))


def only_event(gate: Gate) -> Access:
    assert len(gate.recorder.events) == 1
    return gate.recorder.events[0]


def test_a_valid_pass_is_recorded_first_then_opens_the_turnstile() -> None:
    gate = make_gate()
    decision = gate.station.present_code(static_pass())
    assert decision is not None and decision.is_granted
    event = only_event(gate)
    assert (event.decision, event.reason) == (AccessDecision.GRANTED, ReasonCode.OK)
    assert (event.credential, event.direction) == (Credential.QR_PASS, Direction.IN)
    assert (event.subject_ref, event.pass_ref) == (HOLDER, PASS_ID.hex)
    assert gate.recorder.relay_unlocked_at_commit == [False]
    assert gate.relay.is_unlocked and gate.green.is_lit and not gate.red.is_lit
    assert [pattern for _, pattern in gate.buzzer.played] == [Beeps.ACCEPTED]
    gate.clock.advance(5.0)
    assert not gate.relay.is_unlocked


def _hours_closed(gate: Gate) -> str:
    gate.station.book = book(hours=(weekday_hours("12:00", "18:00"),))
    return static_pass()


def _already_in(gate: Gate) -> str:
    assert gate.station.present_code(static_pass()) is not None
    gate.clock.advance(10)
    gate.recorder.events.clear()
    return static_pass()


def _replayed(gate: Gate) -> str:
    code = rotating_code(phone_pass(), PHONE_KEY, NOW)
    # Shown, taken away for longer than the hold and the turnstile's opening, then shown again
    # within the code's 30 s: the same code twice is a copy.
    assert gate.station.present_code(code) is not None
    gate.clock.advance(6)
    gate.recorder.events.clear()
    return code


def _revoked(gate: Gate) -> str:
    gate.station.book = book(revoked=frozenset({PASS_ID.hex}))
    return static_pass()


def _suspended(gate: Gate) -> str:
    gate.station.book = book(suspended=frozenset({PASS_ID.hex}))
    return static_pass()


REFUSALS: dict[ReasonCode, Callable[[Gate], str]] = {
    ReasonCode.NOT_A_PASS: lambda gate: "https://example.org/not-a-pass",
    ReasonCode.PASS_TRUNCATED: lambda gate: static_pass()[:60],
    ReasonCode.PASS_MALFORMED: lambda gate: static_pass()[:-1] + "*",
    ReasonCode.PASS_FORGED: lambda gate: forged_pass(),
    ReasonCode.PASS_UNKNOWN_KEY: lambda gate: foreign_pass(OTHER_KEY),
    ReasonCode.PASS_WRONG_SITE: lambda gate: static_pass(site="south"),
    ReasonCode.PASS_NOT_YET_VALID: lambda gate: static_pass(
        valid_from=NOW + timedelta(days=1), valid_until=NOW + timedelta(days=2)
    ),
    ReasonCode.PASS_EXPIRED: lambda gate: static_pass(
        valid_from=NOW - timedelta(days=9), valid_until=NOW - timedelta(days=1)
    ),
    ReasonCode.PASS_REVOKED: _revoked,
    ReasonCode.PASS_SUSPENDED: _suspended,
    ReasonCode.WRONG_ZONE: lambda gate: static_pass(zones=("library",)),
    ReasonCode.OUTSIDE_HOURS: _hours_closed,
    ReasonCode.ANTI_PASSBACK: _already_in,
    ReasonCode.PASS_NEEDS_ROTATING_CODE: lambda gate: phone_pass(),
    ReasonCode.PASS_CODE_REPLAYED: _replayed,
    ReasonCode.PASS_CODE_FROM_FUTURE: lambda gate: rotating_code(
        phone_pass(), PHONE_KEY, NOW + timedelta(minutes=5)
    ),
    ReasonCode.PASS_CODE_STALE: lambda gate: rotating_code(
        phone_pass(), PHONE_KEY, NOW - timedelta(minutes=5)
    ),
}


@pytest.mark.parametrize("reason", list(REFUSALS), ids=str)
def test_each_bad_presentation_is_refused_with_its_own_reason(reason: ReasonCode) -> None:
    gate = make_gate()
    code = REFUSALS[reason](gate)
    decision = gate.station.present_code(code)
    assert decision is not None
    assert (decision.decision, decision.reason) == (AccessDecision.DENIED, reason)
    event = only_event(gate)
    assert (event.decision, event.reason) == (AccessDecision.DENIED, reason)
    assert not gate.relay.is_unlocked
    assert gate.red.is_lit
    assert gate.buzzer.played[-1][1] == Beeps.REFUSED


def test_a_gate_with_no_bundle_refuses_everything() -> None:
    gate = make_gate(no_book=True)
    assert gate.station.present_code(static_pass()) is not None
    assert gate.station.present_card(CARD_UID) is not None
    assert [e.reason for e in gate.recorder.events] == [ReasonCode.NO_BUNDLE] * 2
    assert not gate.relay.history


def test_a_pass_held_up_for_two_seconds_gives_one_decision() -> None:
    gate = make_gate()
    code = static_pass()
    decisions = []
    for _ in range(30):
        decisions.append(gate.station.present_code(code))
        gate.clock.advance(2 / 30)
    assert sum(d is not None for d in decisions) == 1
    assert len(gate.recorder.events) == 1
    gate.clock.advance(2.1)  # taken away, then shown again: a new presentation
    again = gate.station.present_code(code)
    assert again is not None and again.reason is ReasonCode.ANTI_PASSBACK


def test_a_phone_code_rolling_over_while_held_is_still_one_decision() -> None:
    gate = make_gate()
    text = phone_pass()
    gate.clock.now = NOW.replace(second=29)
    decisions = []
    for _ in range(20):  # 29 s to 31 s: the code changes at 30 s
        decisions.append(gate.station.present_code(rotating_code(text, PHONE_KEY, gate.clock.now)))
        gate.clock.advance(0.1)
    assert len({rotating_code(text, PHONE_KEY, NOW.replace(second=s)) for s in (29, 30)}) == 2
    assert [d.reason for d in decisions if d is not None] == [ReasonCode.OK]


def test_a_forged_code_held_up_is_refused_once() -> None:
    gate = make_gate()
    for _ in range(10):
        gate.station.present_code("not a pass")
        gate.clock.advance(0.1)
    assert [e.reason for e in gate.recorder.events] == [ReasonCode.NOT_A_PASS]


def test_a_huge_or_nul_filled_code_is_refused_not_crashed() -> None:
    gate = make_gate()
    gate.station.present_code("CP1:" + "A" * 1_000_000)
    gate.station.present_code("CP1:\x00\x00\x00")
    assert [e.reason for e in gate.recorder.events] == [
        ReasonCode.NOT_A_PASS,
        ReasonCode.PASS_MALFORMED,
    ]


def test_a_student_card_goes_through_the_same_decision() -> None:
    gate = make_gate()
    card = gate.station.present_card(CARD_UID)
    assert card is not None and card.is_granted and card.credential is Credential.CARD
    assert only_event(gate).subject_ref == HOLDER
    gate.clock.advance(10)
    # The same student, now with a pass: anti-passback knows them by person, not by credential.
    refused = gate.station.present_code(static_pass())
    assert refused is not None and refused.reason is ReasonCode.ANTI_PASSBACK
    unknown = gate.station.present_card("DEADBEEF")
    assert unknown is not None and unknown.reason is ReasonCode.UNKNOWN_CARD


def test_a_card_outside_hours_is_refused() -> None:
    gate = make_gate(book(hours=(weekday_hours("12:00", "18:00"),)))
    decision = gate.station.present_card(CARD_UID)
    assert decision is not None and decision.reason is ReasonCode.OUTSIDE_HOURS


def test_when_the_outbox_cannot_commit_the_gate_stays_shut() -> None:
    gate = make_gate()
    gate.recorder.fails = True
    decision = gate.station.present_code(static_pass())
    assert decision is not None and decision.reason is ReasonCode.HARDWARE_FAULT
    assert not gate.relay.history
    assert gate.red.is_lit


def test_entry_then_exit_then_entry_again_across_two_gates() -> None:
    shared = PassbackStore()
    clock = HandClock()
    entry = make_gate(passback=shared, clock=clock)
    exit_ = make_gate(passback=shared, clock=clock, settings=GateSettings(direction=Direction.OUT))
    code = static_pass()
    outcomes = []
    for gate in (entry, exit_, entry, entry):
        decision = gate.station.present_code(code)
        assert decision is not None
        outcomes.append(decision.reason)
        clock.advance(60)
    assert outcomes == [ReasonCode.OK, ReasonCode.OK, ReasonCode.OK, ReasonCode.ANTI_PASSBACK]


def test_anti_passback_forgets_after_its_window() -> None:
    gate = make_gate(passback=PassbackStore(window=timedelta(hours=1)))
    assert gate.station.present_code(static_pass()) is not None
    gate.clock.advance(3601)
    again = gate.station.present_code(static_pass())
    assert again is not None and again.is_granted


def test_the_passback_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "passback.sqlite"
    first = PassbackStore(path)
    first.note(HOLDER, Direction.IN, NOW)
    first.note(HOLDER, Direction.OUT, NOW - timedelta(minutes=5))  # an older copy: ignored
    first.close()
    reopened = PassbackStore(path)
    assert reopened.is_passback(HOLDER, Direction.IN, NOW + timedelta(minutes=1))
    assert not reopened.is_passback(HOLDER, Direction.OUT, NOW + timedelta(minutes=1))


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ("2026-11-25T21:59", True),  # Wednesday evening
        ("2026-11-26T05:59", True),  # Thursday early morning: Wednesday's rule still runs
        ("2026-11-26T06:00", False),
        ("2026-11-28T23:00", False),  # Saturday: not a listed day
        ("2026-11-29T01:00", False),  # Sunday night after Saturday: Saturday not listed
    ],
)
def test_an_overnight_rule_runs_into_the_next_day(local: str, is_open: bool) -> None:
    rule = weekday_hours("20:00", "06:00")
    assert rule.is_open(datetime.fromisoformat(local)) is is_open


def test_hours_are_read_in_the_gates_time_zone() -> None:
    london = book(hours=(weekday_hours("09:30", "10:30"),))
    assert london.is_open(NOW)  # 10:00 UTC is 10:00 in London in November
    assert not london.is_open(NOW + timedelta(hours=1))


def test_poll_reads_the_scanner_and_the_card_reader() -> None:
    gate = make_gate()
    scanner, reader = FakeQrScanner(), FakeCardReader()
    gate.station.qr, gate.station.cards = scanner, reader
    scanner.show("hello")
    reader.present("de:ad:be:ef")
    decisions = gate.station.poll(0)
    assert [d.reason for d in decisions] == [ReasonCode.NOT_A_PASS, ReasonCode.UNKNOWN_CARD]
    assert gate.station.poll(0) == []


def test_the_event_is_in_the_real_outbox_before_the_relay_moves(tmp_path: Path) -> None:
    from edge_agent.store.outbox import Outbox
    from tests.edge_agent.test_uplink_fake import Rig

    rig = Rig(tmp_path, online=False)  # offline: the event can only be in the outbox
    outbox: Outbox = rig.outbox
    seen: list[tuple[int, bool]] = []

    def record(payload: EventPayload) -> None:
        rig.uplink.record(payload)  # what the runtime wires in
        seen.append((outbox.count(), gate.relay.is_unlocked))

    gate = make_gate(record=record)
    decision = gate.station.present_code(static_pass())
    assert decision is not None and decision.is_granted
    assert seen == [(1, False)]  # committed (and durable), relay still locked
    assert gate.relay.is_unlocked
    (item,) = outbox.pending()
    assert decode(item.body).payload == Access(
        decision=AccessDecision.GRANTED,
        reason=ReasonCode.OK,
        direction=Direction.IN,
        credential=Credential.QR_PASS,
        subject_ref=HOLDER,
        pass_ref=PASS_ID.hex,
    )
