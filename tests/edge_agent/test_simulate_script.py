"""`edge-agent simulate --script`: the script file is checked before any device starts, and each
wrong or hostile entry is refused with a reason a person can act on."""

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import BrokerConfig
from edge_agent.errors import ConfigError
from edge_agent.simulate import SimulationPlan
from edge_agent.simulate_script import MAX_SCRIPT_BYTES, SimulationScript, load_script, run_script

REPO = Path(__file__).resolve().parents[2]


def _script(**changes: Any) -> dict[str, Any]:
    script: dict[str, Any] = {
        "site": "demo",
        "devices": ["door-b101", "door-b102"],
        "people": [{"name": "Ada Lovelace", "card": "04A1B201"}],
        "taps": [
            {"person": "Ada Lovelace", "device": "door-b101", "after_s": 0},
            {"person": "Ada Lovelace", "device": "door-b102", "after_s": 2.5},
        ],
    }
    script.update(changes)
    return script


def _write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "script.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_script_names_people_devices_and_when_they_tap(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, _script()))
    assert script.devices == ["door-b101", "door-b102"]
    assert script.person("Ada Lovelace").card == "04A1B201"
    assert [(t.device, t.after_s) for t in script.taps] == [("door-b101", 0), ("door-b102", 2.5)]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"devices": ["../../etc"]}, "devices.0: String should match pattern"),
        ({"devices": ["door-b101", "door-b101"]}, "a device is listed twice"),
        ({"devices": []}, "devices: List should have at least 1 item"),
        ({"site": "Demo Site"}, "site: String should match pattern"),
        ({"people": [{"name": "Ada\x00", "card": "04A1"}]}, "people.0.name"),
        ({"people": [{"name": "Ada", "card": "not hex"}]}, "people.0.card"),
        ({"people": [{"name": "Ada", "card": "04A1", "face": "raccoon"}]}, "people.0.face"),
        ({"people": [{"name": "Ada", "card": "04A1"}] * 2}, "two people have the same name"),
        ({"taps": [{"person": "Bob", "device": "door-b101", "after_s": 0}]}, "'Bob' is not in"),
        (
            {"taps": [{"person": "Ada Lovelace", "device": "door-x", "after_s": 0}]},
            "'door-x' is not in devices",
        ),
        (
            {"taps": [{"person": "Ada Lovelace", "device": "door-b101", "after_s": -1}]},
            "taps.0.after_s",
        ),
        (
            {"taps": [{"person": "Ada Lovelace", "device": "door-b101", "after_s": 1e308}]},
            "taps.0.after_s",
        ),
        (
            {"taps": [{"person": "Ada Lovelace", "device": "door-b101", "after_s": float("nan")}]},
            "taps.0.after_s",
        ),
        ({"extra": True}, "extra: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_script_is_refused_with_its_reason(
    tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ConfigError, match=r"script .*script\.json") as refused:
        load_script(_write(tmp_path, _script(**changes)))
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"site": "demo", "devices": [', "Invalid JSON"),
        (" " * (MAX_SCRIPT_BYTES + 1), "larger than"),
    ],
)
def test_an_unreadable_script_is_refused(tmp_path: Path, content: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_script(_write(tmp_path, content))


def test_a_missing_script_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read script .*nope\.json"):
        load_script(tmp_path / "nope.json")


def test_a_device_that_was_not_provisioned_is_refused_with_the_fix(tmp_path: Path) -> None:
    script = SimulationScript.model_validate(_script())
    plan = SimulationPlan(
        devices=2, site="demo", data_dir=tmp_path, broker=BrokerConfig(port=1), credentials={}
    )
    with pytest.raises(ConfigError, match=r"door-b101 is not provisioned.*edge-agent keys init"):
        run_script(plan, script, threading.Event())


def test_the_cli_reports_a_bad_script_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _script(devices=["UPPER"]))
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "simulate", "--script", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "edge-agent: script" in result.stderr and "devices.0" in result.stderr
    assert "Traceback" not in result.stderr
