"""The ingest worker's broker connection in a process of its own (`ProcessSubscriber`).

paho parses every MQTT packet in Python: about as much CPU per message as reading and storing
it. In one process both share one interpreter lock, and a worker stored about a third of what a
bare paho consumer receives. Here the `MqttSubscriber` runs in a child process, so a worker uses
two cores: the child receives, acks and publishes; the worker's process reads, stores and
decides what to ack and what to tell the devices. Nothing changes in what is acked when: the
worker still acks a delivery only after the commit that stored it.

Deliveries cross the pipe in batches (whatever arrived while the last batch was being sent), so
a busy connection costs one pipe message per batch, not per delivery. If the child dies, a new
one connects with the same client id and the broker redelivers what was not acked. If the
worker's process dies (SIGKILL included), the child reads the end of the pipe and exits without
a goodbye, so the broker publishes the worker's will.
"""

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from coordinator.core.config import Settings
from coordinator.ingest.mqtt import Delivery, MqttSubscriber

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
RESPAWN_DELAY_S = 1.0
STOP_TIMEOUT_S = 10.0
_context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads


class ProcessSubscriber:
    """A `Subscriber` whose broker connection runs in a child process."""

    def __init__(self, settings: Settings, deliver: Callable[[Delivery], object]) -> None:
        self._settings = settings
        self._deliver = deliver
        self.is_connected = False
        self._send_lock = threading.Lock()  # the storing thread and `stop` both send
        self._stopping = threading.Event()
        self._pipe: Connection | None = None
        self._process: Any = None  # a SpawnProcess; typeshed names no common type for it
        self._reader: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        """Start the child and wait until it has begun to connect, as `MqttSubscriber.start`
        would have (importing takes the child a second or two: a start that returned at once
        would let a caller publish before the worker's subscription exists)."""
        ours, theirs = _context.Pipe()
        level = logging.getLogger("coordinator").getEffectiveLevel()
        self._process = _context.Process(
            target=serve_connection,
            args=(self._settings, theirs, level),
            name="ingest-broker",
            daemon=True,  # ended with the worker's process, whatever way it exits
        )
        self._process.start()
        theirs.close()
        self._pipe = ours
        self._reader = threading.Thread(target=self._read, args=(ours,), name="ingest-pipe")
        self._reader.daemon = True
        self._reader.start()
        if not self._started.wait(START_TIMEOUT_S):
            log.warning("the broker connection process took over %.0f s to start", START_TIMEOUT_S)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._send(("ack", [(d.mid, d.qos) for d in deliveries]))

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> None:
        self._send(("publish", topic, body, retain))

    def announce(self, *, is_storing: bool = True) -> None:
        self._send(("announce", is_storing))

    def stop(self) -> None:
        """The child says goodbye and disconnects; then it and the pipe are closed."""
        self._stopping.set()
        self._send(("stop",))
        if self._process is not None:
            self._process.join(STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
        if self._pipe is not None:
            self._pipe.close()
        self.is_connected = False

    def _send(self, command: tuple[Any, ...]) -> None:
        """To the child; if it is gone, the command is dropped: an ack or a receipt that is
        lost costs a redelivery or a resend, which is stored once."""
        with self._send_lock:
            if self._pipe is None:
                return
            try:
                self._pipe.send(command)
            except (OSError, ValueError) as error:
                log.warning("the broker connection process is gone: %s", error)

    def _read(self, pipe: Connection) -> None:
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                break
            if message[0] == "deliveries":
                for topic, body, mid, qos in message[1]:
                    self._deliver(Delivery(topic, body, mid, qos))
            elif message[0] == "connected":
                self.is_connected = message[1]
            elif message[0] == "started":
                self._started.set()
        self.is_connected = False
        if not self._stopping.is_set():
            log.error("the broker connection process died; starting another")
            if not self._stopping.wait(RESPAWN_DELAY_S):
                with self._send_lock:
                    pipe.close()
                    self._pipe = None
                self._process.join(RESPAWN_DELAY_S)  # reap the dead one
                self._started.clear()
                self.start()


def serve_connection(settings: Settings, pipe: Connection, log_level: int) -> None:
    """The child: an `MqttSubscriber` driven by the worker's commands over the pipe.

    It ignores SIGINT and SIGTERM (a terminal's Ctrl-C and systemd's stop reach the whole
    process group): the worker stops it after its last batch's acks and receipts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("coordinator").setLevel(log_level)
    arrived: list[tuple[str, bytes, int, int]] = []
    changed = threading.Condition()

    def deliver(delivery: Delivery) -> None:
        with changed:
            arrived.append((delivery.topic, delivery.body, delivery.mid, delivery.qos))
            changed.notify()

    subscriber = MqttSubscriber(settings, deliver)
    forwarder = threading.Thread(
        target=_forward, args=(subscriber, pipe, arrived, changed), name="forward", daemon=True
    )
    subscriber.start()
    pipe.send(("started",))  # deliveries wait in `arrived` until the forwarder runs
    forwarder.start()  # from here on the only thread that sends on the pipe
    try:
        _obey(subscriber, pipe)
    except (EOFError, OSError):
        os._exit(0)  # the worker died: no goodbye, the broker publishes the will
    os._exit(0)  # paho's thread is not a daemon; the goodbye is sent


def _obey(subscriber: MqttSubscriber, pipe: Connection) -> None:
    while True:
        command = pipe.recv()
        if command[0] == "ack":
            subscriber.ack([Delivery("", b"", mid, qos) for mid, qos in command[1]])
        elif command[0] == "publish":
            subscriber.publish(command[1], command[2], retain=command[3])
        elif command[0] == "announce":
            subscriber.announce(is_storing=command[1])
        elif command[0] == "stop":
            subscriber.stop()
            return


def _forward(
    subscriber: MqttSubscriber,
    pipe: Connection,
    arrived: list[tuple[str, bytes, int, int]],
    changed: threading.Condition,
) -> None:
    """Send whatever arrived as one batch, and the connection's state when it changes."""
    connected = False
    while True:
        with changed:
            changed.wait_for(lambda: bool(arrived), timeout=0.2)
            batch = arrived[:]
            arrived.clear()
        try:
            if subscriber.is_connected != connected:
                connected = subscriber.is_connected
                pipe.send(("connected", connected))
            if batch:
                pipe.send(("deliveries", batch))
        except (OSError, ValueError):
            os._exit(0)  # the worker died
