"""Shared fixtures for the sweep tests: the tiny Qwen3.5 config traced once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_CONFIG = Path(__file__).resolve().parent.parent / "data" / "tiny-qwen3.5.json"


@pytest.fixture(scope="session")
def tiny_trace(tmp_path_factory) -> Path:
    """The tiny config's decode step (context 64), extracted once and saved as Parquet."""
    import codesign as cd

    path = tmp_path_factory.mktemp("traces") / "tiny-decode.parquet"
    return cd.trace(str(TINY_CONFIG), phase="decode", batch=1, context=64).save(path)


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec's TOML text to a file and return its path."""

    def write(text: str, name: str = "spec.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def gpu_spec(trace: Path, dram: str = "[1000.0, 2000.0]", extra: str = "") -> str:
    """A small GPU sweep over a saved trace: 2 targets x DRAM bandwidths x 2 efficiencies."""
    return f"""\
name = "gpu-small"

[workloads]
trace = "{trace}"

[axes]
target = ["h100-sxm", "a100-80gb"]
"memory.dram_gbps" = {dram}
"efficiency.dram_stream" = [0.8, 0.9]

[derived.speedup_vs_a100]
speedup_over = "a100-80gb"
{extra}"""
