"""The fakes keep a timed history on an injected clock, so station tests need no sleeps."""

import pytest

from edge_agent.hardware.base import Beeps
from edge_agent.hardware.errors import CardFormatError
from edge_agent.hardware.fakes import (
    Change,
    FakeBuzzer,
    FakeCardReader,
    FakeDoorRelay,
    FakeQrScanner,
    FakeStatusLed,
)


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_relay_pulse_ends_on_the_clock_and_is_recorded_at_its_end_time() -> None:
    clock = Clock()
    relay = FakeDoorRelay(clock)
    relay.pulse(3)
    clock.now += 2.99
    assert relay.is_unlocked
    clock.now += 5
    assert not relay.is_unlocked
    assert relay.history == [Change(50.0, True), Change(53.0, False)]


def test_relay_lock_during_a_pulse_cancels_its_end() -> None:
    clock = Clock()
    relay = FakeDoorRelay(clock)
    relay.pulse(3)
    clock.now += 1
    relay.lock()
    relay.unlock()
    clock.now += 10
    assert relay.is_unlocked  # the cancelled pulse does not lock it again
    assert [c.state for c in relay.history] == [True, False, True]


def test_led_counted_blink_goes_out_by_itself() -> None:
    clock = Clock()
    led = FakeStatusLed(clock, name="red")
    led.blink(0.2, 0.2, times=3)
    assert led.is_lit
    clock.now += 1.2
    assert not led.is_lit
    assert led.history == [Change(50.0, "blink"), Change(pytest.approx(51.2), "off")]


def test_buzzer_records_patterns_and_how_long_they_sound() -> None:
    clock = Clock()
    buzzer = FakeBuzzer(clock)
    buzzer.play(Beeps.REFUSED)
    assert buzzer.played == [(50.0, Beeps.REFUSED)] and buzzer.is_sounding
    clock.now += Beeps.REFUSED.duration_s
    assert not buzzer.is_sounding


def test_card_reader_and_qr_scanner_hand_out_each_item_once() -> None:
    reader, scanner = FakeCardReader(), FakeQrScanner()
    reader.present("04:a1:b2:c3")
    scanner.show("pass-1")
    assert reader.read(0) == "04A1B2C3" and reader.read(0) is None
    assert scanner.read(0) == "pass-1" and scanner.read(0) is None
    with pytest.raises(CardFormatError):
        reader.present("not a card")
