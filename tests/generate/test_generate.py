"""Generation scenarios (codesign.generation, codesign.api.generate): prefill + decode
steps, the interpolation over context and its error bound, against timing every step on
a small case."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import api, targets
from codesign.errors import CodesignError
from codesign.generation import bound, generate, sample_steps

MODEL = "qwen3-0.6b"


@dataclass
class _Step:
    """A stand-in for a decode Result: only its latency matters to the sampler."""

    latency_s: float


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5000), st.integers(2, 400),
       st.lists(st.floats(0.0, 1e-3), min_size=1, max_size=400), st.floats(1e-4, 0.1),
       st.integers(2, 7))
def test_interpolated_decode_is_within_its_bound_for_any_nondecreasing_step_time(
        lo, n, rises, base, max_samples):
    # any step time that never decreases with the context (steps and jumps included)
    inc = np.resize(np.asarray(rises), n)
    f = base + np.concatenate([[0.0], np.cumsum(inc)[:-1]])
    hi = lo + n - 1
    timed = sample_steps(lambda c: _Step(float(f[c - lo])), lo, hi, 0.001, max_samples)
    cs = sorted(timed)
    steps = np.arange(lo, hi + 1)
    interp = np.interp(steps, cs, [timed[c].latency_s for c in cs])
    b = bound(cs, [timed[c].latency_s for c in cs], steps)
    assert abs(interp.sum() - f.sum()) <= b + 1e-12
    assert len(cs) <= max(max_samples, 2) and cs[0] == lo and cs[-1] == hi


def test_bisection_stops_once_the_bound_is_small():
    # a constant step time has no rise: two samples, bound 0
    flat = sample_steps(lambda c: _Step(1e-3), 100, 611, 0.005, 9)
    assert sorted(flat) == [100, 611]
    # a linear one is interpolated exactly, but the bound (monotone only) is conservative:
    # it bisects until the bound is within rel_tol or max_samples are timed
    timed = sample_steps(lambda c: _Step(1e-3 + 1e-7 * c), 100, 611, 0.005, 9)
    cs = sorted(timed)
    steps = np.arange(100, 612)
    exact = (1e-3 + 1e-7 * steps).sum()
    interp = np.interp(steps, cs, [timed[c].latency_s for c in cs]).sum()
    assert interp == pytest.approx(exact, rel=1e-12)
    b = bound(cs, [timed[c].latency_s for c in cs], steps)
    assert b <= 0.005 * exact or len(cs) == 9
    # a jump in the middle makes the bound large: bisect up to max_samples
    jump = sample_steps(lambda c: _Step(1e-3 if c < 300 else 2e-3), 100, 611, 0.005, 6)
    assert len(jump) == 6


def _every_step(target: str, prompt: int, output: int, engine: str | None = None):
    t = targets.resolve(target, {"engine": engine} if engine else {})
    ttft = t.simulate(api.trace(MODEL, phase="prefill", seq=prompt)).latency_s
    steps = [t.simulate(api.trace(MODEL, phase="decode", context=c)).latency_s
             for c in range(prompt, prompt + output - 1)]
    return ttft, np.array(steps)


@pytest.mark.parametrize("target,engine,prompt,output", [
    # contexts 250..260 cross the 256-key chunk of split-KV decode attention: a second
    # chunk and a combine kernel appear, so the step time jumps between samples
    ("h100-sxm", "vllm", 250, 12),
    ("c950-like+xattn", None, 60, 5),
])
def test_generate_matches_timing_every_step_within_the_bound(target, engine, prompt, output):
    r = generate(MODEL, target, prompt=prompt, output=output, engine=engine, max_samples=3)
    ttft, steps = _every_step(target, prompt, output, engine)
    assert r.ttft_s == pytest.approx(ttft)
    assert len(r.step_seconds) == output - 1 == len(steps)
    # generate = prefill + sum of decode steps, within the documented bound
    assert abs(r.e2e_s - (ttft + steps.sum())) <= r.bound_s + 1e-12
    # the bound is tight enough to be useful on this case
    assert r.bound_s <= 0.02 * steps.sum()
    # step time never decreases with the context (the bound's premise)
    assert np.all(np.diff(steps) >= -1e-12)


def test_summary_numbers_follow_from_the_steps():
    r = generate(MODEL, "h100-sxm", prompt=250, output=12, batch=1, engine="vllm")
    s = r.summary()
    assert s["ttft_s"] == r.prefill.latency_s
    assert s["e2e_s"] == pytest.approx(r.prefill.latency_s + r.step_seconds.sum())
    assert s["tpot_mean_s"] == pytest.approx(r.step_seconds.mean())
    assert s["tpot_last_s"] == r.step_seconds[-1]
    assert s["output_tokens_per_s"] == pytest.approx(12 / s["e2e_s"])
    assert s["engine"] == "vllm" and s["phase"] == "generate"
    assert sum(s["seconds_by_kind"].values()) == pytest.approx(s["e2e_s"])
    assert s["seconds_by_kind"]["host"] > 0


def test_one_output_token_is_the_prefill_alone():
    r = generate(MODEL, "h100-sxm", prompt=250, output=1)
    assert r.e2e_s == r.ttft_s and r.tpot_mean_s == 0.0 and len(r.step_seconds) == 0


@pytest.mark.parametrize("kw,msg", [
    ({"prompt": 0}, "--prompt 0 must be at least 1"),
    ({"output": 0}, "--output 0 must be at least 1"),
    ({"prompt": 40000, "output": 2000}, "beyond the maximum context"),
])
def test_bad_scenarios_are_refused(kw, msg):
    with pytest.raises(CodesignError, match=msg):
        generate(MODEL, "h100-sxm", **{"prompt": 16, "output": 4, **kw})


@pytest.mark.parametrize("engine", ["vllm", "hf-transformers"])
def test_more_batch_never_lowers_request_throughput(engine):
    one = generate(MODEL, "h100-sxm", prompt=250, output=12, batch=1, engine=engine)
    four = generate(MODEL, "h100-sxm", prompt=250, output=12, batch=4, engine=engine)
    assert four.output_tokens_per_s >= one.output_tokens_per_s
    assert four.e2e_s >= one.e2e_s  # but each request waits at least as long
