"""Camera drivers refuse what they cannot show with a message that names the fix."""

from pathlib import Path

import numpy as np
import pytest

from edge_agent.hardware.cameras import FilesCameraDriver, OpenCvCameraDriver
from edge_agent.hardware.errors import HardwareError
from edge_agent.hardware.fakes import FakeCamera
from edge_agent.profile import FilesCamera, OpenCvCamera


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
