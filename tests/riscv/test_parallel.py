"""codesign.parallel: a run's RISC-V targets simulated cold in worker processes give the
results of a one-process run, and the workers, not this process, did the simulating."""

from __future__ import annotations

import pandas as pd
import pytest

from codesign import targets
from codesign.errors import CodesignError
from codesign.parallel import simulate_all
from codesign.riscv import cache

TARGETS = ("c950-like", "c950-like+xattn", "h100-sxm")


def _fresh(monkeypatch, path) -> None:
    monkeypatch.setenv(cache.ENV_VAR, str(path))
    cache.clear_memory()


def test_workers_fill_the_memo_and_the_results_are_a_one_process_runs(
        tiny_prefill, tmp_path, monkeypatch) -> None:
    resolved = [targets.resolve(t) for t in TARGETS]
    _fresh(monkeypatch, tmp_path / "one")
    alone = simulate_all(tiny_prefill, resolved, jobs=1)
    _fresh(monkeypatch, tmp_path / "pool")
    pooled = simulate_all(tiny_prefill, resolved, jobs=2)
    cache.clear_memory()
    for a, b in zip(alone, pooled, strict=True):
        assert a.target == b.target and a.latency_s == b.latency_s
        cols = [c for c in a.ops.columns if c not in ("simulated_instructions", "sim_seconds")]
        pd.testing.assert_frame_equal(a.ops[cols], b.ops[cols], check_exact=True)
    for a, b in zip(alone[:2], pooled[:2], strict=True):  # the RISC-V targets
        assert a.ops["simulated_instructions"].sum() > 0  # simulated here, cold
        assert b.ops["simulated_instructions"].sum() == 0  # only memo hits: the workers did it


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_jobs_must_be_a_positive_integer(tiny_prefill, jobs) -> None:
    with pytest.raises(CodesignError, match=f"jobs must be a positive integer, got {jobs!r}"):
        simulate_all(tiny_prefill, [targets.resolve("c950-like")], jobs=jobs)


@pytest.mark.parametrize("command", ["sweep", "explore"])
def test_sweep_and_explore_refuse_jobs_with_the_same_check(command, tmp_path, capsys) -> None:
    from pathlib import Path

    from codesign.cli import main

    spec = Path(__file__).resolve().parents[2] / "experiments" / (
        "sweep_context.toml" if command == "sweep" else "explore_edge.toml")
    assert main([command, str(spec), "-o", str(tmp_path / "out"), "--jobs", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"codesign {command}: error: --jobs must be a positive integer, got 0"
    assert not (tmp_path / "out").exists()  # refused before any work
