"""Loading .tflite models with whichever TFLite runtime the device has.

ai-edge-litert is preferred (it works with numpy 2); tflite-runtime 2.14 is the fallback that
older Raspberry Pi images carry. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from vision.errors import ModelNotFoundError, RuntimeMissingError
from vision.manifest import MANIFEST_NAME, default_embedder, embedder_file, verify_model_file

# An installed wheel carries the models as package data in vision/models/; a source checkout
# has them in the repository's models/ folder, a sibling of vision/.
PACKAGED_MODELS_DIR = Path(__file__).resolve().parent / "models"
CHECKOUT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODELS_DIR = (
    PACKAGED_MODELS_DIR if (PACKAGED_MODELS_DIR / MANIFEST_NAME).is_file() else CHECKOUT_MODELS_DIR
)
DETECTOR_FILE = "face_detector_short_range.tflite"
EYES_FILE = "iris_landmark.tflite"
RUNTIME_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


class Interpreter(Protocol):
    """The part of the TFLite Interpreter API the pipeline uses."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, tensor_index: int, value: npt.NDArray[Any]) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, tensor_index: int) -> npt.NDArray[Any]: ...


def _default_embedder_path() -> Path:
    return embedder_file(DEFAULT_MODELS_DIR, default_embedder(DEFAULT_MODELS_DIR))


@dataclass(frozen=True)
class VisionModels:
    """Where the detector and the embedder live; defaults to the shipped models, with the
    embedder models/MANIFEST names as the default."""

    detector: Path = DEFAULT_MODELS_DIR / DETECTOR_FILE
    embedder: Path = field(default_factory=_default_embedder_path)
    # Loaded only when the liveness policy asks for a blink.
    eyes: Path = DEFAULT_MODELS_DIR / EYES_FILE

    @classmethod
    def in_folder(cls, folder: Path, embedder_variant: str = "fp32") -> VisionModels:
        """The dlib embedder's files by variant (fp32, int8dr), as before models had names."""
        return cls(
            folder / DETECTOR_FILE,
            folder / f"face_embedder_{embedder_variant}.tflite",
            folder / EYES_FILE,
        )

    @classmethod
    def for_model(
        cls, model: str, variant: str | None = None, folder: Path | None = None
    ) -> VisionModels:
        """The embedder chosen by its model name (a firmware profile's or the coordinator's
        setting), e.g. "sface-2021dec" or "dlib-resnet-v1"."""
        folder = folder or DEFAULT_MODELS_DIR
        return cls(
            folder / DETECTOR_FILE, embedder_file(folder, model, variant), folder / EYES_FILE
        )


def runtime_name() -> str:
    """The module path of the TFLite runtime that will be used."""
    for module in RUNTIME_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module
    raise RuntimeMissingError


def load_interpreter(path: Path, num_threads: int = 1) -> Interpreter:
    """An allocated interpreter for the model at `path`, refused unless its sha256 is the one
    models/MANIFEST lists (when the folder has a MANIFEST, as the shipped models do)."""
    if not path.is_file():
        raise ModelNotFoundError(str(path))
    if (path.parent / MANIFEST_NAME).is_file():
        verify_model_file(path)
    module = importlib.import_module(runtime_name())
    interpreter = cast(
        Interpreter, module.Interpreter(model_path=str(path), num_threads=num_threads)
    )
    interpreter.allocate_tensors()
    release_mapped_pages(path)
    return interpreter


MADV_DONTNEED = 4


def release_mapped_pages(path: Path) -> None:
    """Let the kernel drop the pages of the model file that the runtime mapped.

    The runtime maps the .tflite file and XNNPACK packs every weight into its own buffers when
    the interpreter is built, so the mapped pages are read once and then only count against the
    device's resident memory (18 MB for SFace). Dropping a read-only file mapping's pages is
    always safe: a later read faults them back in from the file. Linux only; a no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    target = str(path.resolve())
    with Path("/proc/self/maps").open() as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == target and "w" not in fields[1]:
                start, end = (int(address, 16) for address in fields[0].split("-"))
                libc.madvise(start, end - start, MADV_DONTNEED)


class TfliteModel:
    """One loaded model with a single float32 input: `run(x)` returns its outputs by name."""

    def __init__(self, path: Path, num_threads: int = 1) -> None:
        self.path = path
        self.interpreter = load_interpreter(path, num_threads)
        self.input_index = int(self.interpreter.get_input_details()[0]["index"])
        self.outputs = {
            str(d["name"]): int(d["index"]) for d in self.interpreter.get_output_details()
        }

    def run(self, tensor: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        return {
            name: np.asarray(self.interpreter.get_tensor(index), dtype=np.float32)
            for name, index in self.outputs.items()
        }
