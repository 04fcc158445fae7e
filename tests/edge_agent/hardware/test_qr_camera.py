"""The camera QR driver, with both decoders, on frames drawn from real passes."""

from pathlib import Path

import numpy as np
import pytest

from edge_agent.hardware import qr_camera
from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.factory import build_parts
from edge_agent.hardware.fakes import FakeCamera
from edge_agent.hardware.qr_camera import CameraQrScanner, QrDecoder, decode_qr, to_gray
from edge_agent.profile import PROFILE_DIR as PROFILES
from edge_agent.profile import ProfileError, load_profile
from protocols import ReasonCode
from protocols.passes import rotating_code
from tests.edge_agent.hardware.qr_frames import code_image, frame_with, place
from tests.edge_agent.stations.gate_kit import NOW, PHONE_KEY, make_gate, phone_pass, static_pass

DECODERS = list(QrDecoder)


class Ticks:
    """A monotonic clock that moves 10 ms each time it is read (a camera at ~100 fps)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_printed_and_a_phone_pass_read_back_exactly(decoder: QrDecoder) -> None:
    for text in (static_pass(), rotating_code(phone_pass(), PHONE_KEY, NOW)):
        scanner = CameraQrScanner(FakeCamera([frame_with(text)]), decoder=decoder)
        assert scanner.read(0.5) == text


@pytest.mark.parametrize("decoder", DECODERS)
def test_no_code_in_sight_returns_none_after_a_bounded_number_of_frames(
    decoder: QrDecoder,
) -> None:
    camera = FakeCamera([np.full((480, 640, 3), 128, dtype=np.uint8)])
    frozen = CameraQrScanner(camera, decoder=decoder, clock=lambda: 0.0, fps=30)
    assert frozen.read(0.5) is None
    assert camera.captured == 16  # 30 fps x 0.5 s + 1, although the clock never moved
    ticking = CameraQrScanner(camera, decoder=decoder, clock=Ticks(), fps=1000)
    assert ticking.read(0.05) is None
    assert camera.captured <= 16 + 6


@pytest.mark.parametrize("decoder", DECODERS)
def test_two_codes_in_one_frame_come_one_per_read(decoder: QrDecoder) -> None:
    left, right = code_image("CP1:LEFT", 4), code_image("CP1:RIGHT", 4)
    frame = np.full((300, 640, 3), 200, dtype=np.uint8)
    frame[20 : 20 + left.shape[0], 20 : 20 + left.shape[1]] = left[:, :, None]
    frame[20 : 20 + right.shape[0], 340 : 340 + right.shape[1]] = right[:, :, None]
    camera = FakeCamera([frame])
    scanner = CameraQrScanner(camera, decoder=decoder)
    assert {scanner.read(0), scanner.read(0)} == {"CP1:LEFT", "CP1:RIGHT"}
    assert camera.captured == 1


def test_a_frame_of_the_wrong_shape_is_a_hardware_error() -> None:
    with pytest.raises(HardwareError, match="shape"):
        to_gray(np.zeros((4, 4, 4), dtype=np.uint8))


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_binary_code_reaches_the_gate_and_is_refused_with_a_reason(decoder: QrDecoder) -> None:
    frame = place(code_image(b"CP1:\xff\x00\xfe"), (320, 240))
    texts = decode_qr(to_gray(frame), decoder)
    assert len(texts) == 1
    gate = make_gate()
    decision = gate.station.present_code(texts[0])
    assert decision is not None and decision.reason is ReasonCode.PASS_MALFORMED


def test_the_gate_reads_a_pass_from_its_fake_camera() -> None:
    gate = make_gate()
    gate.station.qr = CameraQrScanner(FakeCamera([frame_with(static_pass())]))
    decisions = [d.reason for _ in range(5) for d in gate.station.poll(0.1)]
    assert decisions == [ReasonCode.OK]  # five reads of the same code: one decision


def test_the_default_asks_pyzbar_only_when_zxing_located_a_code_it_could_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def pyzbar(gray: object) -> list[bytes]:
        asked.append("pyzbar")
        return [b"CP1:FROM-PYZBAR"]

    monkeypatch.setattr(qr_camera, "_pyzbar", pyzbar)
    empty = np.full((240, 320), 128, dtype=np.uint8)
    assert decode_qr(empty, QrDecoder.ZXING_THEN_PYZBAR) == []
    assert asked == []  # nothing located: an idle gate never pays for the second decoder
    monkeypatch.setattr(qr_camera, "_zxing", lambda gray: ([], True))
    assert decode_qr(empty, QrDecoder.ZXING_THEN_PYZBAR) == ["CP1:FROM-PYZBAR"]
    assert decode_qr(empty, QrDecoder.ZXING) == []
    assert asked == ["pyzbar"]


def test_the_simulated_gate_profile_reads_passes_from_its_camera() -> None:
    with build_parts(load_profile("gate-station-sim")) as parts:
        assert isinstance(parts.qr, CameraQrScanner)
        assert parts.qr.decoder is QrDecoder.ZXING_THEN_PYZBAR
        assert isinstance(parts.camera, FakeCamera)
        parts.camera.show(frame_with(static_pass()))
        assert parts.qr.read(0) == static_pass()


def test_a_camera_qr_profile_without_a_camera_is_refused(tmp_path: Path) -> None:
    text = (PROFILES / "gate-station-sim.yaml").read_text()
    start, end = text.index("camera:\n"), text.index("qr:\n")
    (tmp_path / "gate.yaml").write_text(text[:start] + text[end:])
    with pytest.raises(ProfileError, match="needs a camera"):
        load_profile(tmp_path / "gate.yaml")
