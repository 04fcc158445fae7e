"""Camera drivers: picamera2 on a Pi, OpenCV for USB (V4L2) cameras, and files on disk.

OpenCV is imported when a profile asks for it, not with this package, so that a station on
picamera2 does not pay its memory. picamera2 comes from Raspberry Pi OS (`python3-picamera2`,
a venv made with --system-site-packages) and exists only there.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.hardware.base import Camera, Frame
from edge_agent.hardware.errors import DriverUnavailableError, HardwareError
from edge_agent.profile_parts import FilesCamera, OpenCvCamera, Picamera2Camera

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
MAX_FOLDER_IMAGES = 10_000


def _cv2() -> Any:
    try:
        return importlib.import_module("cv2")
    except ImportError:
        raise DriverUnavailableError(
            "opencv camera", "OpenCV", "fix: pip install '.[agent]' (opencv-python-headless)"
        ) from None


def _rgb(bgr: Any, cv2: Any, size: tuple[int, int] | None) -> Frame:
    """OpenCV's BGR (or grey) image as RGB uint8, resized to (width, height) if asked."""
    image = np.asarray(bgr)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size is not None and (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image, dtype=np.uint8)


class OpenCvCameraDriver(Camera):
    """A V4L2 camera by index (`/dev/videoN`), or a device or video path, through OpenCV."""

    def __init__(self, config: OpenCvCamera) -> None:
        self._cv2 = cv2 = _cv2()
        self._size = (config.width, config.height)
        self._source = config.device
        if isinstance(config.device, int):
            self._capture = cv2.VideoCapture(config.device, cv2.CAP_V4L2)
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        else:
            self._capture = cv2.VideoCapture(config.device)
        if not self._capture.isOpened():
            raise HardwareError(
                f"OpenCV cannot open camera {config.device!r}; fix: check `v4l2-ctl "
                "--list-devices` and camera.device in the profile, and that the agent's user is "
                "in the video group"
            )

    def capture(self) -> Frame:
        is_read, image = self._capture.read()
        if not is_read or image is None:
            raise HardwareError(f"camera {self._source!r} delivered no frame (unplugged?)")
        return _rgb(image, self._cv2, self._size)

    def close(self) -> None:
        self._capture.release()


class FilesCameraDriver(Camera):
    """Frames from an image, a folder of images (name order) or a video file; loops if asked."""

    def __init__(self, config: FilesCamera, path: Path) -> None:
        self._cv2 = _cv2()
        self._size = (config.width, config.height)
        self._loop = config.loop
        self._images: list[Path] = []
        self._next = 0
        self._video: Any = None
        self._path = path
        if path.is_dir():
            self._images = _images_in(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            self._images = [path]
        elif path.is_file():
            self._video = self._open_video(path)
        else:
            raise HardwareError(f"camera path {path} does not exist; fix: camera.path")

    def _open_video(self, path: Path) -> Any:
        video = self._cv2.VideoCapture(str(path))
        if not video.isOpened():
            raise HardwareError(f"{path} is neither an image nor a video OpenCV can read")
        return video

    def capture(self) -> Frame:
        if self._video is not None:
            return self._video_frame()
        if self._next >= len(self._images):
            if not self._loop:
                raise HardwareError(f"no more frames in {self._path} (loop is off)")
            self._next = 0
        path = self._images[self._next]
        self._next += 1
        image = self._cv2.imread(str(path), self._cv2.IMREAD_COLOR)
        if image is None:
            raise HardwareError(f"cannot read image {path}; is it an image file?")
        return _rgb(image, self._cv2, self._size)

    def _video_frame(self) -> Frame:
        is_read, image = self._video.read()
        if not is_read and self._loop:
            self._video.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            is_read, image = self._video.read()
        if not is_read or image is None:
            raise HardwareError(f"no more frames in video {self._path}")
        return _rgb(image, self._cv2, self._size)

    def close(self) -> None:
        if self._video is not None:
            self._video.release()


def _images_in(folder: Path) -> list[Path]:
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise HardwareError(f"no images in {folder}; fix: camera.path should hold .jpg or .png")
    if len(images) > MAX_FOLDER_IMAGES:
        raise HardwareError(f"more than {MAX_FOLDER_IMAGES} images in {folder}")
    return images


class Picamera2CameraDriver(Camera):
    """The Raspberry Pi camera through picamera2 (libcamera), configured for RGB video frames."""

    def __init__(self, config: Picamera2Camera) -> None:
        try:
            # Imported by name: it comes from Raspberry Pi OS, not from the agent's extras.
            picamera2 = importlib.import_module("picamera2")
        except ImportError:
            raise DriverUnavailableError(
                "picamera2 camera",
                "picamera2",
                "fix: on Raspberry Pi OS `apt install python3-picamera2` and create the venv "
                "with --system-site-packages; elsewhere use camera.driver: opencv",
            ) from None
        try:
            self._camera = picamera2.Picamera2(config.index)
            # libcamera's "RGB888" is B, G, R in memory: flipped to RGB in capture().
            video = self._camera.create_video_configuration(
                main={"size": (config.width, config.height), "format": "RGB888"}
            )
            self._camera.configure(video)
            self._camera.start()
        except (RuntimeError, IndexError, OSError) as error:
            raise HardwareError(
                f"camera {config.index} cannot start: {error}; fix: check the ribbon cable and "
                "`rpicam-hello --list-cameras`"
            ) from None

    def capture(self) -> Frame:
        try:
            bgr = np.asarray(self._camera.capture_array("main"))
        except RuntimeError as error:
            raise HardwareError(f"camera capture failed: {error}") from None
        return np.ascontiguousarray(bgr[..., 2::-1], dtype=np.uint8)

    def close(self) -> None:
        self._camera.stop()
        self._camera.close()
