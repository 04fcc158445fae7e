"""Every message on the wire, as frozen pydantic models.

Each payload has a `type` literal; the envelope carries exactly one payload, chosen by that literal.
Devices send events, state and acknowledgements; the coordinator sends commands, receipts and its
own online state. The reference in
docs/protocol/ is generated from these models, so descriptions here are the documentation.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from protocols.ids import NAME_PATTERN
from protocols.vocabulary import (
    AccessDecision,
    AttendanceAction,
    BundleRefusal,
    BundleStatus,
    ClockSync,
    CommandStatus,
    CoordinatorStatus,
    Credential,
    DeathCause,
    Direction,
    Outcome,
    ReasonCode,
    Severity,
    Station,
    ViolationType,
)

SCHEMA_VERSION = 1

# Bounds of what a receiver can store and compute with: a value past them would overflow a
# database column or the date arithmetic, so it is refused here, as a protocol error, instead.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # a Pi without a clock source starts here
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)  # far from year 9999, where arithmetic overflows

Count32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
Count64 = Annotated[int, Field(ge=0, le=INT64_MAX)]

DeviceId = Annotated[
    str, Field(pattern=NAME_PATTERN, description="Device id: lowercase letters, digits, - and _.")
]
Ref = Annotated[
    str,
    Field(min_length=1, max_length=64, description="Id of a coordinator record, as in the bundle."),
]
Detail = Annotated[str, Field(max_length=500, description="Free text for people, never parsed.")]


class WireModel(BaseModel):
    """Base of every wire model: immutable; unknown fields and NaN/infinity are errors.

    JSON has no infinity: pydantic would write it as null, which then fails to read back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """No NUL in any string: text columns cannot hold it (pydantic refuses lone surrogates)."""
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                for text in (key, item):
                    if isinstance(text, str):
                        _check_text(text)
        return value


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")


# --- device state (retained) --------------------------------------------------------------------


class Birth(WireModel):
    """Published retained when a device connects: it is online, with this software and bundle."""

    type: Literal["birth"] = "birth"
    agent_version: str = Field(max_length=40, description="Version of the edge agent software.")
    profile: str = Field(max_length=64, description="Firmware profile name the device runs.")
    bundle_version: Count32 | None = Field(
        default=None, description="Version of the assignment bundle in force, if any."
    )


class Death(WireModel):
    """Retained offline marker: sent on a clean stop, or by the broker as the last will."""

    type: Literal["death"] = "death"
    cause: DeathCause = Field(description="A clean shutdown, or the connection was lost (will).")


# --- events -------------------------------------------------------------------------------------


class Health(WireModel):
    """A device's vital signs, sampled when the heartbeat is built."""

    cpu_temp_c: float | None = Field(
        default=None, ge=-40, le=150, description="SoC temperature in °C; None if unreadable."
    )
    load_1m: float = Field(ge=0, description="One-minute load average.")
    disk_free_bytes: Count64 = Field(description="Free bytes on the data partition.")
    memory_used_pct: float = Field(ge=0, le=100, description="Share of RAM in use, percent.")
    clock_sync: ClockSync = Field(description="Whether the wall clock is synchronised.")
    agent_version: str = Field(max_length=40, description="Version of the edge agent software.")
    bundle_version: Count32 | None = Field(
        default=None, description="Version of the assignment bundle in force, if any."
    )
    outbox_depth: Count32 = Field(
        description="Messages in the outbox: not yet sent, or sent and not yet receipted."
    )
    outbox_full: bool = Field(
        default=False,
        description="The outbox is at its bound: heartbeats are dropped, decisions still kept.",
    )
    clock_offset_s: float | None = Field(
        default=None,
        ge=-1e9,
        le=1e9,
        description="Device clock minus the coordinator's, estimated from its state messages.",
    )
    coordinator_online: bool | None = Field(
        default=None,
        description="Whether an ingest worker of the coordinator said it is online (its retained "
        "state); None before the device has heard from one.",
    )


class Heartbeat(WireModel):
    """Periodic proof of life with health figures."""

    type: Literal["heartbeat"] = "heartbeat"
    health: Health


class Attendance(WireModel):
    """A supervisor (or student) checked in or out for an exam session."""

    type: Literal["attendance"] = "attendance"
    action: AttendanceAction
    person_ref: Ref
    assignment_ref: Ref | None = Field(
        default=None, description="The supervisor assignment this attendance belongs to."
    )
    face_distance: float | None = Field(
        default=None, ge=0, description="Embedding distance of the face check, if one was made."
    )


