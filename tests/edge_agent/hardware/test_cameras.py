"""Camera drivers refuse what they cannot show with a message that names the fix."""

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.hardware.cameras import (
    FilesCameraDriver,
    OpenCvCameraDriver,
    Picamera2CameraDriver,
)
from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.fakes import FakeCamera
from edge_agent.profile_parts import FilesCamera, OpenCvCamera, Picamera2Camera


def files(path: Path, loop: bool = True) -> FilesCameraDriver:
    return FilesCameraDriver(FilesCamera(driver="files", path=path, loop=loop), path)


def test_missing_path_empty_folder_and_non_image_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match=r"does not exist; fix: camera\.path"):
        files(tmp_path / "nowhere")
    with pytest.raises(HardwareError, match="no images in"):
        files(tmp_path)
    (tmp_path / "notes.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(HardwareError, match="neither an image nor a video"):
        files(tmp_path / "notes.bin")


def test_a_corrupt_image_is_a_hardware_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    camera = files(tmp_path / "broken.png")
    with pytest.raises(HardwareError, match="cannot read image"):
        camera.capture()


def test_a_folder_plays_in_name_order_and_stops_without_loop(tmp_path: Path) -> None:
    import cv2

    for number in (2, 1):
        cv2.imwrite(str(tmp_path / f"{number}.png"), np.full((64, 64, 3), number * 50, np.uint8))
    camera = files(tmp_path, loop=False)
    assert [int(camera.capture().mean()) for _ in range(2)] == [50, 100]
    with pytest.raises(HardwareError, match="loop is off"):
        camera.capture()


def test_an_absent_v4l2_device_names_the_checks() -> None:
    with pytest.raises(HardwareError, match="video group"):
        OpenCvCameraDriver(OpenCvCamera(driver="opencv", device=63))


def test_the_fake_camera_runs_dry_without_loop() -> None:
    camera = FakeCamera([np.zeros((64, 64, 3), np.uint8)], loop=False)
    camera.capture()
    with pytest.raises(HardwareError, match="no frames"):
        camera.capture()


class StandInPicamera2:
    """picamera2.Picamera2 as the driver uses it; frames come out as libcamera's "RGB888",
    which is B, G, R in memory."""

    started = False

    def __init__(self, camera_num: int) -> None:
        if camera_num != 0:
            raise IndexError("list index out of range")  # what picamera2 raises
        self.config: dict[str, Any] = {}

    def create_video_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        return {"main": main}

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def start(self) -> None:
        StandInPicamera2.started = True

    def capture_array(self, stream: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
        width, height = self.config[stream]["size"]
        bgr = np.zeros((height, width, 3), dtype=np.uint8)
        bgr[..., 0] = 255  # pure blue, as libcamera lays it out
        return bgr

    def stop(self) -> None:
        StandInPicamera2.started = False

    def close(self) -> None:
        pass


@pytest.fixture
def picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("picamera2")
    module.Picamera2 = StandInPicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)


@pytest.mark.usefixtures("picamera2")
def test_picamera2_frames_come_out_rgb_at_the_profile_size() -> None:
    config = Picamera2Camera(driver="picamera2", width=320, height=240)
    camera = Picamera2CameraDriver(config)
    frame = camera.capture()
    assert frame.shape == (240, 320, 3) and frame.flags["C_CONTIGUOUS"]
    assert frame[0, 0].tolist() == [0, 0, 255]  # blue stays blue
    camera.close()
    assert not StandInPicamera2.started


@pytest.mark.usefixtures("picamera2")
def test_a_picamera2_that_is_not_there_names_the_check() -> None:
    with pytest.raises(HardwareError, match="rpicam-hello --list-cameras"):
        Picamera2CameraDriver(Picamera2Camera(driver="picamera2", index=1))
