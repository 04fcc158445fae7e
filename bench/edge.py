"""The door station's footprint and speed on this machine (a benchmark, not a test).

    .venv/bin/python bench/edge.py [--taps 40] [--backlog 100000]

A real `DoorAgent` on the `door-station-sim` profile (gpiozero MockFactory pins, fake camera at
640x480, fake reader and location) with the real face pipeline, an in-memory link and a real
SQLite outbox. It prints:

Latencies are wall-clock time on a shared machine; "total CPU" is the process's CPU time per tap,
which is what an idle core would need (the agent's own threads included).

- resident memory (RSS) idle after start-up, and the peak during check-ins;
- CPU used by the idle serve loop, as a share of one core;
- tap-to-decision latency per stage (card, capture, detect, liveness, embed, compare, geofence,
  window, outbox commit), median and p95, for a live supervisor checking in and out;
- start-up with a backlog: time from start to the first new decision with N stored events
  waiting in the outbox, and how long the backlog then takes to drain.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from face_data import camera_frame

import vision.pipeline
from edge_agent.config import AgentConfig
from edge_agent.link.base import LinkEvent, Will
from edge_agent.link.fake import FakeLink
from edge_agent.runtime import DoorAgent, load_door_profile
from edge_agent.simulate import Faces
from edge_agent.stations.book import Assignment, DoorBook, Geofence, Person
from edge_agent.store.outbox import Outbox
from protocols import Attempt, Credential, Outcome, ReasonCode, Sender, Station, encode, topic_for
from vision import FacePipeline

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CARD = "04A1B2C3"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    def __init__(self) -> None:
        self.now = START - timedelta(minutes=10)

    def __call__(self) -> datetime:
        return self.now


def timed(stages: dict[str, list[float]], name: str, function: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            stages[name].append(time.perf_counter() - started)

    return wrapper


def agent(data_dir: Path, clock: Clock, pipeline: FacePipeline, book: DoorBook) -> DoorAgent:
    config = AgentConfig(
        device_id="bench-01", site="bench", profile="door-station-sim", data_dir=data_dir
    )

    def link(will: Will, notify: Callable[[LinkEvent], object]) -> FakeLink:
        return FakeLink(notify, will=will)

    return DoorAgent(
        config,
        load_door_profile(config),
        book=lambda: book,
        make_link=link,
        make_verifier=lambda profile: pipeline,
        wall_clock=clock,
    )


def roster(faces: Faces, sessions: int) -> DoorBook:
    assignments = tuple(
        Assignment(
            session_ref=f"s{n}",
            assignment_ref=f"a{n}",
            starts_at=START + n * timedelta(hours=3),
            ends_at=START + n * timedelta(hours=3) + timedelta(hours=2),
            check_in_opens_at=START + n * timedelta(hours=3) - timedelta(minutes=30),
            check_in_closes_at=START + n * timedelta(hours=3) + timedelta(minutes=15),
        )
        for n in range(sessions)
    )
    person = Person("user-1", "Ada", assignments, templates=lambda: faces.templates)
    return DoorBook(
        hash_card=lambda uid: uid,
        people={CARD: person},
        geofence=Geofence(48.2082, 16.3738, None),
    )


def measure_agent_process(folder: Path, seconds: float) -> tuple[float, float]:
    """`edge-agent run` on the sim profile as its own process (no broker: offline), as systemd
    runs it: its RSS once it says READY, and its CPU share over `seconds` of idling."""
    config = folder / "agent.yaml"
    config.write_text(
        f"device_id: bench-01\nsite: bench\nprofile: door-station-sim\n"
        f"data_dir: {folder / 'agent'}\nbroker: {{port: 1}}\n"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(folder / "notify"))
        notify.settimeout(120)
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
            env={**os.environ, "NOTIFY_SOCKET": str(folder / "notify")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not notify.recv(256).startswith(b"READY=1"):
                pass
            ticks = os.sysconf("SC_CLK_TCK")
            stat = Path(f"/proc/{agent.pid}/stat")
            before = sum(int(v) for v in stat.read_text().split()[13:15])
            threading.Event().wait(seconds)
            after = sum(int(v) for v in stat.read_text().split()[13:15])
            status = Path(f"/proc/{agent.pid}/status").read_text()
            rss = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
    return rss / 1024, (after - before) / ticks / seconds


def measure_idle(door: DoorAgent, seconds: float) -> tuple[float, float]:
    """RSS after start-up and the serve loop's CPU share while nobody taps."""
    stop = threading.Event()
    loop = threading.Thread(target=door.serve_until, args=(stop,))
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    loop.start()
    stop.wait(seconds)
    stop.set()
    loop.join()
    cpu = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    return rss_mb(), cpu


