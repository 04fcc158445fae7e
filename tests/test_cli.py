"""Both commands fail with one clear line, never a traceback."""

import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60)


def test_coordinator_reports_a_bad_database_url_in_one_line() -> None:
    result = _run("coordinator", "migrate", "--database-url", "nosuchdb://x")
    assert result.returncode == 2
    assert result.stderr.startswith("coordinator: ")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_coordinator_reports_invalid_settings_naming_the_field() -> None:
    result = _run("coordinator", "serve", "--port", "70000")
    assert result.returncode == 2
    assert "invalid settings: http_port: Input should be less than or equal to 65535" in (
        result.stderr
    )


def test_coordinator_migrate_creates_a_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    result = _run("coordinator", "migrate", "--database-url", f"sqlite:///{database}")
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout and database.exists()


def test_edge_agent_reports_missing_credentials_in_one_line(tmp_path: Path) -> None:
    result = _run("edge_agent", "simulate", "--credentials", str(tmp_path / "nope.txt"))
    assert result.returncode == 2
    assert "edge-agent: cannot read credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_edge_agent_reports_a_malformed_credentials_line(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.txt"
    credentials.write_text("sim-01\n")
    result = _run("edge_agent", "simulate", "--credentials", str(credentials))
    assert result.returncode == 2
    assert "credentials.txt:1: expected 'device_id password'" in result.stderr
