"""Firmware profiles: every shipped profile loads; a wrong one names the file, field and fix."""

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.profile import (
    PROFILE_DIR,
    DoorStationProfile,
    GateStationProfile,
    ProfileError,
    available_profiles,
    load_profile,
)
from vision import LivenessStrength

SIM = (PROFILE_DIR / "door-station-sim.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "door-station-sim") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_required_profiles_ship() -> None:
    assert {"door-station-pi4", "gate-station-pi5", "door-station-sim"} <= set(available_profiles())


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_loads_by_name(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.source == PROFILE_DIR / f"{name}.yaml"


def test_station_type_chooses_the_model() -> None:
    assert isinstance(load_profile("door-station-pi4"), DoorStationProfile)
    assert isinstance(load_profile("gate-station-pi5"), GateStationProfile)


def test_vision_receives_the_profile_thresholds(tmp_path: Path) -> None:
    text = SIM.replace("face_distance: 1.128", "face_distance: 1.05").replace(
        "liveness: normal", "liveness: strict"
    )
    settings = load_profile(write(tmp_path, text)).vision_settings()
    assert settings.match is not None
    assert settings.match.threshold == 1.05
    assert settings.match.margin == 0.04
    assert settings.embedder_model == "sface-2021dec"
    assert settings.liveness.strength is LivenessStrength.STRICT


def test_a_display_asks_liveness_for_a_head_turn(tmp_path: Path) -> None:
    assert not load_profile(write(tmp_path, SIM)).vision_settings().liveness.head_turn
    text = SIM.replace("features:\n", "features:\n  display: true\n  blink_check: true\n", 1)
    liveness = load_profile(write(tmp_path, text)).vision_settings().liveness
    assert liveness.head_turn and liveness.blink


def test_geofence_radius_defaults_to_100_m(tmp_path: Path) -> None:
    text = SIM.replace("  geofence_radius_m: 100\n", "")
    assert "geofence_radius_m" not in text
    assert load_profile(write(tmp_path, text)).thresholds.geofence_radius_m == 100


def error_of(tmp_path: Path, text: str, name: str = "door-station-sim") -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text, name))
    return str(caught.value)


def test_unknown_field_is_named_with_its_path_and_fix(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        SIM.replace("  grab: true\n", "").replace(
            "reader:\n  driver: fake", "reader:\n  driver: fake\n  baud: 9600"
        ),
    )
    assert "door-station-sim.yaml" in message
    assert "field reader.baud" in message
    assert "fix: remove it" in message


def test_unknown_driver_lists_the_choices(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM.replace("driver: fake\n  width", "driver: webcam\n  width"))
    assert "field camera.driver" in message and "'picamera2'" in message and "'opencv'" in message


def test_wrong_station_type_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM.replace("station: door", "station: turnstile"))
    assert "field station" in message and "'door'" in message and "'gate'" in message


def test_pin_out_of_range_names_the_pin_field(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM.replace("buzzer: {pin: 18}", "buzzer: {pin: 40}"))
    assert "field pins.buzzer.pin" in message and "27" in message


def test_a_pin_used_twice_names_both_uses(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM.replace("buzzer: {pin: 18}", "buzzer: {pin: 17}"))
    assert "field pins" in message and "relay" in message and "buzzer" in message


def test_margin_must_be_inside_the_threshold(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        SIM.replace("face_margin: 0.04", "face_margin: 0.9").replace(
            "face_distance: 1.128", "face_distance: 0.8"
        ),
    )
    assert "field thresholds" in message and "face_margin" in message


@pytest.mark.parametrize("value", [".nan", ".inf", "-1", "1e308"])
def test_extreme_numbers_are_refused(tmp_path: Path, value: str) -> None:
    message = error_of(
        tmp_path, SIM.replace("geofence_radius_m: 100", f"geofence_radius_m: {value}")
    )
    assert "field thresholds.geofence_radius_m" in message


def test_door_tamper_needs_a_door_contact(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM.replace("  door_contact: {pin: 24, pull_up: true}\n", ""))
    assert "door_contact" in message and "door_tamper" in message


def test_name_must_match_the_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, SIM, name="door-station-lab")
    assert "field name" in message and "set name: door-station-lab" in message


def test_missing_profile_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="door-station-pi4") as caught:
        load_profile("door-station-pi9")
    assert "door-station-pi9.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pins: [\n", "not valid YAML at line"),
        (b"name: a\x00b\n", "not valid YAML"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"- a list\n", "expected a mapping"),
        (b"a: b\n" * 20_000, "larger than"),
    ],
)
def test_unreadable_files_are_refused_clearly(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "door-station-sim.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=expected):
        load_profile(path)


def test_relative_paths_resolve_from_the_profile_folder(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, SIM))
    assert profile.resolve(Path("frames")) == tmp_path.resolve() / "frames"
    assert profile.resolve(Path("/abs/x")) == Path("/abs/x")


def test_a_gate_reading_qr_from_its_camera_needs_a_camera(tmp_path: Path) -> None:
    gate = (PROFILE_DIR / "gate-station-pi5.yaml").read_text()
    assert "qr:\n  driver: camera" in gate
    start, end = gate.index("camera:\n"), gate.index("qr:\n")
    message = error_of(tmp_path, gate[:start] + gate[end:], name="gate-station-pi5")
    assert "qr.driver camera needs a camera section" in message


def test_a_union_tag_is_not_reported_as_a_field(tmp_path: Path) -> None:
    gate = (PROFILE_DIR / "gate-station-pi5.yaml").read_text()
    gate = gate.replace("  decoder: zxing\n", "  decoder: zxing\n  fps: 30\n")
    message = error_of(tmp_path, gate, name="gate-station-pi5")
    assert "field qr.fps: Extra inputs" in message


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=10), st.integers(), max_size=3),
)


def _paths(tree: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(tree, dict):
        return [prefix]
    found = [prefix] if prefix else []
    for key, value in tree.items():
        found += _paths(value, (*prefix, key))
    return found


SIM_TREE = yaml.safe_load(SIM)
SIM_PATHS = _paths(SIM_TREE)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(SIM_PATHS), ODD_VALUES)
def test_any_value_anywhere_loads_or_is_refused_as_a_profile_error(
    tmp_path: Path, where: tuple[str, ...], value: object
) -> None:
    tree = copy.deepcopy(SIM_TREE)
    node = tree
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "door-station-sim.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    try:
        load_profile(path)
    except ProfileError as error:
        assert str(path) in str(error) and "fix:" in str(error)


@pytest.mark.parametrize(
    ("before", "after", "field"),
    [
        (
            "reader:\n  driver: fake\n",
            'reader:\n  driver: evdev\n  device: "/dev/in\\0put"\n',
            "reader.device",
        ),
        (
            "reader:\n  driver: fake\n",
            'reader:\n  driver: serial\n  port: "/dev/tty\\nX"\n',
            "reader.port",
        ),
        ("camera:\n  driver: fake\n", 'camera:\n  driver: files\n  path: ""\n', "camera.path"),
    ],
)
def test_device_names_with_control_characters_or_empty_are_refused(
    tmp_path: Path, before: str, after: str, field: str
) -> None:
    assert before in SIM
    message = error_of(tmp_path, SIM.replace(before, after))
    assert f"field {field}" in message


def test_a_serial_reader_whose_start_and_end_bytes_agree_is_refused(tmp_path: Path) -> None:
    text = SIM.replace(
        "reader:\n  driver: fake\n",
        "reader:\n  driver: serial\n  port: x\n  start: 13\n  end: 13\n",
    )
    message = error_of(tmp_path, text)
    assert "field reader" in message and "start and end must differ" in message
