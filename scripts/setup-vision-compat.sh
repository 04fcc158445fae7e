#!/usr/bin/env bash
# Create .venv-tflite214: the older runtime (tflite-runtime 2.14, which needs numpy < 2) that some
# Raspberry Pi images still carry. The golden tests load every model in it through a subprocess,
# so a model that only the newest runtime can read fails here before it reaches a device.
# Idempotent: a second run changes nothing when the pins are already satisfied.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VISION_COMPAT_VENV:-$repo_root/.venv-tflite214}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python="python3"

pins=("tflite-runtime==2.14.0" "numpy>=1.26,<2")

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
# Keep the venv out of git without touching the repository's own .gitignore.
[[ -f "$venv/.gitignore" ]] || printf '*\n' > "$venv/.gitignore"
if ! "$venv/bin/python" -c 'import tflite_runtime, numpy, sys
sys.exit(0 if tflite_runtime.__version__ == "2.14.0" and int(numpy.__version__.split(".")[0]) < 2 else 1)' \
    >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
fi
"$venv/bin/python" -c 'import tflite_runtime, numpy; print("vision compat venv:", tflite_runtime.__version__, "numpy", numpy.__version__)'
