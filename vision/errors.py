"""The vision component's errors: one hierarchy, each also the matching builtin."""

from __future__ import annotations


class VisionError(Exception):
    """Base of every error raised by the face pipeline."""


class ModelNotFoundError(VisionError, FileNotFoundError):
    """A .tflite model file is missing where the pipeline was told to look."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"face model {path} not found; the models ship in the repository's models/ folder "
            "(rebuild with `python models/build.py`) or set the path in VisionModels"
        )


class ModelIntegrityError(VisionError, ValueError):
    """A model file does not match its models/MANIFEST entry (altered, truncated or foreign)."""

    def __init__(self, filename: str, detail: str) -> None:
        super().__init__(
            f"face model {filename} refused: {detail}; reinstall the package or rebuild the "
            "models with `python models/build.py`"
        )


class RuntimeMissingError(VisionError, ImportError):
    """Neither TFLite runtime (ai-edge-litert or tflite-runtime) is installed."""

    def __init__(self) -> None:
        super().__init__(
            "no TFLite runtime found: install `ai-edge-litert` (pip install '.[vision]') or "
            "`tflite-runtime==2.14.0` with numpy<2"
        )


class ImageFormatError(VisionError, ValueError):
    """An image is not an H x W x 3 uint8 RGB array."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        super().__init__(
            f"expected an RGB image as a uint8 array of shape (height, width, 3), got {shape} "
            f"{dtype}; convert greyscale or RGBA frames to RGB first"
        )


class PhotoFormatError(VisionError, ValueError):
    """A photo file cannot be used: not a JPEG, PNG or WebP, damaged, or too large."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"photo refused: {detail}; send a JPEG, PNG or WebP photo of the face")


class TemplateFormatError(VisionError, ValueError):
    """A face template is not a finite 128-value descriptor."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"face template rejected: {detail}; re-enrol the person")


class ConfigurationError(VisionError, ValueError):
    """A threshold or setting is out of its meaningful range."""
