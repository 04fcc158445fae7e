"""The coordinator's settings: one pydantic-settings object, read from COORDINATOR_* variables."""

import ipaddress
import math
from collections import Counter
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocols.codec import DEFAULT_MAX_MESSAGE_BYTES

# Shipped in this repository's history as the development default, so anyone can forge with it.
PUBLISHED_SECRET_KEYS = frozenset({"development-only-insecure-secret-key-do-not-deploy"})
# A root secret must hold at least this much entropy (estimated from its own characters).
MIN_SECRET_KEY_BITS = 128
SECRET_KEY_ADVICE = (
    "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    " and keep it in a secret store"
)


class Settings(BaseSettings):
    """Built once by the app factory or the CLI; never at import time."""

    model_config = SettingsConfigDict(env_prefix="COORDINATOR_", extra="forbid")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="In production, unsafe defaults (no MQTT password, SQLite) are refused.",
    )
    database_url: str = Field(
        default="sqlite:///coordinator.sqlite3",
        description="SQLAlchemy URL: postgresql+psycopg://... in production, SQLite for a demo.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    http_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    mqtt_enabled: bool = Field(default=True, description="Run the MQTT ingest worker.")
    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_username: str | None = Field(default=None, description="The coordinator's MQTT user.")
    mqtt_password: SecretStr | None = Field(default=None, description="Its MQTT password.")
    mqtt_client_id: str = Field(
        default="coordinator-ingest-1",
        description="Stable per ingest worker, so the broker keeps its session across restarts.",
    )
    mqtt_share_group: str = Field(
        default="coordinator", description="MQTT v5 shared-subscription group of ingest workers."
    )
    mqtt_session_expiry_s: int = Field(
        default=300,
        ge=0,
        description="How long the broker keeps a stopped ingest worker's session (its queue and"
        " its share of the shared subscription). It bounds how long a worker lost for good"
        " strands its share; past it, devices resend what they hold (docs/delivery.md).",
    )
    mqtt_receive_maximum: int = Field(
        default=2000,
        ge=1,
        le=65535,
        description="Deliveries the broker may send before our acks (MQTT v5 Receive Maximum):"
        " two batches, so one arrives while the other is stored.",
    )
    secret_key: SecretStr = Field(
        min_length=32,
        max_length=1024,
        description="Root secret (32+ random chars), required: token, card-hash, TOTP and"
        " template keys derive from it. The demo generates one in .demo/.",
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=120, description="Lifetime of an access token."
    )
    refresh_token_days: int = Field(
        default=14, ge=1, le=90, description="Lifetime of a refresh token family's members."
    )
    site: str | None = Field(default=None, description="Ingest only this site; all if unset.")
    face_model: str | None = Field(
        default=None,
        description="Face embedder model enrolment makes templates with (a models/MANIFEST "
        "model name, e.g. sface-2021dec); the manifest's default when unset.",
    )
    ingest_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Most messages per database commit (a batch is what has arrived, up to this).",
    )
    ingest_connection_process: bool = Field(
        default=True,
        description="Run each ingest worker's broker connection in a process of its own, so"
        " that paho's packet parsing has a core of its own (docs/delivery.md).",
    )
    max_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES, gt=0, description="Larger messages are dead-lettered."
    )
    heartbeat_interval_s: float = Field(
        default=30, gt=0, le=86400, description="Seconds between a device's heartbeats."
    )
    missed_heartbeats: int = Field(
        default=3, ge=1, le=1000, description="Heartbeats missed before a device is offline."
    )
    presence_sweep_s: float = Field(
        default=10, gt=0, le=3600, description="How often silent devices are looked for."
    )
    dead_letter_retention_days: int = Field(
        default=90, ge=1, le=36500, description="Dead letters older than this are deleted."
    )

    # --- the downlink (docs/bundles.md) ---
    bundle_horizon_hours: int = Field(
        default=24, ge=1, le=24 * 14, description="Bundles carry the sessions of the next N hours."
    )
    bundle_debounce_s: float = Field(
        default=2.0, ge=0, le=600, description="Wait this long after a change before building."
    )
    bundle_poll_s: float = Field(
        default=0.5, gt=0, le=60, description="How often the builder looks for stale bundles."
    )
    max_bundle_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        le=64 * 1024 * 1024,
        description="Largest bundle message; a larger build is refused and reported.",
    )
    check_in_before_min: int = Field(
        default=30, ge=0, le=24 * 60, description="Check-in opens this long before a session."
    )
    check_in_after_min: int = Field(
        default=15, ge=0, le=24 * 60, description="Check-in closes this long after the start."
    )
    sync_behind_min: int = Field(
        default=5, ge=1, description="A device this far behind during a session is 'behind'."
    )
    command_expiry_s: int = Field(
        default=120, ge=5, le=24 * 3600, description="Default lifetime of a remote command."
    )
    mqtt_publisher_client_id: str = Field(
        default="coordinator-push-1", description="Client id of the coordinator's publisher."
    )

    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (JSON list) of reverse proxies whose X-Forwarded-For"
        " and X-Forwarded-Proto are believed; from anyone else they are ignored.",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body (JSON, CSV) in bytes; larger ones are refused with 413.",
    )
    max_upload_bytes: int = Field(
        default=40 * 1024 * 1024,
        ge=1024,
        description="Largest multipart upload (face photos) in bytes; refused with 413 beyond.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        max_length=200,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Where people reach the console; invite and reset links start with it.",
    )
    account_link_hours: int = Field(
        default=24, ge=1, le=168, description="Lifetime of an invite or password-reset link."
    )
    pass_link_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 14,
        description="Lifetime of the one-time link through which a student opens a phone pass.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for invites; unset: links are shown to the admin."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(default=None, description="SMTP user, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    mail_send_interval_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="While serving, queued mail is handed to SMTP this often (if SMTP is set).",
    )
    mail_from: str = Field(
        default="coordinator@localhost", max_length=254, description="Sender of invite mail."
    )

    @field_validator("secret_key")
    @classmethod
    def _strong_secret_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() in PUBLISHED_SECRET_KEYS:
            raise ValueError(
                f"COORDINATOR_SECRET_KEY is the published development key: {SECRET_KEY_ADVICE}"
            )
        bits = estimated_bits(value.get_secret_value())
        if bits < MIN_SECRET_KEY_BITS:
            raise ValueError(
                f"COORDINATOR_SECRET_KEY looks guessable (about {bits} bits, at least"
                f" {MIN_SECRET_KEY_BITS} needed): {SECRET_KEY_ADVICE}"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _batch_can_fill(self) -> "Settings":
        if self.mqtt_receive_maximum < self.ingest_batch_size:
            raise ValueError(
                "COORDINATOR_MQTT_RECEIVE_MAXIMUM must be at least COORDINATOR_INGEST_BATCH_SIZE:"
                " the broker sends no more than that many unacked messages, and a batch is acked"
                " only when it is stored"
            )
        return self

    @model_validator(mode="after")
    def _safe_in_production(self) -> "Settings":
        if self.environment != "production":
            return self
        problems = []
        if self.database_url.startswith("sqlite"):
            problems.append("COORDINATOR_DATABASE_URL must point at PostgreSQL")
        if self.mqtt_enabled and not (self.mqtt_username and self.mqtt_password):
            problems.append("COORDINATOR_MQTT_USERNAME and COORDINATOR_MQTT_PASSWORD must be set")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


def estimated_bits(secret: str) -> int:
    """Shannon entropy of the secret's own characters times its length: a lower bound that
    catches keys like "aaaa…" or a repeated word, not a proof of randomness."""
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return int(per_char * len(secret))
