"""A gate on fakes for tests: a site key, passes, a book, a hand-moved clock, a spying recorder."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.hardware.fakes import FakeBuzzer, FakeDoorRelay, FakeStatusLed
from edge_agent.stations.gate import GateOutputs, GateSettings, GateStation
from edge_agent.stations.gate_book import GateBook, OpeningHours
from edge_agent.stations.passback import PassbackStore
from protocols import Access, EventPayload
from protocols.passes import PassBody, issue_pass, pass_key_id

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 in London
SITE = "north"
ZONE = "main-gate"
SITE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PHONE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
PASS_ID = UUID("0192f0c4-1b2c-7d3e-8f40-123456789abc")
HOLDER = "student-12"
CARD_UID = "04A1B2C3"


def pass_body(**changes: object) -> PassBody:
    fields: dict[str, object] = {
        "pass_id": PASS_ID,
        "site": SITE,
        "holder_ref": HOLDER,
        "zones": (ZONE, "library"),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=180),
        "key_id": pass_key_id(SITE_KEY.public_key()),
    }
    return PassBody.model_validate(fields | changes)


def static_pass(**changes: object) -> str:
    """A printed pass signed by the site key, with `changes` to its body."""
    return issue_pass(pass_body(**changes), SITE_KEY)


def foreign_pass(key: Ed25519PrivateKey) -> str:
    """A well-made pass signed by a key the gate does not know."""
    return issue_pass(pass_body(key_id=pass_key_id(key.public_key())), key)


def phone_pass() -> str:
    """The static text a phone keeps, bound to PHONE_KEY."""
    return static_pass(holder_key=PHONE_KEY.public_key().public_bytes_raw())


def book(**changes: object) -> GateBook:
    fields: dict[str, object] = {
        "site": SITE,
        "zone": ZONE,
        "time_zone": ZoneInfo("Europe/London"),
        "pass_keys": {pass_key_id(SITE_KEY.public_key()): SITE_KEY.public_key()},
        "students_by_card": {"hash:" + CARD_UID: HOLDER},
        "hash_card": lambda uid: "hash:" + uid,
    }
    return GateBook(**(fields | changes))  # type: ignore[arg-type]


def weekday_hours(opens: str, closes: str, days: tuple[int, ...] = (1, 2, 3, 4, 5)) -> OpeningHours:
    return OpeningHours(frozenset(days), time.fromisoformat(opens), time.fromisoformat(closes))


@dataclass
class HandClock:
    """Wall and monotonic time that move only when a test moves them."""

    now: datetime = NOW
    ticks: float = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.ticks += seconds


@dataclass
class Recorder:
    """Keeps each recorded event with the relay's state at the moment it was committed."""

    relay: FakeDoorRelay
    events: list[Access] = field(default_factory=list)
    relay_unlocked_at_commit: list[bool] = field(default_factory=list)
    fails: bool = False

    def record(self, payload: EventPayload) -> None:
        if self.fails:
            raise OSError("disk full")
        if not isinstance(payload, Access):
            raise TypeError(f"a gate records access events, not {payload.type}")
        self.relay_unlocked_at_commit.append(self.relay.is_unlocked)
        self.events.append(payload)


@dataclass
class Gate:
    station: GateStation
    clock: HandClock
    recorder: Recorder
    relay: FakeDoorRelay
    green: FakeStatusLed
    red: FakeStatusLed
    buzzer: FakeBuzzer


def make_gate(
    gate_book: GateBook | None = None,
    *,
    settings: GateSettings | None = None,
    passback: PassbackStore | None = None,
    clock: HandClock | None = None,
    no_book: bool = False,
    record: Callable[[EventPayload], object] | None = None,
) -> Gate:
    """A gate on fakes; `record` replaces the spying recorder (e.g. with a real uplink)."""
    clock = clock or HandClock()
    relay = FakeDoorRelay(clock.monotonic)
    green, red = FakeStatusLed(clock.monotonic, "green"), FakeStatusLed(clock.monotonic, "red")
    buzzer = FakeBuzzer(clock.monotonic)
    recorder = Recorder(relay)
    station = GateStation(
        record=record or recorder.record,
        outputs=GateOutputs(relay=relay, green=green, red=red, buzzer=buzzer),
        passback=passback or PassbackStore(),
        wall=clock.wall,
        monotonic=clock.monotonic,
        settings=settings,
        book=None if no_book else (gate_book or book()),
    )
    return Gate(station, clock, recorder, relay, green, red, buzzer)
