"""Settings refuse unsafe values (a missing, weak or published secret key; in production SQLite
and an open broker), and every field explains itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from coordinator.core.config import PUBLISHED_SECRET_KEYS, Settings, estimated_bits

STRONG_KEY = SecretStr("Xq7-vR2mLp9_TzW4kB8nC1sD6fG3hJ5yE0aU")


def test_production_refuses_sqlite_and_an_open_broker() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(environment="production")
    message = str(raised.value)
    assert "must point at PostgreSQL" in message
    assert "COORDINATOR_MQTT_PASSWORD must be set" in message


def test_production_accepts_postgres_with_broker_credentials() -> None:
    settings = Settings(
        environment="production",
        database_url="postgresql+psycopg://coordinator@db/campus",
        mqtt_username="coordinator",
        mqtt_password=SecretStr("from-a-secret-store"),
        secret_key=STRONG_KEY,
    )
    assert settings.mqtt_password is not None
    assert "from-a-secret-store" not in repr(settings)
    assert STRONG_KEY.get_secret_value() not in repr(settings)


def test_a_batch_larger_than_the_brokers_window_is_refused() -> None:
    """The broker sends at most Receive Maximum unacked messages and a batch is acked only
    once stored, so a larger batch could never fill: say so at start, not as a slow worker."""
    with pytest.raises(ValidationError) as raised:
        Settings(secret_key=STRONG_KEY, ingest_batch_size=3000, mqtt_receive_maximum=2000)
    assert "RECEIVE_MAXIMUM must be at least COORDINATOR_INGEST_BATCH_SIZE" in str(raised.value)
    assert Settings(secret_key=STRONG_KEY).mqtt_receive_maximum >= 2 * 1000


def test_without_a_secret_key_nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COORDINATOR_SECRET_KEY")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.errors()[0]["loc"] == ("secret_key",)
    assert raised.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("k" * 40, "looks guessable (about 0 bits"),
        ("abab" * 10, "looks guessable (about 40 bits"),
        (next(iter(PUBLISHED_SECRET_KEYS)), "is the published development key"),
        ("deadbeef" * 4, "looks guessable (about 68 bits"),
        ("short", "at least 32 items"),
    ],
)
def test_a_weak_or_published_secret_key_is_refused(key: str, problem: str) -> None:
    with pytest.raises(ValidationError, match="secret_key") as raised:
        Settings(secret_key=SecretStr(key))
    assert problem in str(raised.value)


def test_the_key_estimate_is_a_floor_not_a_proof() -> None:
    assert estimated_bits("ab" * 16) == 32
    assert estimated_bits(STRONG_KEY.get_secret_value()) >= 128


@pytest.mark.parametrize("proxies", [["*"], ["proxy.example"], ["10.0.0.0/33"]])
def test_trusted_proxies_must_be_addresses_or_networks(proxies: list[str]) -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(trusted_proxies=proxies)


def test_trusted_proxies_come_from_the_environment_as_a_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COORDINATOR_TRUSTED_PROXIES", '["10.0.0.1", "2001:db8::/32"]')
    assert Settings().trusted_proxies == ["10.0.0.1", "2001:db8::/32"]


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDINATOR_MQTT_PORT", "18883")
    assert Settings().mqtt_port == 18883


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COORDINATOR_SECRET_KEY"}
    env["COORDINATOR_DATABASE_URL"] = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "secret_key: Field required" in result.stderr
    assert not (tmp_path / "never.sqlite3").exists()
