"""Shared Results for the report tests: the tiny Qwen3.5 test model, timed on GPUs and on the
RISC-V cores (tracing and timing take a few seconds, so once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
GPUS = ("h100-sxm", "l4", "jetson-agx-orin")
RISCV = ("c950-like", "c950-like+xattn")


@pytest.fixture(scope="session")
def tiny_trace():
    from workloads.extract import trace

    return trace(str(DATA / "tiny-qwen3.5.json"), phase="prefill", batch=1, seq=32)


@pytest.fixture(scope="session")
def gpu_results(tiny_trace):
    from codesign import api

    return [api.simulate(tiny_trace, t) for t in GPUS]


@pytest.fixture(scope="session")
def riscv_results(tiny_trace):
    from codesign import api

    return [api.simulate(tiny_trace, t) for t in RISCV]


@pytest.fixture(scope="session")
def result_files(tmp_path_factory, gpu_results, riscv_results):
    """The Results saved as `codesign run -o` saves them (one Parquet file per target)."""
    d = tmp_path_factory.mktemp("results")
    return [r.save(d / f"results.{r.target}.parquet") for r in [*riscv_results, *gpu_results]]
