"""Settings refuse unsafe production values and every field explains itself."""

import pytest
from pydantic import SecretStr, ValidationError

from coordinator.core.config import Settings


def test_production_refuses_sqlite_and_an_open_broker() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(environment="production")
    message = str(raised.value)
    assert "must point at PostgreSQL" in message
    assert "COORDINATOR_MQTT_PASSWORD must be set" in message
    assert "COORDINATOR_SECRET_KEY must be set to a random value" in message


def test_production_accepts_postgres_with_broker_credentials() -> None:
    settings = Settings(
        environment="production",
        database_url="postgresql+psycopg://coordinator@db/campus",
        mqtt_username="coordinator",
        mqtt_password=SecretStr("from-a-secret-store"),
        secret_key=SecretStr("k" * 40),
    )
    assert settings.mqtt_password is not None
    assert "from-a-secret-store" not in repr(settings)


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDINATOR_MQTT_PORT", "18883")
    assert Settings().mqtt_port == 18883
