"""The coordinator's settings: one pydantic-settings object, read from COORDINATOR_* variables."""

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocols.codec import DEFAULT_MAX_MESSAGE_BYTES

# Development runs (demo, tests) may use this; production refuses it.
DEVELOPMENT_SECRET_KEY = "development-only-insecure-secret-key-do-not-deploy"


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
        default=7 * 24 * 3600,
        ge=0,
        description="How long the broker queues events for a stopped ingest worker.",
    )
    mqtt_receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Deliveries the broker may send before our acks (MQTT v5 Receive Maximum).",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        min_length=32,
        description="Root secret (32+ chars); token, card-hash and template keys derive from it.",
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=120, description="Lifetime of an access token."
    )
    refresh_token_days: int = Field(
        default=14, ge=1, le=90, description="Lifetime of a refresh token family's members."
    )
    site: str | None = Field(default=None, description="Ingest only this site; all if unset.")
    ingest_batch_size: int = Field(default=200, ge=1, description="Messages per database commit.")
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

    @model_validator(mode="after")
    def _safe_in_production(self) -> "Settings":
        if self.environment != "production":
            return self
        problems = []
        if self.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY:
            problems.append("COORDINATOR_SECRET_KEY must be set to a random value")
        if self.database_url.startswith("sqlite"):
            problems.append("COORDINATOR_DATABASE_URL must point at PostgreSQL")
        if self.mqtt_enabled and not (self.mqtt_username and self.mqtt_password):
            problems.append("COORDINATOR_MQTT_USERNAME and COORDINATOR_MQTT_PASSWORD must be set")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self
