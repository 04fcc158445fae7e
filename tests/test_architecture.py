"""The layout's rules, enforced: who may import whom, what a Pi installs, where topics are made."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
OUR_PACKAGES = {"protocols", "vision", "edge_agent", "coordinator"}


def test_import_contracts_hold() -> None:
    """edge_agent and coordinator never import each other; protocols and vision import neither."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", "pyproject.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def _third_party_imports(package: str) -> set[str]:
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names} - OUR_PACKAGES


def _distributions(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in requirements}


def _allowed(extras: list[str]) -> set[str]:
    allowed = _distributions(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        allowed |= _distributions(PYPROJECT["project"]["optional-dependencies"][extra])
    return allowed


@pytest.mark.parametrize(
    ("package", "extras"),
    [
        ("protocols", []),
        ("edge_agent", ["agent", "vision", "sim"]),  # sim: only `simulate` imports skimage
        ("coordinator", ["coordinator", "vision"]),
    ],
)
def test_each_component_imports_only_what_its_extras_install(
    package: str, extras: list[str]
) -> None:
    module_to_distributions = packages_distributions()
    allowed = _allowed(extras)
    missing = {
        module: module_to_distributions.get(module, [module])
        for module in _third_party_imports(package)
        if not {re.sub(r"[-_.]+", "-", d).lower() for d in module_to_distributions.get(module, [])}
        & allowed
    }
    assert missing == {}, f"{package} imports modules its extras do not install: {missing}"


def test_a_door_station_installs_no_web_framework_or_database_driver() -> None:
    station = _allowed(["agent", "vision"])
    assert not station & {"fastapi", "uvicorn", "sqlalchemy", "psycopg", "alembic"}


def test_topic_strings_are_built_only_in_protocols() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for package in ("edge_agent", "coordinator")
        for path in (REPO / package).rglob("*.py")
        if "campus/v1" in path.read_text() or re.search(r"[\"']campus/", path.read_text())
    ]
    assert offenders == []


def test_only_the_adapters_import_paho() -> None:
    importers = sorted(
        str(path.relative_to(REPO))
        for package in ("edge_agent", "coordinator")
        for path in (REPO / package).rglob("*.py")
        if re.search(r"^\s*(import|from) paho", path.read_text(), re.MULTILINE)
    )
    assert importers == [
        "coordinator/ingest/mqtt.py",
        "coordinator/link/mqtt.py",
        "edge_agent/link/mqtt.py",
    ]
