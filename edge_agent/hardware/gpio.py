"""GPIO parts on gpiozero: door relay, status LEDs, buzzer and door contact.

gpiozero's pin factory is chosen by the profile (`pins.pin_factory`); `mock` is gpiozero's own
MockFactory, whose pins record timestamped states, so tests and simulations run these very
drivers. All parts of one station share one factory (`make_pin_factory`).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from gpiozero import LED, DigitalInputDevice, DigitalOutputDevice, GPIOZeroError
from gpiozero import Buzzer as GpioBuzzer
from gpiozero.pins.mock import MockFactory

from edge_agent.hardware.base import BeepPattern, Buzzer, Clock, DoorContact, DoorRelay, StatusLed
from edge_agent.hardware.errors import HardwareError
from edge_agent.profile_parts import BuzzerPin, DoorContactPin, LockWiring, PinFactory, RelayPins

# Import paths of gpiozero's factories; imported only when a profile names one.
_FACTORIES = {
    PinFactory.LGPIO: ("gpiozero.pins.lgpio", "LGPIOFactory", "python3-lgpio"),
    PinFactory.RPIGPIO: ("gpiozero.pins.rpigpio", "RPiGPIOFactory", "python3-rpi-lgpio"),
    PinFactory.PIGPIO: ("gpiozero.pins.pigpio", "PiGPIOFactory", "pigpio and a running pigpiod"),
}


def make_pin_factory(kind: PinFactory) -> Any:
    """The gpiozero pin factory a profile names; None lets gpiozero choose its default."""
    if kind is PinFactory.DEFAULT:
        return None
    if kind is PinFactory.MOCK:
        return MockFactory()
    module, name, needs = _FACTORIES[kind]
    try:
        return getattr(importlib.import_module(module), name)()
    except (ImportError, OSError, GPIOZeroError) as error:
        raise HardwareError(
            f"gpiozero pin factory {kind.value!r} cannot start ({error}); it needs {needs}; "
            "fix: install it, or set pins.pin_factory to default"
        ) from None


def _claim(build: Any, what: str, pin: int) -> Any:
    """Open a gpiozero device, turning its errors into ones that name the part and pin."""
    try:
        return build()
    except (GPIOZeroError, OSError) as error:
        raise HardwareError(
            f"cannot open the {what} on GPIO {pin}: {error}; fix: check pins.{what} in the "
            "firmware profile, and that the agent's user is in the gpio group"
        ) from None


class GpioDoorRelay(DoorRelay):
    """A relay board on one GPIO; `unlocked` maps to the pin level the lock's wiring needs.

    Fail-secure (a strike): energising unlocks. Fail-safe (a maglock): energising locks, so
    the relay is energised at rest and a power cut opens the door. The relay board's own
    polarity (`active_high`) is applied on top. The door starts locked.
    """

    def __init__(self, pins: RelayPins, pin_factory: Any = None) -> None:
        energise_high = pins.active_high
        unlocked_high = energise_high if pins.lock is LockWiring.FAIL_SECURE else not energise_high
        self._device = _claim(
            lambda: DigitalOutputDevice(
                pins.pin, active_high=unlocked_high, initial_value=False, pin_factory=pin_factory
            ),
            "relay",
            pins.pin,
        )

    def unlock(self) -> None:
        self._device.on()

    def lock(self) -> None:
        self._device.off()

    @property
    def is_unlocked(self) -> bool:
        return bool(self._device.is_active)

    def pulse(self, hold_s: float, wait: bool = False) -> None:
        # gpiozero's blink switches on in its own thread; switching on here first means the
        # door is unlocked when pulse() returns, not a moment later.
        self._device.on()
        self._device.blink(on_time=hold_s, off_time=0, n=1, background=not wait)

    def close(self) -> None:
        self._device.close()


class GpioStatusLed(StatusLed):
    """One LED on a GPIO (gpiozero `LED`)."""

    def __init__(
        self, pin: int, *, colour: str, active_high: bool = True, pin_factory: Any = None
    ) -> None:
        self.colour = colour
        self._device = _claim(
            lambda: LED(pin, active_high=active_high, pin_factory=pin_factory),
            f"leds.{colour}",
            pin,
        )

    def on(self) -> None:
        self._device.on()

    def off(self) -> None:
        self._device.off()

    def blink(
        self, on_s: float, off_s: float, times: int | None = None, wait: bool = False
    ) -> None:
        self._device.blink(
            on_time=on_s, off_time=off_s, n=times, background=not (wait and times is not None)
        )

    @property
    def is_lit(self) -> bool:
        return bool(self._device.is_lit)

    def close(self) -> None:
        self._device.close()


class GpioBuzzerPart(Buzzer):
    """An active buzzer on a GPIO (gpiozero `Buzzer`); patterns are gpiozero beeps."""

    def __init__(
        self, pins: BuzzerPin, pin_factory: Any = None, clock: Clock | None = None
    ) -> None:
        self._clock = clock or time.monotonic
        self._ends_at = 0.0
        self._device = _claim(
            lambda: GpioBuzzer(pins.pin, active_high=pins.active_high, pin_factory=pin_factory),
            "buzzer",
            pins.pin,
        )

    def play(self, pattern: BeepPattern, wait: bool = False) -> None:
        self._ends_at = self._clock() + pattern.duration_s
        self._device.beep(
            on_time=pattern.on_s, off_time=pattern.off_s, n=pattern.count, background=not wait
        )

    def silence(self) -> None:
        self._ends_at = 0.0
        self._device.off()

    @property
    def is_sounding(self) -> bool:
        return self._clock() < self._ends_at

    def close(self) -> None:
        self._device.close()


class GpioDoorContact(DoorContact):
    """A reed switch read as a gpiozero `DigitalInputDevice` (a `Button` without the hold
    thread, which a door does not need); its callbacks run on gpiozero's thread."""

    def __init__(self, pins: DoorContactPin, pin_factory: Any = None) -> None:
        super().__init__()
        self._open_is_active = pins.open_is_active
        self._device = _claim(
            lambda: DigitalInputDevice(
                pins.pin,
                pull_up=pins.pull_up,
                bounce_time=pins.bounce_s or None,
                pin_factory=pin_factory,
            ),
            "door_contact",
            pins.pin,
        )
        if self._open_is_active:
            self._device.when_activated, self._device.when_deactivated = self._opened, self._closed
        else:
            self._device.when_activated, self._device.when_deactivated = self._closed, self._opened

    @property
    def is_open(self) -> bool:
        return bool(self._device.is_active) == self._open_is_active

    def close(self) -> None:
        self._device.close()
