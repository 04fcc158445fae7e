"""`edge-agent run` as systemd runs it: READY on the notify socket once serving, watchdog pings,
and on SIGTERM a clean stop (STOPPING, a retained 'shutdown' death, exit status 0)."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from protocols import Birth, Death, DeathCause, decode, state_topic
from tests.fixtures.broker import Broker
from tests.fixtures.watch import Watcher

pytestmark = pytest.mark.integration


def test_run_notifies_systemd_and_stops_cleanly_on_sigterm(broker: Broker, tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "door-01",
                "site": "main",
                "profile": "door-station-sim",
                "data_dir": str(tmp_path / "data"),
                "broker": {"port": broker.port},
            }
        )
    )
    topic = state_topic("main", "door-01")
    watcher = Watcher(broker, topic)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify"))
        notify.settimeout(60)
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert notify.recv(256).startswith(b"READY=1")
            assert notify.recv(256) == b"WATCHDOG=1"
            assert isinstance(decode(watcher.wait_for(topic, timeout=30)[0].body).payload, Birth)
            agent.send_signal(signal.SIGTERM)
            said = notify.recv(256)
            while said == b"WATCHDOG=1":
                said = notify.recv(256)
            assert said == b"STOPPING=1"
            assert agent.wait(30) == 0
            death = decode(watcher.wait_for(topic, count=2)[-1].body)
        finally:
            if agent.poll() is None:
                agent.kill()
            watcher.stop()
    assert death.payload == Death(cause=DeathCause.SHUTDOWN)
