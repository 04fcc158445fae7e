"""What the hardware layer costs on this machine (a benchmark, not a test).

    .venv/bin/python bench/hardware.py

Prints: resident memory of a process that builds the simulated door station's parts, and what
importing each optional driver library adds; how long building and closing the parts takes; the
time of one camera tamper check on a 640x480 frame; and the driver-level latency from a serial
reader sending a UID frame to `read()` returning it (over pyserial's socket://).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.hardware.factory import build_parts
from edge_agent.hardware.serial_input import SerialCardReader
from edge_agent.hardware.tamper import CameraWatch, SceneReference
from edge_agent.profile import load_profile
from edge_agent.profile_parts import SerialReader

RSS_SCRIPT = """
import importlib, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
base = rss()
from edge_agent.profile import load_profile
profile = load_profile("door-station-sim")
loaded = rss()
from edge_agent.hardware.factory import build_parts
parts = build_parts(profile)
built = rss()
extra = sys.argv[1]
if extra != "-":
    importlib.import_module(extra)
print(f"{base:.1f} {loaded:.1f} {built:.1f} {rss():.1f}")
"""


def memory() -> None:
    print(
        "resident memory (MiB): python -> profile loaded (pydantic, numpy, vision) -> "
        "sim door station parts built (gpiozero) -> + library"
    )
    for module in ["-", "cv2", "evdev", "serial", "pynmea2", "zxingcpp"]:
        output = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, module],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.split()
        base, loaded, built, extra = (float(value) for value in output)
        label = "(none)" if module == "-" else module
        print(
            f"  {label:10s} {base:6.1f} -> {loaded:6.1f} -> {built:6.1f} -> {extra:6.1f}"
            f"  (+{extra - built:.1f})"
        )


def build_time(rounds: int = 20) -> None:
    profile = load_profile("door-station-sim")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        build_parts(profile).close()
        times.append(time.perf_counter() - start)
    median_ms = 1000 * statistics.median(times)
    print(f"build + close the sim door station's parts: median {median_ms:.1f} ms")


def tamper_check(rounds: int = 50) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    watch = CameraWatch(SceneReference.take([frame]))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        watch.check(frame)
        times.append(time.perf_counter() - start)
    print(f"camera tamper check, 640x480: median {1000 * statistics.median(times):.2f} ms")


def serial_latency(rounds: int = 200) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    reader = SerialCardReader(SerialReader(driver="serial", port=f"socket://127.0.0.1:{port}"))
    thread.join()
    device = accepted[0]
    times = []
    for number in range(rounds):
        start = time.perf_counter()
        device.sendall(b"\x02" + f"{number:08X}".encode() + b"\x03")
        uid = reader.read(1.0)
        times.append(time.perf_counter() - start)
        assert uid == f"{number:08X}", uid
    reader.close()
    device.close()
    listener.close()
    times.sort()
    p95 = times[int(0.95 * len(times)) - 1]
    print(
        f"serial reader, frame sent -> UID read: median {1000 * statistics.median(times):.2f} ms, "
        f"p95 {1000 * p95:.2f} ms"
    )


if __name__ == "__main__":
    memory()
    build_time()
    tamper_check()
    serial_latency()
