"""The edge agent's configuration: one pydantic model, loaded from YAML or built by `simulate`."""

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from edge_agent.errors import ConfigError
from edge_agent.store.outbox import DEFAULT_MAX_ITEMS
from protocols.codec import DEFAULT_MAX_MESSAGE_BYTES
from protocols.ids import NAME_PATTERN
from protocols.vocabulary import Direction


class BrokerConfig(BaseModel):
    """How to reach the MQTT broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(default=None, description="MQTT user; the device id in a fleet.")
    password: SecretStr | None = Field(default=None, description="MQTT password of this device.")
    ca_file: Path | None = Field(default=None, description="CA certificate; set to use TLS.")
    keepalive_s: int = Field(default=15, ge=5, le=600, description="MQTT keep-alive interval.")
    reconnect_min_s: float = Field(default=1, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(default=60, gt=0, description="Longest reconnect delay.")


class AgentConfig(BaseModel):
    """Everything one edge agent needs to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: str = Field(pattern=NAME_PATTERN, description="This device's id.")
    site: str = Field(pattern=NAME_PATTERN, description="The campus site the device belongs to.")
    profile: str = Field(
        description="Firmware profile name, a file in firmware_profiles/ (e.g. door-station-pi4)."
    )
    data_dir: Path = Field(description="Where the outbox and local state live.")
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    heartbeat_interval_s: float = Field(
        default=30, ge=1, le=86_400, description="Seconds between heartbeats."
    )
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, gt=0)
    outbox_max_items: int = Field(
        default=DEFAULT_MAX_ITEMS,
        ge=100,
        le=10_000_000,
        description="Outbox bound: beyond it heartbeats are dropped and the alarm sounds.",
    )

    gate_direction: Direction = Field(
        default=Direction.IN,
        description="Gates only: which way the gate lets people through (in: entry, out: exit) "
        "until its bundle says; the bundle's word wins.",
    )

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def load_config(path: Path) -> AgentConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return AgentConfig.model_validate(raw)
    except OSError as error:
        raise ConfigError(f"cannot read agent config {path}: {error.strerror}") from None
    except ValidationError as error:
        hint = (
            "\nadd `profile: NAME`, where firmware_profiles/NAME.yaml is this device's class "
            "(e.g. door-station-pi4, gate-station-pi5)"
            if any(e["loc"] == ("profile",) and e["type"] == "missing" for e in error.errors())
            else ""
        )
        raise ConfigError(f"agent config {path} is not valid: {error}{hint}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"agent config {path} is not valid: {error}") from None
