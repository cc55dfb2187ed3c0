"""Make this folder's helper module (gpu_rows) importable under pytest's import mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
