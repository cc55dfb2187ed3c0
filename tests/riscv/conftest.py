"""Fixtures of the RISC-V model tests: an isolated cache directory and saved traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesign.riscv import cache
from workloads.schema import Trace

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Every test run starts with an empty on-disk timing cache of its own."""
    mp = pytest.MonkeyPatch()
    mp.setenv(cache.ENV_VAR, str(tmp_path_factory.mktemp("codesign-cache")))
    cache.clear_memory()
    yield
    mp.undo()


def _trace(tmp_path_factory, name: str, **kw) -> Trace:
    from codesign.api import trace
    path = tmp_path_factory.getbasetemp() / f"{name}.parquet"
    if not path.exists():
        trace(**kw).save(path)
    return Trace.load(path)


@pytest.fixture(scope="session")
def tiny_prefill(tmp_path_factory) -> Trace:
    """Tiny Qwen3.5 (tests/data) prefill of 64 tokens: every layer type, fast to time."""
    return _trace(tmp_path_factory, "tiny-prefill", model=str(DATA / "tiny-qwen3.5.json"),
                  phase="prefill", seq=64)


@pytest.fixture(scope="session")
def tiny_moe_decode(tmp_path_factory) -> Trace:
    return _trace(tmp_path_factory, "tiny-moe-decode",
                  model=str(DATA / "tiny-qwen3.5-moe.json"), phase="decode", context=256)


@pytest.fixture(scope="session")
def qwen9b_decode(tmp_path_factory) -> Trace:
    """qwen3.5-9b decode at context 4096 (shape-only extraction, a few seconds)."""
    return _trace(tmp_path_factory, "qwen3.5-9b-decode", model="qwen3.5-9b", phase="decode",
                  context=4096)