class Attempt(WireModel):
    """Every decision a station made, accepted or refused, with its reason."""

    type: Literal["attempt"] = "attempt"
    station: Station
    credential: Credential
    outcome: Outcome
    reason: ReasonCode
    subject_ref: Ref | None = Field(
        default=None, description="The person the credential claims to be, when known."
    )
    face_distance: float | None = Field(default=None, ge=0)
    detail: Detail | None = None
    evidence_ref: str | None = Field(
        default=None,
        max_length=200,
        description="A small face crop kept on the device (only if its profile allows); no photo "
        "is ever sent.",
    )


class Access(WireModel):
    """A gate let someone through or not."""

    type: Literal["access"] = "access"
    decision: AccessDecision
    reason: ReasonCode
    direction: Direction
    credential: Credential
    subject_ref: Ref | None = None
    pass_ref: Ref | None = Field(default=None, description="Id of the signed pass shown.")


class Violation(WireModel):
    """Something a device saw that breaks the rules."""

    type: Literal["violation"] = "violation"
    violation_type: ViolationType
    severity: Severity
    confidence: float = Field(ge=0, le=1, description="How sure the device is, 0 to 1.")
    subject_ref: Ref | None = None
    evidence_ref: str | None = Field(
        default=None, max_length=200, description="Where the evidence is kept, e.g. a snapshot id."
    )
    detail: Detail | None = None


# --- commands and replies -----------------------------------------------------------------------


Expiry = Annotated[
    AwareDatetime | None,
    AfterValidator(lambda value: value.astimezone(UTC) if value is not None else None),
    Field(description="After this moment the device refuses the command as expired, in UTC."),
]


class OpenDoor(WireModel):
    """Ask a device to release its door or gate relay."""

    type: Literal["open"] = "open"
    command_id: UUID
    expires_at: Expiry = None
    hold_s: float = Field(default=3.0, gt=0, le=30, description="How long the relay stays on.")


class Reboot(WireModel):
    """Ask a device to restart its agent."""

    type: Literal["reboot"] = "reboot"
    command_id: UUID
    expires_at: Expiry = None
    reason: Detail


class ConfigChange(WireModel):
    """Ask a device to change named settings of its firmware profile."""

    type: Literal["config"] = "config"
    command_id: UUID
    expires_at: Expiry = None
    settings: dict[Annotated[str, Field(max_length=64)], str | int | float | bool] = Field(
        description="Setting name to new value; the device refuses names it does not know."
    )


def _storable_instant(value: datetime) -> datetime:
    """In UTC, and inside the range a receiver can store and compute with."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is outside the range a receiver can compute with") from None
    if not EARLIEST_TIME <= utc < LATEST_TIME:
        raise ValueError(
            f"time must be between {EARLIEST_TIME.isoformat()} and {LATEST_TIME.isoformat()}"
        )
    return utc


class Passage(WireModel):
    """Another gate of the site let a holder through (anti-passback shared across gates).

    Sent by the coordinator to the other gates of the site when it stores a granted access;
    not a person's command, so it is not answered. A gate ignores it after `expires_at` (the
    end of the anti-passback window it can still matter in).
    """

    type: Literal["passage"] = "passage"
    holder_ref: Ref = Field(description="Who went through, as the bundle names them.")
    pass_ref: Ref | None = Field(default=None, description="The pass shown, if one was.")
    direction: Direction
    at: Annotated[AwareDatetime, AfterValidator(_storable_instant)] = Field(
        description="When the gate let them through (that gate's clock), in UTC."
    )
    gate_device_id: DeviceId = Field(description="The gate device that let them through.")
    expires_at: Expiry = None


class CommandResult(WireModel):
    """A device's reply to a command."""

    type: Literal["command_result"] = "command_result"
    command_id: UUID
    status: CommandStatus
    detail: Detail | None = None


class BundleAck(WireModel):
    """A device's reply to an assignment bundle: applied, or refused with the reason."""

    type: Literal["bundle_ack"] = "bundle_ack"
    bundle_version: Count32
    status: BundleStatus
    reason: Detail | None = None
    refusal: BundleRefusal | None = Field(
        default=None, description="Why the bundle was refused; None when it was applied."
    )
    content_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the signed body bytes the device applied or refused.",
    )


MAX_BUNDLE_BODY_CHARS = 16 * 1024 * 1024


