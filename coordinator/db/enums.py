"""Vocabularies of the coordinator's own records (wire vocabularies come from `protocols`)."""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"


class StudentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    GRADUATED = "graduated"


class DeviceStatus(StrEnum):
    REGISTERED = "registered"
    ACTIVE = "active"
    RETIRED = "retired"


class GateDirection(StrEnum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class PassApplicationStatus(StrEnum):
    """draft → submitted → approved | rejected (with a reason); approving issues the pass."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class PassStatus(StrEnum):
    """active ⇄ suspended; active | suspended → revoked | expired (early, by a person).

    Expiry by date needs no status: a pass past its `valid_until` is expired whatever it says.
    """

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class AssignmentStatus(StrEnum):
    """proposed → accepted | declined; accepted → checked_in → checked_out; or absent."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    ABSENT = "absent"


class ViolationStatus(StrEnum):
    """open → acknowledged → resolved | dismissed."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class PersonKind(StrEnum):
    USER = "user"
    STUDENT = "student"


class RemoteCommand(StrEnum):
    """What a person may ask of a device from the API (docs/bundles.md has the roles)."""

    OPEN = "open"
    RESYNC = "resync"
    REBOOT = "reboot"
    CONFIG = "config"


class CommandState(StrEnum):
    """pending → done | failed | refused (by the device) | expired (no answer in time)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    REFUSED = "refused"
    EXPIRED = "expired"
