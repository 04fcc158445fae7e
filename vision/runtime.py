"""Loading .tflite models with whichever TFLite runtime the device has.

ai-edge-litert is preferred (it works with numpy 2); tflite-runtime 2.14 is the fallback that
older Raspberry Pi images carry. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from vision.errors import ModelNotFoundError, RuntimeMissingError

# Repository layout: vision/ and models/ are siblings.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
RUNTIME_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


class Interpreter(Protocol):
    """The part of the TFLite Interpreter API the pipeline uses."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, tensor_index: int, value: npt.NDArray[Any]) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, tensor_index: int) -> npt.NDArray[Any]: ...


@dataclass(frozen=True)
class VisionModels:
    """Where the detector and the embedder live; defaults to the repository's models/ folder."""

    detector: Path = DEFAULT_MODELS_DIR / "face_detector_short_range.tflite"
    embedder: Path = DEFAULT_MODELS_DIR / "face_embedder_fp32.tflite"

    @classmethod
    def in_folder(cls, folder: Path, embedder_variant: str = "fp32") -> VisionModels:
        return cls(
            folder / "face_detector_short_range.tflite",
            folder / f"face_embedder_{embedder_variant}.tflite",
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
    """An allocated interpreter for the model at `path`."""
    if not path.is_file():
        raise ModelNotFoundError(str(path))
    module = importlib.import_module(runtime_name())
    interpreter = cast(
        Interpreter, module.Interpreter(model_path=str(path), num_threads=num_threads)
    )
    interpreter.allocate_tensors()
    return interpreter


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
