"""The downlink: bundle signing keys, per-device sync state, remote commands."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.db.enums import (
    CommandState,
    RemoteCommand,
)
from coordinator.db.models.base import Base, UtcDateTime, str_enum, utc_now

# --- the downlink: bundle signing keys, per-device sync state, remote commands -------------------


class SigningKey(Base):
    """An Ed25519 key that signs bundles; the private half sealed under the root secret.

    Rotation: a new key is added (devices learn it from bundles signed by the active key), then
    activated (it signs from now on; the old key still verifies), then the old one is retired.
    """

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BundleSync(Base):
    """Where one device's bundle stands: stale since when, built, acknowledged or refused."""

    __tablename__ = "bundle_sync"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    stale_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    built_version: Mapped[int] = mapped_column(Integer, default=0)
    built_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    built_hash: Mapped[str | None] = mapped_column(String(64))
    built_bytes: Mapped[int | None] = mapped_column(Integer)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    signed: Mapped[bytes | None] = mapped_column(LargeBinary)
    build_problem: Mapped[str | None] = mapped_column(String(500))
    acked_version: Mapped[int | None] = mapped_column(Integer)
    acked_hash: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refused_version: Mapped[int | None] = mapped_column(Integer)
    refused_reason: Mapped[str | None] = mapped_column(String(500))
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeviceCommand(Base):
    """A remote command to a device: who asked and why, until when it may act, and the result."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_device_issued", "device_id", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    name: Mapped[RemoteCommand] = mapped_column(str_enum(RemoteCommand))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[CommandState] = mapped_column(str_enum(CommandState), index=True)
    result_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(String(500))
