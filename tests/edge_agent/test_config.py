"""The agent config file: what a technician writes, and the errors they see when it is wrong."""

from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_a_config_names_its_profile(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, "device_id: d1\nsite: s\nprofile: door-station-pi4\ndata_dir: /var/x\n")
    )
    assert config.profile == "door-station-pi4"


def test_a_config_without_a_profile_says_how_to_name_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "device_id: d1\nsite: s\ndata_dir: /var/x\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(path) in str(refused.value)
    assert "add `profile: NAME`" in str(refused.value)


def test_an_unknown_key_and_bad_yaml_are_refused_with_the_file(tmp_path: Path) -> None:
    unknown = _write(tmp_path, "device_id: d1\nsite: s\nprofile: p\ndata_dir: /x\ncolour: red\n")
    with pytest.raises(ConfigError, match="colour"):
        load_config(unknown)
    broken = _write(tmp_path, "device_id: [d1\n")
    with pytest.raises(ConfigError, match="not valid"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
