"""The power limiter's throttling (codesign.gpu.power): sustained work whose demand exceeds
the cap runs at a lower SM clock, its compute stretched by f_max / f; bursts do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import targets, validate
from codesign.gpu import power
from codesign.silicon import dram_pj_per_bit
from workloads.schema import trace_from_rows

EAGER = {"engine": "pytorch-eager", "launch.mode": "eager"}


def _gemm(M, N, K):
    return {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16",
            "M": M, "N": N, "K": K, "G": 1, "flops": 2 * M * N * K,
            "bytes_read": 2 * (M * K + K * N), "bytes_written": 2 * M * N}


GEMM = _gemm(8192, 8192, 8192)


def _run(rows, overrides=None, sustained=True, gpu="h200"):
    tr = trace_from_rows(rows, {"model": "test", "scenario": {"phase": "prefill",
                                                              "sustained": sustained}})
    return targets.resolve(gpu, {**EAGER, **(overrides or {})}).simulate(tr)


@pytest.fixture(scope="module")
def h200_cases():
    return {c.name: c for c in validate.load_cases(validate.suite_file("gpu-h200"))[0]}


def test_throttled_clock_and_time_of_the_8192_gemm_by_hand():
    """The 8192^3 GEMM back to back on the H200 at 700 W, solved by hand: its kernel is
    compute-bound, C / r of SM compute plus L of DRAM latency, plus g of launch and host
    time (from the unlimited model at 0.8 and 0.9 of the clock, where it keeps one tile:
    K(r) = C / r + L through both); the power P(r) = idle + (busy x active_w + util x
    tensor_w) x r^3 + DRAM, with util = FLOPs / (S(r) x peak x r), meets 700 W at the
    highest clock ratio r* that meets it (on a grid of 4e-6, numpy)."""
    cfg = targets.resolve("h200", EAGER).config
    p = cfg.power
    lo, hi = (_run([GEMM], {"power.tdp_w": 1e4, "sm.clock_mhz": cfg.sm.clock_mhz * x}
                   ).ops.iloc[0] for x in (0.8, 0.9))  # no limiter within reach
    c = (lo["kernel_seconds"] - hi["kernel_seconds"]) / (1 / 0.8 - 1 / 0.9)
    lat = hi["kernel_seconds"] - c / 0.9
    g = hi["seconds"] - hi["kernel_seconds"]
    assert c > 20 * lat > 0  # compute-bound
    peak = cfg.tensor_flops("bf16")
    nbytes = GEMM["bytes_read"] + GEMM["bytes_written"]

    def watts(r):
        s = c / r + lat + g
        util = GEMM["flops"] / (s * peak * r)
        busy = (c / r + lat) / s
        return (p.idle_w + (busy * p.active_w + util * p.tensor_w) * r ** 3
                + nbytes / s * 8 * dram_pj_per_bit("hbm3e") * 1e-12)

    assert watts(1.0) > 700  # the demand at the full clock is over the limit
    grid = np.linspace(0.2, 1.0, 200_001)
    r = float(grid[watts(grid) <= 700.0].max())
    row = _run([GEMM]).ops.iloc[0]
    assert row["clock_mhz"] == pytest.approx(r * cfg.sm.clock_mhz, abs=power.CLOCK_TOL_MHZ)
    assert row["seconds"] == pytest.approx(c / r + lat + g, rel=1e-3)
    assert row["power_w"] == pytest.approx(700.0, rel=2e-3)
    assert row["power_w"] <= 700.0 * (1 + 1e-9)
    # with the preset's constants: about 0.86 of the model's 1830 MHz, 1704 us (fitted)
    assert 0.8 < r < 0.9


def test_the_kernel_suite_burst_is_unthrottled_and_its_sustained_twin_is_not(h200_cases):
    """gate_proj M=2048: the kernel suite's burst row (5 + 20 calls, ~7 ms) keeps the full
    clock; the power group's 3 s of it throttles, as measured (273 us -> 343 us)."""
    burst = h200_cases["measured-h200-gemm-gate_proj-m2048"]
    sustained = h200_cases["measured-h200-power-gemm-gate_proj-m2048-seconds"]
    assert burst.row == sustained.row and burst.overrides == sustained.overrides
    assert not burst.scenario.get("sustained") and sustained.scenario["sustained"]
    full = _run([burst.row], sustained=False).ops.iloc[0]
    cfg = targets.resolve("h200", EAGER).config
    assert full["clock_mhz"] == cfg.sm.clock_mhz
    assert validate.predict(burst) == pytest.approx(full["seconds"], rel=1e-12)
    assert validate.predict(sustained) > 1.1 * validate.predict(burst)


def test_the_window_lies_between_the_measured_burst_and_the_sustained_run(h200_cases):
    """The data bound power.window_ms: the burst row's 25 calls (5 warm-up + 20 timed) at
    its measured time run unthrottled, the power group's 3 s throttle."""
    cfg = targets.resolve("h200").config
    burst_s = 25 * h200_cases["measured-h200-gemm-gate_proj-m2048"].measured
    assert not power.is_sustained(cfg, burst_s)
    assert power.is_sustained(cfg, 3.0)


def test_a_short_pass_is_a_burst_and_a_long_one_sustained():
    cfg = targets.resolve("h200", EAGER).config
    one = _run([GEMM], sustained=False)  # 1.7 ms: shorter than the window
    assert one.latency_s * 1e3 < cfg.power.window_ms
    assert (one.ops["clock_mhz"] == cfg.sm.clock_mhz).all()
    n = int(cfg.power.window_ms * 1e-3 / one.latency_s) + 1  # rows enough to outlast it
    many = _run([GEMM] * n, sustained=False)
    assert (many.ops["clock_mhz"] < cfg.sm.clock_mhz).all()


