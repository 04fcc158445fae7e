"""The bundle: everything one device needs to decide on its own, for the next hours, offline.

The coordinator compiles one bundle per device whenever something it contains changes, signs the
exact bytes of its JSON (protocols.signing) and publishes it retained on the device's
`cmd/bundle` topic inside a `SignedBundle` (protocols.messages). The device verifies it, checks it
is for itself and newer than what it holds, and stores it whole.

Nothing secret travels in clear: face templates and the key that hashes tapped card UIDs are
sealed to the device's own X25519 public key (protocols.sealing) and opened only in memory.

References are strings chosen by the coordinator; people are `user-<id>` (staff) or
`student-<id>`, made and read only by `person_ref` / `parse_person_ref`, so every event a
station sends names a person the same way the bundle did.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from protocols.errors import ProtocolError
from protocols.messages import DeviceId, Ref, WireModel
from protocols.sealing import SealedBytes, context
from protocols.vocabulary import Direction, Station

BUNDLE_FORMAT = 1
MAX_ROSTER = 50_000
MAX_SESSIONS = 2_000
MAX_REVOCATIONS = 200_000
MAX_CARDS_PER_PERSON = 16

SiteCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Site code.")]
KeyId = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Id of a signing or pass key."),
]
CardHash = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="HMAC-SHA256 of the normalised card UID under the card key (hex).",
    ),
]
Zone = Annotated[str, Field(min_length=1, max_length=63, description="Zone name.")]


def card_key_context(device_id: str) -> bytes:
    """What the bundle's sealed card key is bound to."""
    return context(device_id, "card-key")


def templates_context(device_id: str, person: str) -> bytes:
    """What a person's sealed face templates are bound to."""
    return context(device_id, "face-templates", person)


class PersonKind(StrEnum):
    """Whose record a person ref points at: a staff user or a student."""

    USER = "user"
    STUDENT = "student"


_PERSON_REF = re.compile(r"^(user|student)-([1-9][0-9]{0,9})$")


def person_ref(kind: PersonKind, record_id: int) -> str:
    """The one spelling of a person on the wire: `user-12`, `student-7`."""
    if record_id <= 0:
        raise ProtocolError(f"a person's record id must be positive, got {record_id}")
    return f"{kind.value}-{record_id}"


def parse_person_ref(ref: str) -> tuple[PersonKind, int]:
    """The record a person ref names; ProtocolError if it is not one `person_ref` makes."""
    match = _PERSON_REF.fullmatch(ref)
    if match is None:
        raise ProtocolError(f"person ref {ref!r} is not user-<id> or student-<id>")
    return PersonKind(match.group(1)), int(match.group(2))


class RosterRole(StrEnum):
    """Why a person is on a device's roster."""

    SUPERVISOR = "supervisor"
    STUDENT = "student"


class Geofence(WireModel):
    """Where the device must be: a circle around the room or gate."""

    latitude: float = Field(ge=-90, le=90, description="Centre latitude, WGS 84 degrees.")
    longitude: float = Field(ge=-180, le=180, description="Centre longitude, WGS 84 degrees.")
    radius_m: float = Field(gt=0, le=100_000, description="Radius in metres.")


class DeviceBinding(WireModel):
    """What the device guards: a room (door station) or a gate, at a site."""

    station: Station
    site: SiteCode
    room_ref: Ref | None = Field(default=None, description="The room, for a door station.")
    gate_ref: Ref | None = Field(default=None, description="The gate, for a gate station.")
    place_name: str = Field(max_length=200, description="Room or gate name, for displays.")
    geofence: Geofence | None = Field(
        default=None, description="Where the device must be; None when the place has none."
    )

    @model_validator(mode="after")
    def _one_place(self) -> "DeviceBinding":
        expected = {Station.DOOR: "room_ref", Station.GATE: "gate_ref"}[self.station]
        if (self.room_ref is None) == (self.gate_ref is None) or getattr(self, expected) is None:
            raise ValueError(f"a {self.station.value} station is bound by {expected} only")
        return self


class Thresholds(WireModel):
    """The coordinator's overrides of the firmware profile's thresholds; None keeps the profile's.

    The profile holds the defaults. These names are also the settings a `config` command may
    name (the API checks a command against this model); the device decides which ones it
    takes, within its own profile's bounds (docs/bundles.md, "Remote commands").
    """

    face_distance_max: float | None = Field(
        default=None, gt=0, le=2, description="Largest embedding distance accepted as a match."
    )
    face_unknown_margin: float | None = Field(
        default=None, ge=0, le=1, description="Band above the limit answered as 'uncertain'."
    )
    liveness_min: float | None = Field(
        default=None, ge=0, le=1, description="Smallest liveness score accepted."
    )
    geofence_radius_m: float | None = Field(
        default=None, gt=0, le=100_000, description="Radius used when the place has none."
    )
    check_in_before_s: int | None = Field(
        default=None, ge=0, le=86_400, description="How early before the start check-in opens."
    )
    check_in_after_s: int | None = Field(
        default=None, ge=0, le=86_400, description="How late after the start check-in closes."
    )
    frames_per_attempt: int | None = Field(
        default=None, ge=1, le=30, description="Camera frames a door captures per tap."
    )
    heartbeat_interval_s: float | None = Field(
        default=None, ge=1, le=86_400, description="Seconds between the device's heartbeats."
    )


