"""The wire's vocabularies: every closed set of words a message may carry (kinds, commands,
reason codes, statuses). Messages use them (protocols/messages.py); the database stores the
growing ones without a CHECK (coordinator.db.models.wire_enum)."""

from enum import StrEnum


class EventKind(StrEnum):
    """What a device reports; also the last topic level of `.../evt/{kind}`."""

    ATTENDANCE = "attendance"
    ACCESS = "access"
    VIOLATION = "violation"
    HEARTBEAT = "heartbeat"
    ATTEMPT = "attempt"


class CommandName(StrEnum):
    """What the coordinator asks of a device; also the last topic level of `.../cmd/{name}`."""

    BUNDLE = "bundle"
    OPEN = "open"
    REBOOT = "reboot"
    CONFIG = "config"
    PASSAGE = "passage"


class ReasonCode(StrEnum):
    """Why a station accepted or refused someone: one vocabulary for doors and gates."""

    OK = "ok"
    UNKNOWN_CARD = "unknown_card"
    CARD_SUSPENDED = "card_suspended"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    FACE_QUALITY_LOW = "face_quality_low"
    FACE_MISMATCH = "face_mismatch"
    FACE_UNCERTAIN = "face_uncertain"
    NOT_LIVE = "not_live"
    NO_TEMPLATE = "no_template"
    OUTSIDE_GEOFENCE = "outside_geofence"
    NO_ASSIGNMENT = "no_assignment"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_CHECKED_IN = "already_checked_in"
    PASS_MALFORMED = "pass_malformed"
    PASS_FORGED = "pass_forged"
    PASS_EXPIRED = "pass_expired"
    PASS_NOT_YET_VALID = "pass_not_yet_valid"
    PASS_REVOKED = "pass_revoked"
    NOT_A_PASS = "not_a_pass"
    PASS_TRUNCATED = "pass_truncated"
    PASS_UNKNOWN_KEY = "pass_unknown_key"
    PASS_WRONG_SITE = "pass_wrong_site"
    PASS_SUSPENDED = "pass_suspended"
    PASS_NEEDS_ROTATING_CODE = "pass_needs_rotating_code"
    PASS_CODE_REPLAYED = "pass_code_replayed"
    PASS_CODE_FROM_FUTURE = "pass_code_from_future"
    PASS_CODE_STALE = "pass_code_stale"
    WRONG_ZONE = "wrong_zone"
    OUTSIDE_HOURS = "outside_hours"
    ANTI_PASSBACK = "anti_passback"
    NO_BUNDLE = "no_bundle"
    HARDWARE_FAULT = "hardware_fault"


class Station(StrEnum):
    """The kind of place a device guards."""

    DOOR = "door"
    GATE = "gate"


class Credential(StrEnum):
    """What the person presented."""

    CARD = "card"
    QR_PASS = "qr_pass"
    FACE = "face"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"


class AccessDecision(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class AttendanceAction(StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class ViolationType(StrEnum):
    """Canonical violations; the coordinator's rules raise the same types from signals."""

    SUPERVISOR_ABSENT = "supervisor_absent"
    DEVICE_OFFLINE = "device_offline"
    REPEATED_FAILED_VERIFICATION = "repeated_failed_verification"
    FORGED_PASS = "forged_pass"
    REPLAYED_PASS = "replayed_pass"
    TAMPER = "tamper"
    GEOFENCE_BREACH = "geofence_breach"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ClockSync(StrEnum):
    """Whether the device clock is disciplined (NTP/chrony); unsynced clocks make times suspect."""

    SYNCED = "synced"
    UNSYNCED = "unsynced"
    UNKNOWN = "unknown"


class DeathCause(StrEnum):
    SHUTDOWN = "shutdown"
    CONNECTION_LOST = "connection_lost"


class CoordinatorStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class BundleStatus(StrEnum):
    APPLIED = "applied"
    REFUSED = "refused"


class CommandStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    REFUSED = "refused"
    EXPIRED = "expired"


class BundleRefusal(StrEnum):
    """Why a device refused a bundle (docs/bundles.md)."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    TAMPERED = "tampered"
    FOREIGN = "foreign"
    OLDER = "older"
    REPLAYED = "replayed"
    UNREADABLE_SECRETS = "unreadable_secrets"
