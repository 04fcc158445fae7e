"""`make demo` end to end, bounded: the demo's own Mosquitto and coordinator on SQLite (what a
newcomer runs), seeded through the API; its simulated stations take their bundles from the
coordinator, and the scripted supervisors' check-ins and refusals must be stored. Checked
through the API while the demo runs, then SIGTERM must stop everything cleanly."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from coordinator.auth.tokens import issue_access_token
from coordinator.broker_config import free_port
from coordinator.db.models import User
from coordinator.db.session import transaction

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
RUN_FOR_S = 80  # from its start, the demo stops itself after this, whatever the test does
PRINTED = [
    "room B-101: Ada Lovelace checked in (on time)",
    "room B-102: refused Ada Lovelace: not assigned here",
    "room B-103: refused Edsger Dijkstra: outside the check-in window (late",
]


def _until(check: Callable[[], Any], what: str, deadline: float) -> Any:
    while time.monotonic() < deadline:
        try:
            answer = check()
        except (httpx.HTTPError, OSError):
            answer = None
        if answer:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _admin(work: Path, api: str) -> dict[str, str] | None:
    """A token for the demo's admin, made with the demo's own secret once its API answers."""
    if httpx.get(f"{api}/health", timeout=5).status_code != 200:
        return None
    with transaction(f"sqlite:///{work / 'coordinator.sqlite3'}") as session:
        admin_id = session.scalars(select(User.id).where(User.email == "admin@demo.campus")).one()
    token = issue_access_token(
        SecretStr((work / "secret-key").read_text().strip()),
        user_id=admin_id,
        role="admin",
        second_factor=True,
        lifetime=timedelta(minutes=10),
    )
    return {"Authorization": f"Bearer {token}"}


def _items(api: str, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = httpx.get(f"{api}{path}", params={"limit": 100}, headers=headers, timeout=30)
    page.raise_for_status()
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_the_demo_stores_check_ins_and_refusals(tmp_path: Path) -> None:
    port, work, output = free_port(), tmp_path / "demo", tmp_path / "demo.out"
    api = f"http://127.0.0.1:{port}/api/v1"
    started = time.monotonic()
    deadline = started + RUN_FOR_S
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--work-dir", str(work),
         "--port", str(port), "--run-for", str(RUN_FOR_S)],
        stdout=output.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        # The test opens the demo's database only once the seed is done, so that it cannot
        # meet a seed write (SQLite has one writer at a time).
        _until(lambda: "press Ctrl-C" in output.read_text(), "the demo's seed", deadline)
        headers = _until(lambda: _admin(work, api), "the demo's coordinator", deadline)
        names = ["Ada Lovelace", "Grace Hopper", "Edsger Dijkstra"]

        def supervisors() -> list[int] | None:
            people = {u["full_name"]: u["id"] for u in _items(api, "/users", headers)}
            return [people[name] for name in names] if set(names) <= set(people) else None

        ada, grace, edsger = _until(supervisors, "the seeded supervisors", deadline)
        expected_check_ins = {(ada, "door-b101"), (grace, "door-b102")}
        expected_refusals = {(ada, "door-b102", "no_assignment"),
                             (edsger, "door-b103", "outside_window")}  # fmt: skip

        def check_ins() -> set[tuple[int, str]]:
            return {(a["user_id"], a["device_id"]) for a in _items(api, "/attendance", headers)
                    if a["action"] == "check_in"}  # fmt: skip

        def refusals() -> set[tuple[int, str, str]]:
            attempts = _items(api, "/attempts", headers)
            return {(a["user_id"], a["device_id"], a["reason"])
                    for a in attempts if a["outcome"] == "refused"}  # fmt: skip

        _until(lambda: expected_check_ins <= check_ins(), "the two check-ins", deadline)
        _until(lambda: expected_refusals <= refusals(), "the two refusals", deadline)
        assert check_ins() == expected_check_ins  # nobody else checked in
        assert refusals() == expected_refusals  # and nothing else was refused
        statuses = {a["supervisor_id"]: a["status"] for a in _items(api, "/assignments", headers)}
        assert statuses == {ada: "checked_in", grace: "checked_in", edsger: "accepted"}
        sync = httpx.get(f"{api}/sync", headers=headers, timeout=30).json()
        assert {row["device_id"] for row in sync if row["acked_version"]} == {
            "door-b101", "door-b102", "door-b103"
        }  # fmt: skip
        assert not [row for row in sync if row["refused_reason"]], sync
        # The demo prints what it polls from the API, a moment after the API has it.
        _until(lambda: all(line in output.read_text() for line in PRINTED), "the lines", deadline)
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            stopped = demo.wait(40)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    printed = output.read_text()
    assert stopped == 0, printed
    assert all(line in printed for line in PRINTED), printed
    with pytest.raises(httpx.ConnectError):  # the coordinator is gone with the demo
        httpx.get(f"{api}/health", timeout=2)
