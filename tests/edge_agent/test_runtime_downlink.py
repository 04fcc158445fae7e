"""The door station takes bundles and commands through its link: a bundle applied by the
downlink is what the next tap reads, it survives a restart, and commands are answered."""

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.runtime import DEVICE_KEY_FILE
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key, load_device_key
from protocols import (
    BundleAck,
    BundleStatus,
    CommandName,
    CommandResult,
    CommandStatus,
    OpenDoor,
    Sender,
    ack_topic,
    command_topic,
    decode,
    encode,
)
from protocols.signing import public_key_text, sign_bundle
from tests.edge_agent.test_runtime import DEVICE, SITE, _agent
from tests.protocols.bundles import door_bundle

SIGNER = Ed25519PrivateKey.generate()


def _wait(condition: Callable[[], bool]) -> bool:
    pause = threading.Event()
    for _ in range(3000):  # the uplink thread handles deliveries; a bounded wait (30 s)
        if condition() or pause.wait(0.01):
            return condition()
    return condition()


def _provisioned(tmp_path: Path) -> None:
    create_device_key(tmp_path / DEVICE_KEY_FILE)
    store = BundleStore(tmp_path / "bundle.sqlite3")
    store.trust("k1", public_key_text(SIGNER))
    store.close()


def test_a_bundle_from_the_link_is_what_the_next_tap_reads(tmp_path: Path) -> None:
    _provisioned(tmp_path)
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        key = load_device_key(tmp_path / DEVICE_KEY_FILE)
        signed = sign_bundle(door_bundle(key, device_id=DEVICE, version=4), SIGNER)
        assert links.link is not None
        links.link.deliver(
            command_topic(SITE, DEVICE, CommandName.BUNDLE),
            encode(Sender(DEVICE).sequenced(signed), max_bytes=2**24),
            retained=True,
        )
        assert _wait(lambda: agent.current_book().version == 4)
        assert agent.uplink is not None and agent.uplink.wait_sent(30)
        sent = [decode(m.body).payload for m in links.link.on(ack_topic(SITE, DEVICE))]
        assert [(a.bundle_version, a.status) for a in sent if isinstance(a, BundleAck)] == [
            (4, BundleStatus.APPLIED)
        ]
        command = OpenDoor(command_id=uuid.uuid4(), hold_s=1.5)
        links.link.deliver(
            command_topic(SITE, DEVICE, CommandName.OPEN),
            encode(Sender(DEVICE).sequenced(command)),
        )

        def answered() -> list[CommandResult]:
            return [
                p
                for m in links.link.on(ack_topic(SITE, DEVICE))  # type: ignore[union-attr]
                if isinstance(p := decode(m.body).payload, CommandResult)
            ]

        assert _wait(lambda: bool(answered()))
        assert answered()[0].status is CommandStatus.DONE
    finally:
        app.stop()
    restarted, _ = _agent(tmp_path)
    again = restarted.app()
    again.start()
    try:
        assert restarted.current_book().version == 4  # the bundle in force outlives the process
    finally:
        again.stop()


def test_without_a_device_key_the_station_takes_no_bundle(tmp_path: Path) -> None:
    agent, links = _agent(tmp_path)
    app = agent.app()
    app.start()
    try:
        assert agent.downlink is None
        assert links.link is not None
    finally:
        app.stop()