ROWS = st.lists(st.sampled_from([GEMM, _gemm(2048, 12288, 4096), _gemm(1, 131072, 4096),
                                 _gemm(4096, 4096, 512)]), min_size=1, max_size=3)
GPUS = ("h200", "h100-sxm", "a100-80gb")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(gpu=st.sampled_from(GPUS), rows=ROWS, limit=st.floats(250.0, 1000.0))
def test_throttling_never_speeds_a_kernel_and_holds_the_cap(gpu, rows, limit):
    ov = {"power.limit_w": limit, "power.tensor_w": 655.2}
    burst = _run(rows, ov, sustained=False, gpu=gpu)
    held = _run(rows, ov, gpu=gpu)
    cfg = targets.resolve(gpu, {**EAGER, **ov}).config
    assert (held.ops["seconds"] >= burst.ops["seconds"] * (1 - 1e-12)).all()
    floor = held.ops["clock_mhz"].iloc[0] <= cfg.power.min_clock_mhz * (1 + 1e-9)
    assert held.power_w <= cfg.power.cap_w * (1 + 1e-9) or floor
    assert (held.ops["clock_mhz"] <= cfg.sm.clock_mhz).all()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(rows=ROWS, lo=st.floats(250.0, 900.0), extra=st.floats(0.0, 400.0))
def test_a_higher_limit_is_never_slower(rows, lo, extra):
    slow = _run(rows, {"power.limit_w": lo})
    fast = _run(rows, {"power.limit_w": lo + extra})
    assert fast.latency_s <= slow.latency_s * (1 + 1e-12)
    assert fast.ops["clock_mhz"].iloc[0] >= slow.ops["clock_mhz"].iloc[0]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(gpu=st.sampled_from(GPUS), rows=ROWS, limit=st.floats(100.0, 1000.0),
       tensor=st.floats(0.0, 2000.0))
def test_a_burst_runs_at_the_full_clock_with_each_row_capped(gpu, rows, limit, tensor):
    """A burst's times do not depend on the power constants, and its rows' power is their
    demand capped row by row (the model before the limiter)."""
    ov = {"power.limit_w": limit, "power.tensor_w": tensor}
    res = _run(rows[:1], ov, sustained=False, gpu=gpu)
    ref = _run(rows[:1], {"power.tdp_w": 1e4}, sustained=False, gpu=gpu)
    cfg = targets.resolve(gpu, {**EAGER, **ov}).config
    assert list(res.ops["seconds"]) == list(ref.ops["seconds"])
    assert (res.ops["clock_mhz"] == cfg.sm.clock_mhz).all()
    want = power.row_power(res.ops, cfg).sum(axis=1)
    assert list(res.ops["power_w"]) == pytest.approx(list(want), rel=1e-12)


def test_clock_exponent_one_throttles_deeper_than_three():
    """With the voltage fixed (k = 1) a lower clock saves less power than along the DVFS
    curve (k = 3), so the limiter must go lower for the same cap."""
    k1 = _run([GEMM], {"power.clock_exponent": 1.0}).ops.iloc[0]
    k3 = _run([GEMM], {"power.clock_exponent": 3.0}).ops.iloc[0]
    assert k1["clock_mhz"] < k3["clock_mhz"] and k1["seconds"] > k3["seconds"]


def test_a_sustained_case_says_so_and_the_fitted_tensor_w_is_its_one_row(h200_cases):
    sustained = {n for n, c in h200_cases.items()
                 if c.scenario.get("sustained") or c.params.get("sustained")}
    assert sustained == {n for n in h200_cases if n.startswith("measured-h200-power-")
                         and n != "measured-h200-power-idle-clocked"}
    c = h200_cases["measured-h200-power-gemm-8192-seconds"]
    assert c.fitted
    assert validate.predict(c) == pytest.approx(c.measured, rel=5e-3)
    # the derived tensor power (TDP - idle - active) never throttles it
    derived = dataclasses.replace(c, overrides={**c.overrides, "power.tensor_w": 0.0})
    assert validate.predict(derived) < 0.9 * c.measured


def test_decode_steps_that_outlast_the_window_run_at_the_limiter_s_clock():
    """A request's decode steps run back to back: 255 steps of ~18 ms outlast the 100 ms
    window, so each step is timed as sustained work (over a 250 W limit, the limiter's
    clock stretches it, and its power averages at the cap); one step is a burst."""
    from codesign import api
    from codesign.generation import generate
    from codesign.serving import sustained

    over = {"power.limit_w": 250.0}
    tgt = targets.resolve("h100-sxm", {"engine": "vllm", **over})
    step = api.trace("llama-3.1-8b", phase="decode", batch=256, context=128)
    burst, held = tgt.simulate(step), tgt.simulate(sustained(step))
    assert held.latency_s > burst.latency_s * 1.05  # the limiter binds here
    assert held.power_w == pytest.approx(250.0, rel=1e-3)
    long = generate("llama-3.1-8b", "h100-sxm", prompt=128, output=256, batch=256,
                    engine="vllm", overrides=over)
    assert 255 * burst.latency_s * 1e3 >= tgt.config.power.window_ms
    assert long.sampled[128] == pytest.approx(held.latency_s, rel=1e-12)
    short = generate("llama-3.1-8b", "h100-sxm", prompt=128, output=2, batch=256,
                     engine="vllm", overrides=over)
    assert burst.latency_s * 1e3 < tgt.config.power.window_ms
    assert short.sampled[128] == pytest.approx(burst.latency_s, rel=1e-12)
