"""Sweeps of whole requests (phase = "generate"): the prompt and output axes cross like
other workload lengths, each row equals `codesign.generate` on its point, locally and on a
Dask cluster, the workers never trace (the parent extracts every decode context the
request may time), and derived speedups of TTFT and TPOT work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codesign as cd
from codesign.cli import main
from codesign.generation import DEFAULT_MAX_SAMPLES, candidate_contexts, sample_steps
from codesign.sweep import load_spec
from codesign.sweep.runner import run_with_info

from .conftest import TINY_CONFIG

SPEC = f"""\
name = "tiny-generate"

[workloads]
model = "{TINY_CONFIG}"
phase = "generate"
prompt = [32, 64]
output = 6

[axes]
target = ["c950-like", "c950-like+xattn", "h100-sxm"]

[derived.xattn_ttft]
speedup_over = "c950-like"
metric = "ttft_s"
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen-sweep")
    (d / "spec.toml").write_text(SPEC)
    df, info = run_with_info(d / "spec.toml", out=d / "out", jobs=2, progress=False)
    return d, df, info


def test_rows_equal_generate_on_each_point(swept):
    _, df, _ = swept
    assert len(df) == 2 * 3 and set(df["phase"]) == {"generate"}
    for row in df.itertuples():
        g = cd.generate(str(TINY_CONFIG), row.target, prompt=row.prompt, output=row.output)
        assert row.latency_s == pytest.approx(g.e2e_s, rel=1e-12)
        assert row.ttft_s == pytest.approx(g.ttft_s, rel=1e-12)
        assert row.tpot_s == pytest.approx(g.tpot_mean_s, rel=1e-12)
        assert row.tokens_per_s == pytest.approx(g.output_tokens_per_s, rel=1e-12)
        assert row.gflop == pytest.approx(g.gflop, rel=1e-12) and row.gflop > 0
    base = df[df["target"] == "c950-like"].set_index("prompt")["ttft_s"]
    for row in df.itertuples():
        assert row.xattn_ttft == pytest.approx(base[row.prompt] / row.ttft_s)


def test_workers_never_trace_and_a_rerun_resumes_everything(swept):
    d, _, first = swept
    assert first.computed == 6 and first.workers
    assert not any(w["torch"] for w in first.workers)  # the parent extracted every trace
    traces = list((d / "out" / "traces").glob("*.parquet"))
    # per prompt: the prefill and every context the bisection may time (5 decode steps)
    assert len(traces) == sum(1 + len(candidate_contexts(p, p + 6 - 2)) for p in (32, 64))
    _, again = run_with_info(d / "spec.toml", out=d / "out", jobs=2, progress=False)
    assert again.computed == 0 and again.resumed == 6


def test_on_a_dask_cluster_the_rows_are_the_same(swept, tmp_path):
    distributed = pytest.importorskip("distributed")
    d, local, _ = swept
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["sweep", str(d / "spec.toml"), "-o", str(tmp_path / "dask"),
                     "--scheduler", cluster.scheduler_address, "--no-progress"]) == 0
    remote = pd.read_parquet(tmp_path / "dask" / "results.parquet")
    cols = ["row_id", "latency_s", "ttft_s", "tpot_s"]
    pd.testing.assert_frame_equal(local[cols].sort_values("row_id").reset_index(drop=True),
                                  remote[cols].sort_values("row_id").reset_index(drop=True))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 600), st.integers(2, 7),
       st.lists(st.floats(0.0, 1e-3), min_size=1, max_size=50))
def test_every_context_the_bisection_times_is_a_candidate(lo, n, max_samples, rises):
    hi = lo + n
    inc = np.resize(np.asarray(rises), n + 1)

    class Step:
        def __init__(self, c: int) -> None:
            self.latency_s = float(inc[: c - lo].sum())

    timed = sample_steps(Step, lo, hi, 0.0, max_samples)
    assert set(timed) <= set(candidate_contexts(lo, hi, max_samples))
    assert len(candidate_contexts(lo, hi, DEFAULT_MAX_SAMPLES)) <= 2 ** (DEFAULT_MAX_SAMPLES
                                                                         - 2) + 1 + 1


@pytest.mark.parametrize("body,message", [
    ('phase = "generate"\nprompt = 32', 'phase "generate" needs output = N'),
    ('phase = "decode"\ncontext = 8\nprompt = 32', "prompt applies to phase"),
    ('phase = "generate"\nprompt = 0\noutput = 4', "prompt"),
    ('phase = "generate"\nprompt = 262000\noutput = 1000', "beyond the maximum context"),
    ('phase = "train"\nseq = 4', "unknown phase 'train'; valid: prefill, decode, generate"),
])
def test_bad_generate_workloads_name_the_line(tmp_path, body, message):
    spec = tmp_path / "s.toml"
    spec.write_text(f'[workloads]\nmodel = "qwen3.5-0.8b"\n{body}\n[axes]\n'
                    'target = ["h100-sxm"]\n')
    with pytest.raises(cd.CodesignError, match=message):
        load_spec(spec)
