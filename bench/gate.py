"""Gate read rate and frame-to-decision latency, pyzbar against zxing-cpp (a benchmark, not a test).

    .venv/bin/python bench/gate.py [--frames 40] [--seed 7]

Real passes (a printed static `CP1:` pass, QR version 8, and a phone's rotating `CR1:` code,
version 12) are drawn into 640x480 and 1280x720 RGB frames at a random place, size and slight
tilt, then distorted: clean, blur, noise, perspective, glare and low light. Each frame goes
through what the gate does with a camera frame: grayscale, decode, `GateStation.present_code`
(signature, validity, rules, the outbox commit on a fake recorder). A frame counts as read when
the gate granted the pass. Latency is measured per frame, read or not, from the frame to the
decision (or to "no code"). Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.hardware.qr_camera import QrDecoder, decode_qr, to_gray
from protocols.passes import rotating_code
from tests.edge_agent.hardware.qr_frames import QUIET_MODULES, Image, code_image, place
from tests.edge_agent.stations.gate_kit import NOW, PHONE_KEY, make_gate, phone_pass, static_pass

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}
Rng = np.random.Generator


def blur(frame: Image, rng: Rng) -> Image:
    sigma = rng.uniform(1.2, 2.0)  # slightly out of focus, or moving
    return np.asarray(cv2.GaussianBlur(frame, (0, 0), sigma), dtype=np.uint8)


def noise(frame: Image, rng: Rng) -> Image:
    grain = rng.normal(0, 18, frame.shape[:2])[:, :, None]  # a small sensor at high gain
    return np.clip(frame + grain, 0, 255).astype(np.uint8)


def glare(code: Image, rng: Rng) -> Image:
    """A bright reflection on the screen or the sheet: a soft spot that washes modules out."""
    side = code.shape[0]
    y, x = np.mgrid[0:side, 0:side]
    cy, cx = rng.uniform(0.3, 0.7, 2) * side
    radius = rng.uniform(0.08, 0.12) * side
    spot = 255 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    washed: Image = np.clip(code + spot, 0, 255).astype(np.uint8)
    return washed


def low_light(frame: Image, rng: Rng) -> Image:
    dim = frame * rng.uniform(0.15, 0.25) + 8  # a dark gate at night, auto-exposure at its limit
    grain = rng.normal(0, 4, frame.shape[:2])[:, :, None]
    return np.clip(dim + grain, 0, 255).astype(np.uint8)


def unchanged(image: Image, rng: Rng) -> Image:
    return image


# Each distortion: (what it does to the code as shown, what it does to the camera's frame);
# perspective is the tilt `draw` gives the code.
DISTORTIONS: dict[str, tuple[Callable[[Image, Rng], Image], Callable[[Image, Rng], Image]]] = {
    "clean": (unchanged, unchanged),
    "blur": (unchanged, blur),
    "noise": (unchanged, noise),
    "perspective": (unchanged, unchanged),
    "glare": (glare, unchanged),
    "low light": (unchanged, low_light),
}


def draw(text: str, size: tuple[int, int], distortion: str, rng: Rng) -> Image:
    """The code at a random place, filling 45-60 % of the frame's height, slightly tilted."""
    width, height = size
    code = code_image(text, module_px=1)
    side = rng.uniform(0.45, 0.6) * height
    on_code, on_frame = DISTORTIONS[distortion]
    resized = cv2.resize(code, (round(side), round(side)), interpolation=cv2.INTER_NEAREST)
    code = on_code(np.asarray(resized, dtype=np.uint8), rng)
    left = rng.uniform(0.05, 0.95) * (width - side)
    top = rng.uniform(0.05, 0.95) * (height - side)
    square = np.array(
        [[left, top], [left + side, top], [left + side, top + side], [left, top + side]],
        dtype=np.float32,
    )
    tilt = 0.2 if distortion == "perspective" else 0.02  # of the side, per corner
    corners = square + rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * side
    frame = place(code, size, corners=corners, background=int(rng.integers(90, 170)))
    return on_frame(frame, rng)


@dataclass
class Cell:
    """One decoder's frames of one case: how many were read, wall and CPU milliseconds each."""

    read: int = 0
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, is_read: bool, wall_ms: float, cpu_ms: float) -> None:
        self.read += is_read
        self.wall_ms.append(wall_ms)
        self.cpu_ms.append(cpu_ms)

    def summary(self) -> str:
        p50, p95 = np.percentile(self.wall_ms, [50, 95])
        cpu95 = np.percentile(self.cpu_ms, 95)
        return f"{100 * self.read / len(self.wall_ms):5.1f}% {p50:5.1f} {p95:5.1f} {cpu95:5.1f}"


def decide(frame: Image, decoder: QrDecoder) -> tuple[bool, float, float]:
    """One frame as the gate handles it; a fresh gate, so no frame is another's repeat.

    Wall time is what a student waits; CPU time (this thread's) is the work, which the other
    processes on a shared machine do not inflate.
    """
    gate = make_gate()
    wall, cpu = time.perf_counter(), time.thread_time()
    texts = decode_qr(to_gray(frame), decoder)
    decision = gate.station.present_code(texts[0]) if texts else None
    cpu_ms, wall_ms = (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
    return decision is not None and decision.is_granted, wall_ms, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per cell")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    rng = np.random.default_rng(options.seed)
    passes = {
        "printed": static_pass(),
        "phone": rotating_code(phone_pass(), PHONE_KEY, NOW),
    }
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, {options.frames} frames a cell, seed "
        f"{options.seed}, quiet zone {QUIET_MODULES} modules; per decoder: read rate, wall "
        "p50 and p95, CPU p95 (ms)"
    )
    print(
        f"{'size':9} {'pass':8} {'distortion':12} " + "  ".join(f"{d.value:>24}" for d in QrDecoder)
    )
    for size_name, size in SIZES.items():
        for pass_name, text in passes.items():
            for distortion in DISTORTIONS:
                frames = [draw(text, size, distortion, rng) for _ in range(options.frames)]
                cells = {decoder: Cell() for decoder in QrDecoder}
                for frame in frames:
                    for decoder in QrDecoder:
                        cells[decoder].add(*decide(frame, decoder))
                row = "  ".join(f"{cells[d].summary():>24}" for d in QrDecoder)
                print(f"{size_name:9} {pass_name:8} {distortion:12} {row}", flush=True)


if __name__ == "__main__":
    main()