class BundleSession(WireModel):
    """An exam session held at the device's room in the bundle's horizon."""

    session_ref: Ref
    exam_code: str = Field(max_length=63, description="The exam's code, for displays.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    check_in_opens_at: AwareDatetime = Field(description="First moment a check-in is accepted.")
    check_in_closes_at: AwareDatetime = Field(description="Last moment a check-in is accepted.")

    @model_validator(mode="after")
    def _ordered(self) -> "BundleSession":
        if not self.starts_at < self.ends_at:
            raise ValueError("a session ends after it starts")
        if not self.check_in_opens_at <= self.check_in_closes_at:
            raise ValueError("the check-in window closes after it opens")
        return self


class SealedTemplates(WireModel):
    """A person's face templates sealed to this device (format: protocols.templates)."""

    model: str = Field(max_length=64, description="Embedding model the templates belong to.")
    sealed: SealedBytes = Field(description="protocols.sealing box of protocols.templates bytes.")


class RosterSession(WireModel):
    """One session a person is expected at, and the supervisor assignment behind it."""

    session_ref: Ref
    assignment_ref: Ref | None = Field(
        default=None, description="The supervisor's assignment; None for an enrolled student."
    )


class RosterEntry(WireModel):
    """A person the device may accept: how to recognise them and where they are expected."""

    person_ref: Ref = Field(description="user-<id> or student-<id> (protocols.bundle).")
    role: RosterRole
    name: str = Field(max_length=200, description="Display name shown on the device.")
    card_hashes: list[CardHash] = Field(default_factory=list, max_length=MAX_CARDS_PER_PERSON)
    templates: SealedTemplates | None = Field(
        default=None, description="Sealed face templates; None when the person has none."
    )
    sessions: list[RosterSession] = Field(default_factory=list, max_length=MAX_SESSIONS)

    @field_validator("person_ref")
    @classmethod
    def _is_person(cls, value: str) -> str:
        try:
            parse_person_ref(value)
        except ProtocolError as error:
            raise ValueError(str(error)) from None
        return value


class TimeRule(WireModel):
    """When a zone is open: on these ISO weekdays (1 = Monday), between two local times."""

    zone: Zone
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    opens: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, local.")
    closes: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, local.")


class PublicKey(WireModel):
    """An Ed25519 public key by id (raw 32 bytes, base64): bundle signing or pass keys."""

    key_id: KeyId
    public_key: str = Field(
        pattern=r"^[A-Za-z0-9+/]{43}=$", description="Raw Ed25519 public key, base64."
    )


class GateRules(WireModel):
    """What a gate needs to judge a pass on its own."""

    zone: Zone = Field(description="The zone this gate lets people into.")
    direction: Direction | None = Field(
        default=None,
        description="Which way the gate lets people through (in: entry, out: exit); None (a "
        "two-way gate) keeps the device's own setting.",
    )
    time_zone: str = Field(max_length=64, description="IANA zone the time rules are read in.")
    time_rules: list[TimeRule] = Field(default_factory=list, max_length=1_000)
    pass_keys: list[PublicKey] = Field(default_factory=list, max_length=32)
    revoked_passes: list[Ref] = Field(default_factory=list, max_length=MAX_REVOCATIONS)
    suspended_passes: list[Ref] = Field(
        default_factory=list,
        max_length=MAX_REVOCATIONS,
        description="Passes suspended for now (refused as suspended, may be resumed).",
    )


class Bundle(WireModel):
    """One device's signed state: binding, thresholds, sessions, roster, and gate rules.

    `version` grows by at least one with every build for the device; a device refuses a version
    not newer than the one it holds. `key_id` repeats the signing key's id inside the signed
    bytes, so the outer id cannot be swapped.
    """

    type: Literal["bundle_body"] = "bundle_body"
    format: Literal[1] = Field(default=1, description="Version of this bundle format.")
    device_id: DeviceId
    version: int = Field(ge=1, le=2**31 - 1, description="Monotonic per device.")
    issued_at: AwareDatetime
    valid_until: AwareDatetime = Field(description="End of the horizon the sessions cover.")
    key_id: KeyId = Field(description="The signing key; must equal the SignedBundle's key_id.")
    binding: DeviceBinding
    thresholds: Thresholds = Field(default_factory=Thresholds)
    sessions: list[BundleSession] = Field(default_factory=list, max_length=MAX_SESSIONS)
    roster: list[RosterEntry] = Field(default_factory=list, max_length=MAX_ROSTER)
    card_key: SealedBytes | None = Field(
        default=None,
        description="The key that hashes card UIDs (protocols.cards), sealed to the device.",
    )
    gate: GateRules | None = Field(default=None, description="Present for gate stations only.")
    signing_keys: list[PublicKey] = Field(
        default_factory=list,
        max_length=8,
        description="Bundle-signing keys the device trusts from now on (key rotation); "
        "empty keeps the keys it has.",
    )

    @model_validator(mode="after")
    def _gate_rules_for_gates(self) -> "Bundle":
        is_gate = self.binding.station is Station.GATE
        if is_gate != (self.gate is not None):
            raise ValueError("gate rules are present exactly when the station is a gate")
        return self

    def session(self, session_ref: str) -> BundleSession | None:
        return next((s for s in self.sessions if s.session_ref == session_ref), None)

    def person_by_card(self, card_hash: str) -> RosterEntry | None:
        return next((p for p in self.roster if card_hash in p.card_hashes), None)


def sessions_running(bundle: Bundle, at: datetime) -> list[BundleSession]:
    """The bundle's sessions in progress at `at`."""
    return [s for s in bundle.sessions if s.starts_at <= at < s.ends_at]
