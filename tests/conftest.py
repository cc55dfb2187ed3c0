"""Fixtures every test directory shares."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_bench_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a fresh module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """Load a benchmarks/ script by name: ``bench_script("measure_gpu")``."""
    return load_bench_script