def measure_taps(door: DoorAgent, clock: Clock, faces: Faces, taps: int) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = defaultdict(list)
    pipeline = door.verifier
    assert isinstance(pipeline, FacePipeline) and door.station is not None and door.parts
    pipeline.detector.detect = timed(stages, "detect", pipeline.detector.detect)  # type: ignore[method-assign]
    pipeline.detector.refine = timed(stages, "detect", pipeline.detector.refine)  # type: ignore[method-assign]
    pipeline.embedder.embed = timed(stages, "embed", pipeline.embedder.embed)  # type: ignore[method-assign]
    vision.pipeline.judge_liveness = timed(stages, "liveness", vision.pipeline.judge_liveness)  # type: ignore[attr-defined]
    vision.pipeline.compare = timed(stages, "compare", vision.pipeline.compare)  # type: ignore[attr-defined]
    frames = [camera_frame(frame) for frame in faces.live]
    per_tap: dict[str, list[float]] = defaultdict(list)
    for tap in range(taps):
        session = START + (tap // 2) * timedelta(hours=3)
        clock.now = (
            session - timedelta(minutes=10) if tap % 2 == 0 else session + timedelta(hours=2)
        )
        door.parts.camera.show(*frames)  # type: ignore[union-attr]
        before = {name: sum(values) for name, values in stages.items()}
        started, cpu_started = time.perf_counter(), time.process_time()
        door.parts.reader.present(CARD)  # type: ignore[union-attr]
        decision = door.station.serve(0)
        per_tap["total"].append(time.perf_counter() - started)
        per_tap["total CPU"].append(time.process_time() - cpu_started)
        assert decision is not None and decision.is_accepted, decision
        for stage, seconds in decision.timings.items():
            per_tap[str(stage)].append(seconds)
        for name in ("detect", "embed", "liveness", "compare"):
            per_tap[name].append(sum(stages[name]) - before.get(name, 0.0))
    return per_tap


def fill_backlog(path: Path, count: int) -> None:
    outbox = Outbox(path, max_items=count * 2)
    sender = Sender("bench-01")
    attempt = Attempt(
        station=Station.DOOR,
        credential=Credential.CARD,
        outcome=Outcome.REFUSED,
        reason=ReasonCode.UNKNOWN_CARD,
    )
    rows = []
    for _ in range(count):
        envelope = sender.sequenced(attempt)
        rows.append((str(envelope.message_id), topic_for("bench", envelope), encode(envelope)))
    with outbox._lock:  # bulk load in one transaction; the agent itself writes row by row
        outbox._db.execute("BEGIN")
        outbox._db.executemany(
            "INSERT INTO outbox (message_id, topic, body) VALUES (?, ?, ?)", rows
        )
        outbox._db.execute("COMMIT")
    outbox.close()


def measure_backlog(
    data_dir: Path, backlog: int, pipeline: FacePipeline, book: DoorBook
) -> tuple[float, float]:
    fill_backlog(data_dir / "outbox.sqlite3", backlog)
    clock = Clock()
    door = agent(data_dir, clock, pipeline, book)
    started = time.perf_counter()
    app = door.app()
    app.start()
    try:
        assert door.station is not None and door.parts is not None
        door.parts.reader.present("DEADBEEF")  # type: ignore[union-attr]
        door.station.serve(0)
        first_decision = time.perf_counter() - started
        assert door.uplink is not None and door.uplink.wait_drained(600)
        drained = time.perf_counter() - started
    finally:
        app.stop()
    return first_decision, drained


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taps", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock()
        probe = load_door_profile(
            AgentConfig(
                device_id="bench-01",
                site="bench",
                profile="door-station-sim",
                data_dir=Path(folder),
            )
        )
        pipeline = FacePipeline(settings=probe.vision_settings())
        faces = Faces.load(pipeline, probe.thresholds.frames_per_attempt)
        book = roster(faces, args.taps)
        door = agent(Path(folder) / "run", clock, pipeline, book)
        app = door.app()
        app.start()
        try:
            idle_rss, idle_cpu = measure_idle(door, args.idle_seconds)
            per_tap = measure_taps(door, clock, faces, args.taps)
            busy_peak = peak_rss_mb()
        finally:
            app.stop()
        print(
            f"frames per attempt: {probe.thresholds.frames_per_attempt} at 640x480, "
            f"liveness {probe.thresholds.liveness}"
        )
        agent_rss, agent_cpu = measure_agent_process(Path(folder), args.idle_seconds)
        print(
            f"`edge-agent run` process, idle: RSS {agent_rss:.0f} MB (target < 150 MB), "
            f"CPU {100 * agent_cpu:.1f} % of one core"
        )
        print(
            f"this benchmark process after start-up (with scikit-image loaded): {idle_rss:.0f} MB"
        )
        print(f"peak RSS during {args.taps} check-ins/outs: {busy_peak:.0f} MB")
        print(f"idle CPU of the serve loop: {100 * idle_cpu:.1f} % of one core")
        order = [
            "card",
            "capture",
            "detect",
            "liveness",
            "embed",
            "compare",
            "face",
            "geofence",
            "window",
            "commit",
            "total",
            "total CPU",
        ]
        for stage in order:
            if stage in per_tap:
                print(f"  {stage:9s} {summary(per_tap[stage])}")
        if args.backlog < 1:
            return  # --backlog 0 skips the start-up measurement
        first, drained = measure_backlog(Path(folder) / "backlog", args.backlog, pipeline, book)
        print(
            f"with {args.backlog} events waiting: first new decision {first:.2f} s after start, "
            f"backlog drained after {drained:.1f} s"
        )


if __name__ == "__main__":
    main()
