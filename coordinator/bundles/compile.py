"""Compiling one device's bundle from a round's catalogue (`catalogue.py`), in memory, no writes.

Secrets are re-sealed for each device on the way out: the card-hash
key and each person's face templates are opened here (they rest sealed under the coordinator's
secret) and sealed to the device's registered X25519 key, bound to the device, the purpose and
the person.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import SecretStr

from coordinator.bundles.catalogue import BuildRules, Catalogue, Person
from coordinator.db.enums import GateDirection
from coordinator.db.models import (
    Device,
    ExamSession,
    Gate,
    Room,
    Site,
)
from coordinator.errors import ConflictError
from protocols import Direction, ProtocolError, Station
from protocols.bundle import (
    Bundle,
    BundleSession,
    DeviceBinding,
    GateRules,
    Geofence,
    PersonKind,
    PublicKey,
    RosterEntry,
    RosterRole,
    RosterSession,
    SealedTemplates,
    TimeRule,
    card_key_context,
    person_ref,
    templates_context,
)
from protocols.sealing import read_public_key, seal


class BundleBuildError(ConflictError):
    """A device's bundle cannot be built until someone fixes the cause named in the message."""


@dataclass(frozen=True)
class Signing:
    key_id: str
    trusted: list[PublicKey]


# --- one device's bundle -------------------------------------------------------------------------


def compile_bundle(
    catalogue: Catalogue,
    device_id: str,
    *,
    version: int,
    now: datetime,
    rules: BuildRules,
    signing: Signing,
    secret: SecretStr,
) -> Bundle:
    device = catalogue.devices[device_id]
    device_key = _device_key(device)
    site = catalogue.sites[device.site_id]
    binding = _binding(catalogue, device, site)
    sessions = catalogue.sessions.get(device.room_id, []) if device.room_id else []
    card_key = catalogue.card_key(secret)
    gate_rules = None
    if device.gate_id is not None:
        gate = catalogue.gates[device.gate_id]
        gate_rules = GateRules(
            zone=gate.zone,
            direction=_GATE_DIRECTIONS[gate.direction],
            time_zone=site.time_zone,
            time_rules=[
                TimeRule(
                    zone=gate.zone, weekdays=rule.weekdays, opens=rule.opens, closes=rule.closes
                )
                for rule in catalogue.time_rules.get(gate.id, [])
            ],
            pass_keys=signing.trusted,  # passes are signed by the same site keys as bundles
            revoked_passes=catalogue.revoked_passes or [],
            suspended_passes=catalogue.suspended_passes,
        )
    return Bundle(
        device_id=device.id,
        version=version,
        issued_at=now,
        valid_until=now + rules.horizon,
        key_id=signing.key_id,
        binding=binding,
        sessions=[_bundle_session(s, code, rules) for s, code in sessions],
        roster=_roster(catalogue, device, [s.id for s, _ in sessions], device_key, secret),
        card_key=seal(card_key, device_key, card_key_context(device.id)),
        gate=gate_rules,
        signing_keys=signing.trusted,
    )


def _device_key(device: Device) -> X25519PublicKey:
    if not device.public_key:
        raise BundleBuildError(
            f"device {device.id} has no registered key: run `edge-agent keys init` on it and "
            f"register the public key (PATCH /api/v1/devices/{device.id})"
        )
    try:
        return read_public_key(device.public_key)
    except ProtocolError as error:
        raise BundleBuildError(f"device {device.id}: {error}") from None


def _geofence(place: Room | Gate) -> Geofence | None:
    if place.latitude is None or place.longitude is None or place.geofence_radius_m is None:
        return None
    return Geofence(
        latitude=place.latitude, longitude=place.longitude, radius_m=place.geofence_radius_m
    )


# A gate recorded as both ways names no direction: the device's own setting decides.
_GATE_DIRECTIONS: dict[GateDirection, Direction | None] = {
    GateDirection.IN: Direction.IN,
    GateDirection.OUT: Direction.OUT,
    GateDirection.BOTH: None,
}


def _binding(catalogue: Catalogue, device: Device, site: Site) -> DeviceBinding:
    if device.room_id is not None:
        room = catalogue.rooms[device.room_id]
        return DeviceBinding(
            station=Station.DOOR,
            site=site.code,
            room_ref=str(room.id),
            place_name=room.name,
            geofence=_geofence(room),
        )
    if device.gate_id is not None:
        gate = catalogue.gates[device.gate_id]
        return DeviceBinding(
            station=Station.GATE,
            site=site.code,
            gate_ref=str(gate.id),
            place_name=gate.name,
            geofence=_geofence(gate),
        )
    raise BundleBuildError(f"device {device.id} is placed at no room or gate: give it one")


def _bundle_session(row: ExamSession, exam_code: str, rules: BuildRules) -> BundleSession:
    return BundleSession(
        session_ref=str(row.id),
        exam_code=exam_code,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        check_in_opens_at=row.starts_at - rules.check_in_before,
        check_in_closes_at=min(row.starts_at + rules.check_in_after, row.ends_at),
    )


def _roster(
    catalogue: Catalogue,
    device: Device,
    session_ids: list[int],
    device_key: X25519PublicKey,
    secret: SecretStr,
) -> list[RosterEntry]:
    sessions_of: dict[Person, list[RosterSession]] = defaultdict(list)
    if device.room_id is not None:  # colleagues first, with no session here and no face
        building_id = catalogue.rooms[device.room_id].building_id
        for user_id in catalogue.colleagues.get(building_id, set()):
            sessions_of[(PersonKind.USER, user_id)] = []
    for session_id in session_ids:
        for person, roster_session in catalogue.expected.get(session_id, {}).items():
            sessions_of[person].append(roster_session)
    entries = []
    for person, sessions in sorted(sessions_of.items()):
        name = catalogue.names.get(person)
        if name is None:  # deactivated, suspended or gone: not on the roster
            continue
        kind, record_id = person
        ref = person_ref(kind, record_id)
        entries.append(
            RosterEntry(
                person_ref=ref,
                role=RosterRole.SUPERVISOR if kind is PersonKind.USER else RosterRole.STUDENT,
                name=name,
                card_hashes=catalogue.cards.get(person, [])[:16],
                templates=_sealed_templates(
                    catalogue, person, device, ref, device_key=device_key, secret=secret
                )
                if sessions
                else None,
                sessions=sessions,
            )
        )
    return entries


def _sealed_templates(
    catalogue: Catalogue,
    person: Person,
    device: Device,
    ref: str,
    *,
    device_key: X25519PublicKey,
    secret: SecretStr,
) -> SealedTemplates | None:
    kind, record_id = person
    if kind is not PersonKind.USER:
        return None
    plaintext = catalogue.template_bytes(record_id, secret)
    if plaintext is None:
        return None
    return SealedTemplates(
        model=catalogue.templates[record_id].model,
        sealed=seal(plaintext, device_key, templates_context(device.id, ref)),
    )
