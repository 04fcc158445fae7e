"""Behaviour checks every device kind must pass, run against a real broker."""

import signal
import subprocess

from protocols import Birth, Death, DeathCause, decode, state_topic
from tests.fixtures.broker import Broker
from tests.fixtures.watch import Watcher


def assert_publishes_birth_and_will(
    broker: Broker, site: str, device_id: str, command: list[str]
) -> None:
    """The device announces itself retained on start; the broker announces its death on a crash."""
    topic = state_topic(site, device_id)
    watcher = Watcher(broker, topic, client_id=f"watch-{device_id}")
    device = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        birth = watcher.wait_for(topic)[0]
        assert isinstance(decode(birth.body).payload, Birth)
        device.send_signal(signal.SIGKILL)
        device.wait(10)
        death = decode(watcher.wait_for(topic, count=2)[1].body)
        assert death.payload == Death(cause=DeathCause.CONNECTION_LOST)
    finally:
        watcher.stop()
        if device.poll() is None:
            device.kill()
    late = Watcher(broker, topic, client_id=f"late-{device_id}")
    try:
        retained = late.wait_for(topic)[0]
        assert retained.retained and decode(retained.body).payload == death.payload
    finally:
        late.stop()
