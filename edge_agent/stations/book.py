"""What a door station knows from its bundle, in the shape its decision needs.

Built from a verified `protocols.bundle.Bundle` (by the downlink's store, or `load_book` for
`run --bundle FILE` and `simulate`); the station reads nothing else. Card UIDs are looked up by
the same keyed hash the coordinator stores, so the device holds no card numbers. Face templates
stay sealed until `templates()` opens them, in memory, for one verification.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocols import ProtocolError
from protocols.bundle import Bundle, BundleSession, SealedTemplates
from protocols.cards import card_uid_hash
from protocols.sealing import context, open_box
from protocols.templates import unpack_templates
from vision import Descriptor, FaceTemplates

log = logging.getLogger(__name__)


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


def book_from_bundle(bundle: Bundle, device_key: X25519PrivateKey) -> DoorBook:
    """The door station's view of a verified bundle, opened with the device's own key.

    The card key is opened once (every tap needs it); face templates are opened per attempt.
    """
    device = bundle.device_id
    card_key = (
        None
        if bundle.card_key is None
        else open_box(bundle.card_key, device_key, context(device, "card-key"))
    )
    sessions = {session.session_ref: session for session in bundle.sessions}
    people: dict[str, Person] = {}
    for entry in bundle.roster:
        person = Person(
            person_ref=entry.person_ref,
            name=entry.name,
            assignments=tuple(
                _assignment(sessions[s.session_ref], s.assignment_ref)
                for s in entry.sessions
                if s.session_ref in sessions
            ),
            templates=_sealed_templates(entry.templates, device_key, device, entry.person_ref),
        )
        people.update(dict.fromkeys(entry.card_hashes, person))
    fence = bundle.binding.geofence
    geofence = None if fence is None else Geofence(fence.latitude, fence.longitude, fence.radius_m)
    return DoorBook(
        hash_card=card_hasher(card_key),
        people=people,
        geofence=geofence,
        version=bundle.version,
    )


def _assignment(session: BundleSession, assignment_ref: str | None) -> Assignment:
    return Assignment(
        session_ref=session.session_ref,
        assignment_ref=assignment_ref,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        check_in_opens_at=session.check_in_opens_at,
        check_in_closes_at=session.check_in_closes_at,
    )


def card_hasher(card_key: bytes | None) -> Callable[[str], str]:
    def hash_card(uid: str) -> str:
        if card_key is None:
            return ""  # a bundle without a card key knows no cards
        try:
            return card_uid_hash(card_key, uid)
        except ProtocolError:
            return ""  # not a UID the coordinator could have stored: unknown card

    return hash_card


def _sealed_templates(
    sealed: SealedTemplates | None, device_key: X25519PrivateKey, device: str, person: str
) -> Callable[[], Sequence[Descriptor]]:
    if sealed is None:
        return _no_templates

    def open_templates() -> Sequence[Descriptor]:
        try:
            plain = open_box(sealed.sealed, device_key, context(device, "face-templates", person))
            opened = tuple(np.asarray(t, dtype=np.float32) for t in unpack_templates(plain))
            # With their model, so the pipeline never compares across embedders.
            return FaceTemplates(sealed.model, opened)
        except ProtocolError as error:
            log.error("face templates of %s do not open: %s", person, error)
            return ()  # verified as "no templates", never as someone else's

    return open_templates
