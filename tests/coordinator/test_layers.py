"""Every part of the coordinator has a place in the layers contract (run by test_architecture)."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _layers_contract() -> dict[str, object]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [layers] = [
        c for c in contracts if c["type"] == "layers" and c["containers"] == ["coordinator"]
    ]
    return dict(layers)


def test_every_coordinator_module_is_in_a_layer() -> None:
    layers = _layers_contract()["layers"]
    assert isinstance(layers, list)
    placed = {name.strip() for layer in layers for name in str(layer).split("|")}
    parts = {
        path.stem if path.is_file() else path.name
        for path in (REPO / "coordinator").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").is_file())
        and not path.name.startswith("__")
    }  # a folder without __init__.py (the phone page's static files) is no Python module
    assert parts - placed == set(), "place the new module in the layers contract (pyproject.toml)"


def test_the_layers_run_from_the_entry_points_down_to_the_errors() -> None:
    layers = _layers_contract()["layers"]
    assert isinstance(layers, list)
    order = [str(layer).split("|")[0].strip() for layer in layers]
    assert order.index("api") < order.index("auth") < order.index("services")
    assert order.index("services") < order.index("schemas") < order.index("db")
    assert order[-1] == "errors"
    assert "ignore_imports" not in _layers_contract()
