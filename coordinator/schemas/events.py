"""What the API says about stored device messages."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventPublic(BaseModel):
    """One stored device message."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: uuid.UUID
    device_id: str
    site: str
    kind: str = Field(description="The payload type: heartbeat, attendance, birth, ...")
    boot_id: uuid.UUID
    seq: int
    device_time: datetime
    received_at: datetime
    replayed: bool
    late: bool = Field(description="Replayed from the outbox, or arrived after a later message.")
    refusal: str | None = Field(
        description="Why the event did not become a domain record (unknown person, device, ...)."
    )
    payload: dict[str, Any]
