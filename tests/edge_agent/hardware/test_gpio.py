"""The gpiozero parts on gpiozero's MockFactory: pin levels per wiring, and pulse/beep timings."""

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edge_agent.hardware.base import BeepPattern, Beeps
from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.gpio import (
    GpioBuzzerPart,
    GpioDoorContact,
    GpioDoorRelay,
    GpioStatusLed,
    make_pin_factory,
)
from edge_agent.profile_parts import BuzzerPin, DoorContactPin, LockWiring, PinFactory, RelayPins

TOLERANCE_S = 0.03


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = make_pin_factory(PinFactory.MOCK)
    assert isinstance(mock, MockFactory)
    yield mock
    mock.close()


def levels(pin: MockPin) -> list[bool]:
    return [bool(state.state) for state in pin.states]


def durations(pin: MockPin) -> list[float]:
    """How long each recorded level lasted (the last one is still on, so it is left out).

    MockPin stamps each state with the time since the previous one.
    """
    return [state.timestamp for state in pin.states[1:]]


@pytest.mark.parametrize(
    ("lock", "active_high", "locked_level"),
    [
        # A strike (fail-secure) is unlocked by energising: locked = coil off.
        (LockWiring.FAIL_SECURE, True, False),
        (LockWiring.FAIL_SECURE, False, True),
        # A maglock (fail-safe) holds while energised: locked = coil on.
        (LockWiring.FAIL_SAFE, True, True),
        (LockWiring.FAIL_SAFE, False, False),
    ],
)
def test_relay_pin_level_follows_the_lock_wiring(
    factory: MockFactory, lock: LockWiring, active_high: bool, locked_level: bool
) -> None:
    relay = GpioDoorRelay(RelayPins(pin=17, lock=lock, active_high=active_high), factory)
    pin = factory.pin(17)
    assert not relay.is_unlocked and pin.state == locked_level  # starts locked
    relay.unlock()
    assert relay.is_unlocked and pin.state == (not locked_level)
    relay.lock()
    assert not relay.is_unlocked and pin.state == locked_level
    relay.close()


def test_relay_pulse_unlocks_for_the_hold_time_then_locks(factory: MockFactory) -> None:
    relay = GpioDoorRelay(RelayPins(pin=17, lock=LockWiring.FAIL_SECURE), factory)
    pin = factory.pin(17)
    pin.clear_states()
    relay.pulse(0.12, wait=True)
    assert levels(pin)[-2:] == [True, False]
    assert durations(pin)[-1] == pytest.approx(0.12, abs=TOLERANCE_S)
    assert not relay.is_unlocked
    relay.close()


def test_relay_pulse_in_the_background_returns_at_once(factory: MockFactory) -> None:
    relay = GpioDoorRelay(RelayPins(pin=17, lock=LockWiring.FAIL_SAFE), factory)
    relay.pulse(5.0)
    assert relay.is_unlocked and factory.pin(17).state is False  # fail-safe: coil off = open
    relay.lock()  # ends the pulse early
    assert not relay.is_unlocked and factory.pin(17).state is True
    relay.close()


def test_led_on_off_and_counted_blink(factory: MockFactory) -> None:
    led = GpioStatusLed(22, colour="green", pin_factory=factory)
    pin = factory.pin(22)
    led.on()
    assert led.is_lit and pin.state
    led.off()
    assert not led.is_lit and not pin.state
    pin.clear_states()
    led.blink(0.04, 0.06, times=2, wait=True)
    assert levels(pin)[1:] == [True, False, True, False]
    on_off_on = durations(pin)[1:]
    assert on_off_on == [pytest.approx(d, abs=TOLERANCE_S) for d in (0.04, 0.06, 0.04)]
    led.close()


def test_active_low_led_drives_the_pin_low_when_lit(factory: MockFactory) -> None:
    led = GpioStatusLed(27, colour="red", active_high=False, pin_factory=factory)
    led.on()
    assert led.is_lit and factory.pin(27).state is False
    led.close()


def test_buzzer_plays_a_pattern_with_its_timing(factory: MockFactory) -> None:
    now = [100.0]
    buzzer = GpioBuzzerPart(BuzzerPin(pin=18), factory, clock=lambda: now[0])
    pin = factory.pin(18)
    pin.clear_states()
    pattern = BeepPattern(on_s=0.05, off_s=0.03, count=3)
    buzzer.play(pattern, wait=True)
    assert levels(pin)[1:] == [True, False] * 3
    on_times, off_times = durations(pin)[1::2], durations(pin)[2::2]
    assert all(d == pytest.approx(0.05, abs=TOLERANCE_S) for d in on_times)
    assert all(d == pytest.approx(0.03, abs=TOLERANCE_S) for d in off_times[:-1])
    assert buzzer.is_sounding  # by the injected clock, which has not moved
    now[0] += pattern.duration_s
    assert not buzzer.is_sounding
    buzzer.close()


def test_buzzer_silence_stops_a_background_pattern(factory: MockFactory) -> None:
    buzzer = GpioBuzzerPart(BuzzerPin(pin=18), factory)
    buzzer.play(Beeps.ALARM)
    assert buzzer.is_sounding
    buzzer.silence()
    assert not buzzer.is_sounding and factory.pin(18).state is False
    buzzer.close()


@pytest.mark.parametrize("open_is_active", [False, True])
def test_door_contact_reports_open_and_closed(factory: MockFactory, open_is_active: bool) -> None:
    contact = GpioDoorContact(
        DoorContactPin(pin=24, open_is_active=open_is_active, bounce_s=0), factory
    )
    pin = factory.pin(24)
    seen: list[str] = []
    contact.when_opened, contact.when_closed = (
        (lambda: seen.append("open")),
        (lambda: seen.append("closed")),
    )
    # Pull-up: the pin reads low while the switch is closed (active).
    shut, opened = (
        (pin.drive_high, pin.drive_low)
        if open_is_active
        else (
            pin.drive_low,
            pin.drive_high,
        )
    )
    shut()
    assert not contact.is_open
    opened()
    assert contact.is_open
    shut()
    assert not contact.is_open
    assert seen[-2:] == ["open", "closed"]
    contact.close()


def test_a_pin_claimed_twice_names_the_part(factory: MockFactory) -> None:
    relay = GpioDoorRelay(RelayPins(pin=17, lock=LockWiring.FAIL_SECURE), factory)
    with pytest.raises(HardwareError, match=r"buzzer on GPIO 17.*pins\.buzzer"):
        GpioBuzzerPart(BuzzerPin(pin=17), factory)
    relay.close()


def test_an_unavailable_pin_factory_says_what_to_install() -> None:
    with pytest.raises(HardwareError, match="pigpio") as caught:
        make_pin_factory(PinFactory.PIGPIO)
    assert "pins.pin_factory" in str(caught.value)