class SignedBundle(WireModel):
    """A bundle on its way to a device: the exact body bytes and their Ed25519 signature.

    The signature covers the UTF-8 bytes of `body` as sent, so no canonical JSON is needed;
    `body` is the JSON of a `protocols.bundle.Bundle`. A bundle with no signature is refused
    by devices (allowed only from a local file in development).
    """

    type: Literal["bundle"] = "bundle"
    key_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Id of the signing key."
    )
    signature: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9+/]{86}==$", description="Ed25519 signature, base64."
    )
    body: str = Field(max_length=MAX_BUNDLE_BODY_CHARS, description="The Bundle's JSON text.")


# --- from the coordinator's ingest: receipts and its own online state -------------------------

MAX_RECEIPT_IDS = 1000  # 1000 ids are about 39 KB of JSON, well under the 64 KiB message limit


class Receipt(WireModel):
    """The coordinator holds these messages for good (stored, or kept as dead letters).

    Sent by an ingest worker after each commit, one per device per batch (more only past
    MAX_RECEIPT_IDS), QoS 1, not retained, on the device's own `receipt` topic. The device
    deletes a message from its outbox only when a receipt names it; ids it does not hold are
    ignored. The envelope's `device_id` is the device the receipt is for.
    """

    type: Literal["receipt"] = "receipt"
    format: Literal[1] = Field(default=1, description="Version of this receipt format.")
    message_ids: list[UUID] = Field(
        min_length=1,
        max_length=MAX_RECEIPT_IDS,
        description="Message ids of the device's messages committed (or dead-lettered).",
    )


class CoordinatorState(WireModel):
    """An ingest worker's retained online state; the broker publishes `offline` as its will.

    Published on `campus/v1/coordinator/{worker}` when the worker connects and again every
    30 s (so devices can estimate their clock offset from live copies); the envelope's
    `device_id` is the worker's id (its MQTT client id).
    """

    type: Literal["coordinator_state"] = "coordinator_state"
    status: CoordinatorStatus


StatePayload = Birth | Death
EventPayload = Heartbeat | Attendance | Attempt | Access | Violation
CommandPayload = OpenDoor | Reboot | ConfigChange | SignedBundle | Passage
AckPayload = CommandResult | BundleAck
ReceiptPayload = Receipt
CoordinatorPayload = CoordinatorState
Payload = Annotated[
    StatePayload | EventPayload | CommandPayload | AckPayload | ReceiptPayload | CoordinatorPayload,
    Field(discriminator="type"),
]


class Envelope(WireModel):
    """What travels on every topic: who sent it, in which boot, in what order, and the payload.

    `device_id` is the device the message is from (or, for commands, for). `boot_id` is new each
    time the sender starts, and `seq` counts the sender's sequenced messages within one boot from 1,
    so a receiver can see gaps. State messages (birth, death) are not sequenced and carry seq 0.
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this envelope format.")
    message_id: UUID = Field(description="UUIDv7, unique per message; the deduplication key.")
    device_id: DeviceId
    boot_id: UUID = Field(description="New for every start of the sending process.")
    seq: Count32 = Field(
        description="Sequence number within the boot; 0 for state messages, receipts and the "
        "coordinator's state (unsequenced)."
    )
    device_time: AwareDatetime = Field(description="Wall clock of the sender when it was made.")
    monotonic_ns: Count64 = Field(description="Monotonic clock of the sender, nanoseconds.")
    replayed: bool = Field(
        default=False, description="True when sent late from the outbox after being offline."
    )
    clock_unsynced: bool = Field(
        default=False,
        description="True when the sender's clock was not synchronised (NTP) as it stamped "
        "device_time, so that time is suspect.",
    )
    payload: Payload

    @field_validator("device_time")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("time is outside the range a receiver can compute with") from None
        if not EARLIEST_TIME <= utc < LATEST_TIME:
            raise ValueError(
                f"time must be between {EARLIEST_TIME.isoformat()} and {LATEST_TIME.isoformat()}"
            )
        return utc


MESSAGE_TYPES: tuple[type[WireModel], ...] = (
    Birth,
    Death,
    Heartbeat,
    Attendance,
    Attempt,
    Access,
    Violation,
    OpenDoor,
    Reboot,
    ConfigChange,
    SignedBundle,
    Passage,
    CommandResult,
    BundleAck,
    Receipt,
    CoordinatorState,
)
