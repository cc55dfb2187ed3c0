"""mypy over the three packages is clean ([tool.mypy] in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_mypy_is_clean_on_isa_codesign_and_workloads(tmp_path):
    # in a process of its own: mypy's in-memory graph (GBs) would slow this one's exit
    res = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                          str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "mc")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
