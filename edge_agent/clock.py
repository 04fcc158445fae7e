"""Is the wall clock trustworthy? The kernel's sync state, and the offset to the coordinator.

chrony and systemd-timesyncd both discipline the kernel clock and clear its "unsynchronised"
status when they are locked to a server; `adjtimex` returns TIME_ERROR while that status is set.
This is what `timedatectl`'s NTPSynchronized reports, read without running a command.

The offset to the coordinator is estimated from the envelopes of the live (not retained)
messages it sends the device: received-at (device clock) minus device_time (coordinator clock) is
offset plus network delay, so the smallest of the recent samples is the best estimate, as in
NTP's clock filter.
"""

import ctypes
import ctypes.util
import threading
from collections import deque
from datetime import datetime

_TIME_ERROR = 5
_TIMEX_BYTES = 512  # larger than struct timex on every Linux ABI; `modes` (0) comes first


def kernel_clock_synced() -> bool | None:
    """True when an NTP daemon holds the clock in sync, False when not, None if unknown."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_BYTES)  # zeroed: modes = 0, read only
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR


class ClockOffset:
    """Device clock minus coordinator clock, from the last `window` live messages."""

    def __init__(self, window: int = 16) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def observe(self, sent_at: datetime, received_at: datetime, *, retained: bool) -> None:
        """One message's times; retained ones are ignored, since they may be hours old."""
        if retained:
            return
        with self._lock:
            self._samples.append((received_at - sent_at).total_seconds())

    @property
    def seconds(self) -> float | None:
        with self._lock:
            return round(min(self._samples), 3) if self._samples else None
