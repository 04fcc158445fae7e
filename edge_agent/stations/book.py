"""What a door station knows from its bundle, in the shape its decision needs.

Built from a verified `protocols.bundle.Bundle` (by the downlink's store, or `load_book` for
`run --bundle FILE` and `simulate`); the station reads nothing else. Card UIDs are looked up by
the same keyed hash the coordinator stores, so the device holds no card numbers. Face templates
stay sealed until `templates()` opens them, in memory, for one verification.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vision import Descriptor


@dataclass(frozen=True)
class Assignment:
    """One exam session the person is expected at here, with its check-in window."""

    session_ref: str
    assignment_ref: str | None
    starts_at: datetime
    ends_at: datetime
    check_in_opens_at: datetime
    check_in_closes_at: datetime

    def is_check_in_open(self, now: datetime) -> bool:
        return self.check_in_opens_at <= now <= self.check_in_closes_at

    def is_check_out_open(self, now: datetime) -> bool:
        """From the close of check-in until the end of the session plus the same grace."""
        return (
            self.check_in_closes_at
            < now
            <= self.ends_at + (self.check_in_closes_at - self.starts_at)
        )


def _no_templates() -> Sequence[Descriptor]:
    return ()


@dataclass(frozen=True)
class Person:
    """Someone on the roster: their ref (as on the wire), name, templates and assignments."""

    person_ref: str
    name: str
    assignments: tuple[Assignment, ...] = ()
    templates: Callable[[], Sequence[Descriptor]] = field(default=_no_templates, repr=False)


@dataclass(frozen=True)
class Geofence:
    """Where the device must be; `radius_m` None means the profile's default radius."""

    latitude: float
    longitude: float
    radius_m: float | None = None


@dataclass(frozen=True)
class DoorBook:
    """The roster by card hash, the room's geofence, and the bundle version they came from."""

    hash_card: Callable[[str], str] = field(repr=False)
    people: Mapping[str, Person] = field(default_factory=dict)
    geofence: Geofence | None = None
    version: int | None = None

    def find_card(self, uid: str) -> Person | None:
        return self.people.get(self.hash_card(uid))


EMPTY_BOOK = DoorBook(hash_card=lambda uid: "")
"""A device with no bundle yet: every card is unknown."""
