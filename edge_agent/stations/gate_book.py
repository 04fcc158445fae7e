"""What a gate knows from its bundle, in the shape its decision needs.

Built from a verified `protocols.bundle.Bundle` (by the downlink's store, or from a file until the
downlink is wired); the gate reads nothing else. Pass keys are indexed by the id a pass names
(`protocols.passes.pass_key_id`), computed from the key itself, so a bundle that labels a key
wrongly cannot make a gate check a pass against the wrong key.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.stations.book import card_hasher
from protocols import Direction, ProtocolError
from protocols.bundle import Bundle, PublicKey, RosterRole
from protocols.passes import pass_key_id
from protocols.sealing import context, open_box
from protocols.signing import read_public_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpeningHours:
    """One time rule of the gate's zone: ISO weekdays (1 = Monday) and local [opens, closes).

    A rule whose `closes` is not after `opens` runs past midnight: it opens on the listed day
    and closes on the next one.
    """

    weekdays: frozenset[int]
    opens: time
    closes: time

    def is_open(self, local: datetime) -> bool:
        moment, day = local.time(), local.isoweekday()
        if self.opens < self.closes:
            return day in self.weekdays and self.opens <= moment < self.closes
        yesterday = 7 if day == 1 else day - 1
        return (day in self.weekdays and moment >= self.opens) or (
            yesterday in self.weekdays and moment < self.closes
        )


@dataclass(frozen=True)
class GateBook:
    """The gate's site, zone, direction, hours, trusted pass keys, revocations, students by card.

    `direction` None (the bundle does not say: a two-way gate, or an older coordinator) leaves
    the station's own setting in force.
    """

    site: str
    zone: str
    time_zone: ZoneInfo
    hours: tuple[OpeningHours, ...] = ()
    pass_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict, repr=False)
    revoked: frozenset[str] = frozenset()
    suspended: frozenset[str] = frozenset()
    students_by_card: Mapping[str, str] = field(default_factory=dict, repr=False)
    hash_card: Callable[[str], str] = field(default=lambda uid: "", repr=False)
    version: int | None = None
    direction: Direction | None = None

    def is_open(self, now: datetime) -> bool:
        """No rule for the zone means always open; otherwise any rule that holds opens it."""
        if not self.hours:
            return True
        local = now.astimezone(self.time_zone)
        return any(rule.is_open(local) for rule in self.hours)

    def find_card(self, uid: str) -> str | None:
        """The student's person ref for a tapped card, or None when it is not on the roster."""
        return self.students_by_card.get(self.hash_card(uid))


def gate_book(bundle: Bundle, hash_card: Callable[[str], str] | None = None) -> GateBook:
    """The gate's book from a verified bundle; ProtocolError when it is not a gate's bundle.

    `hash_card` hashes a UID with the bundle's card key (opened by the caller, who holds the
    device key); without it, cards are unknown and only passes are accepted.
    """
    rules = bundle.gate
    if rules is None:
        raise ProtocolError(f"bundle {bundle.version} is not for a gate station")
    try:
        time_zone = ZoneInfo(rules.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProtocolError(f"bundle names an unknown time zone {rules.time_zone!r}") from None
    hours = tuple(
        OpeningHours(frozenset(rule.weekdays), _clock(rule.opens), _clock(rule.closes))
        for rule in rules.time_rules
        if rule.zone == rules.zone
    )
    students = {
        card: entry.person_ref
        for entry in bundle.roster
        if entry.role is RosterRole.STUDENT
        for card in entry.card_hashes
    }
    return GateBook(
        site=bundle.binding.site,
        zone=rules.zone,
        time_zone=time_zone,
        hours=hours,
        pass_keys=_pass_keys(rules.pass_keys),
        revoked=frozenset(rules.revoked_passes),
        suspended=frozenset(rules.suspended_passes),
        students_by_card=students,
        hash_card=hash_card or (lambda uid: ""),
        version=bundle.version,
        direction=rules.direction,
    )


def open_gate_book(bundle: Bundle, device_key: X25519PrivateKey) -> GateBook:
    """The gate's book from a verified bundle, its card key opened with the device's own key."""
    card_key = (
        None
        if bundle.card_key is None
        else open_box(bundle.card_key, device_key, context(bundle.device_id, "card-key"))
    )
    return gate_book(bundle, card_hasher(card_key))


def _pass_keys(keys: Sequence[PublicKey]) -> dict[str, Ed25519PublicKey]:
    trusted: dict[str, Ed25519PublicKey] = {}
    for entry in keys:
        key = read_public_key(entry.public_key)
        key_id = pass_key_id(key)
        if key_id != entry.key_id:
            log.warning("bundle labels pass key %s as %s; using its id", key_id, entry.key_id)
        trusted[key_id] = key
    return trusted


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
