"""Bundle sync status and remote commands, as the API shows and takes them."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from coordinator.db.enums import CommandState, RemoteCommand
from coordinator.schemas.common import Public, Strict
from protocols.bundle import Thresholds


class SyncPublic(Public):
    """Where a device's bundle stands."""

    device_id: str
    built_version: int = Field(description="Newest bundle version built for the device.")
    built_at: datetime | None
    built_bytes: int | None = Field(description="Size of that bundle message in bytes.")
    acked_version: int | None = Field(description="Newest version the device applied.")
    acked_at: datetime | None
    refused_version: int | None
    refused_reason: str | None = Field(description="Why the device refused a bundle, if it did.")
    refused_at: datetime | None
    stale_since: datetime | None = Field(description="Changed since the last build, waiting.")
    build_problem: str | None = Field(description="Why the bundle could not be built, if so.")
    is_behind: bool = Field(
        description="Behind for longer than allowed while a session runs in its room."
    )


class CommandCreate(Strict):
    """A command for a device; `reason` is kept in the audit log with who asked."""

    name: RemoteCommand
    reason: str = Field(min_length=3, max_length=500, description="Why: shown in the audit log.")
    hold_s: float = Field(default=3.0, gt=0, le=30, description="For open: relay on-time.")
    settings: dict[Annotated[str, Field(max_length=64)], float | int | None] | None = Field(
        default=None, description="For config: threshold name to new value (protocols Thresholds)."
    )
    expires_in_s: int | None = Field(
        default=None, ge=5, le=24 * 3600, description="Lifetime; the default comes from settings."
    )

    @model_validator(mode="after")
    def _settings_for_config(self) -> "CommandCreate":
        if (self.name is RemoteCommand.CONFIG) != bool(self.settings):
            raise ValueError("settings are given exactly for a config command")
        if self.settings:
            Thresholds.model_validate(self.settings)  # unknown names and out-of-range values
        return self

    def params(self) -> dict[str, Any]:
        if self.name is RemoteCommand.OPEN:
            return {"hold_s": self.hold_s}
        if self.name is RemoteCommand.CONFIG:
            return {"settings": self.settings}
        return {}


class CommandPublic(Public):
    id: uuid.UUID
    device_id: str
    name: RemoteCommand
    params: dict[str, Any]
    issued_by_id: int | None
    reason: str
    issued_at: datetime
    expires_at: datetime
    status: CommandState
    result_at: datetime | None
    detail: str | None
