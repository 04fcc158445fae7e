"""Make the build tooling in models/ importable (it is scripts, not an installed package)."""

import sys
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
if str(MODELS_DIR) not in sys.path:
    sys.path.insert(0, str(MODELS_DIR))
