"""systemd's notify protocol (sd_notify): READY, STOPPING, STATUS and the watchdog ping.

The protocol is one datagram of `KEY=value` lines to the socket named in $NOTIFY_SOCKET (an
abstract socket when it starts with '@'); outside systemd the variable is unset and every call
does nothing. $WATCHDOG_USEC says how often systemd wants a ping; we ping at half that.
"""

import os
import socket
from collections.abc import Callable, Mapping


class Notifier:
    """Tells systemd how the service is doing; a no-op when not run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def is_active(self) -> bool:
        return bool(self._address)

    def ready(self, status: str = "running") -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), self._address)


class Every:
    """True once per `interval_s` of the given monotonic clock: heartbeats, watchdog pings."""

    def __init__(self, interval_s: float, clock: Callable[[], float], *, at_once: bool) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next = clock() if at_once else clock() + interval_s

    def is_due(self) -> bool:
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True
