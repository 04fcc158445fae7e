"""`edge-agent doctor` says what is wrong and how to fix it, one line per check."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.doctor import examine
from tests.fixtures.broker import Broker


def _config(tmp_path: Path, port: int, profile: str = "door-station-sim") -> AgentConfig:
    return AgentConfig(
        device_id="door-01",
        site="main",
        profile=profile,
        data_dir=tmp_path / "data",
        broker=BrokerConfig(port=port),
    )


@pytest.mark.integration
def test_a_healthy_simulated_station_passes_every_check_but_the_clock(
    broker: Broker, tmp_path: Path
) -> None:
    findings = {f.check: f for f in examine(_config(tmp_path, broker.port))}
    assert findings["firmware profile"].is_ok
    assert findings["face models"].is_ok and findings["broker"].is_ok
    assert findings["data folder"].is_ok
    assert all(f.is_ok for name, f in findings.items() if name.startswith("hardware"))
    assert any(name.startswith("hardware") for name in findings)


def test_an_unknown_profile_is_named_with_the_fix(tmp_path: Path) -> None:
    (finding,) = list(examine(_config(tmp_path, 1, profile="door-station-nowhere")))
    assert not finding.is_ok and "fix:" in finding.detail


def test_an_unreachable_broker_says_what_to_check(tmp_path: Path) -> None:
    findings = {f.check: f for f in examine(_config(tmp_path, 1), broker_wait_s=0.5)}
    broker = findings["broker"]
    assert not broker.is_ok and "fix: check broker.host/port" in broker.detail


def test_the_cli_exits_non_zero_and_prints_each_check(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "door-01",
                "site": "main",
                "profile": "door-station-sim",
                "data_dir": str(tmp_path / "data"),
                "broker": {"port": 1},
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "FAIL  broker" in result.stdout and "ok    firmware profile" in result.stdout
