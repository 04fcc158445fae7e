"""Run inside .venv-tflite214 (tflite-runtime 2.14, numpy<2): load models, embed chips.

Usage: python compat_loader.py CHIPS150.npy CHIPS112.npy MODEL.tflite...  Prints one JSON object:
{model path: {"inputs": [...], "descriptors": [[...], ...] or null}}. Imports only numpy and
tflite_runtime, as an old Raspberry Pi image would.
"""

import json
import sys

import numpy as np
from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]


def describe(path: str, chip_sets: dict[int, np.ndarray]) -> dict[str, object]:
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    shape = [int(n) for n in source["shape"]]
    descriptors = None
    if shape[1:] in ([150, 150, 3], [112, 112, 3]):
        descriptors = []
        for chip in chip_sets[shape[1]]:
            interpreter.set_tensor(source["index"], chip[None].astype(np.float32))
            interpreter.invoke()
            descriptors.append(interpreter.get_tensor(target["index"])[0].tolist())
    else:
        interpreter.set_tensor(source["index"], np.zeros(shape, dtype=np.float32))
        interpreter.invoke()
    return {"inputs": shape, "descriptors": descriptors}


if __name__ == "__main__":
    chip_sets = {150: np.load(sys.argv[1]), 112: np.load(sys.argv[2])}
    print(json.dumps({path: describe(path, chip_sets) for path in sys.argv[3:]}))
