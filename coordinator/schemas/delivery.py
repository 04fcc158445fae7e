"""What the API says about the delivery of device messages: dead letters, gaps, presence."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DeadLetterPublic(BaseModel):
    """A message that could not be read or stored, with the reason; the body is a prefix."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    topic: str
    reason: str
    size: int = Field(description="Length of the whole body in bytes.")
    body_prefix: str = Field(
        validation_alias="body",
        description="The first bytes of the body (at most 4096), undecodable bytes escaped.",
    )
    received_at: datetime

    @field_validator("body_prefix", mode="before")
    @classmethod
    def _readable(cls, value: object) -> object:
        return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


class SequenceGapPublic(BaseModel):
    """Sequence numbers of one device boot that have not arrived (both ends included)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    boot_id: uuid.UUID
    first_seq: int
    last_seq: int
    opened_at: datetime
    closed_at: datetime | None = Field(description="When the last missing message arrived.")


class DevicePresencePublic(BaseModel):
    """Whether a device is online, and what its last birth and heartbeat said."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str
    is_online: bool
    boot_id: uuid.UUID | None
    born_at: datetime | None
    changed_at: datetime
    last_seen_at: datetime
    agent_version: str | None
    bundle_version: int | None
    health: dict[str, Any] | None
