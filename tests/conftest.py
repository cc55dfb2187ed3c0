"""Fixtures every test directory shares."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings

# CI (.ci/run sets CODESIGN_CI=1) draws each property's examples from a seed fixed by the
# test's name: a run is reproducible and a red CI is a change's doing, not a new draw.
# Everywhere else every run draws afresh, and the failures it finds are kept in
# .hypothesis/ and pinned with @example.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CODESIGN_CI"):
    settings.load_profile("ci")

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
