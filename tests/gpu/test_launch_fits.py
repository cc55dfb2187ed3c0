"""The launch mechanisms the H200 measurements brought (issue #14): the pytorch-eager
engine's host launch, the CUDA-graph gap, t0 in proportion to the stream a kernel's CTAs
draw, and FlashAttention-2's head-dim-256 rate. Each fitted constant's rows notice when it
moves (the validation can fail); host cost and gap never make anything faster; nothing
beats the roofline."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest
from gpu_rows import natural_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import gpu, targets, validate
from codesign.gpu.model import time_ops
from workloads.schema import trace_from_rows

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _cases(suite: str) -> dict[str, validate.Case]:
    return {c.name: c for c in validate.load_cases(validate.suite_file(suite))[0]}


def _value(case: validate.Case, path: str) -> float:
    value: Any = targets.resolve(case.target, case.overrides).config
    for part in path.split("."):
        value = getattr(value, part)
    return float(value)


def _error(case: validate.Case, **over: float) -> float:
    return validate.predict(dataclasses.replace(
        case, overrides={**case.overrides, **over})) / case.measured - 1


@pytest.mark.parametrize("suite", sorted({s for s, _, _ in validate.KERNEL_FITS}))
def test_the_fitted_rows_are_exactly_the_named_fitting_sets(suite):
    fitted = {n for n, c in _cases(suite).items() if c.fitted}
    assert fitted == {r for s, _, rows in validate.KERNEL_FITS + validate.POWER_FITS
                      + validate.HOST_FITS if s == suite for r in rows}


@pytest.mark.parametrize("suite,path,rows_", [
    (s, p, r) for s, ps, r in validate.KERNEL_FITS for p in ps])
def test_the_suite_notices_each_fitted_constant(suite, path, rows_):
    cases = _cases(suite)
    group = [cases[n] for n in rows_]
    assert all(abs(_error(c)) <= c.tolerance for c in group)  # the fit holds its rows
    value = _value(group[0], path)
    if "overlap" in path:  # a hidden fraction: none of it hidden, all of it
        tries = [0.0, 1.0]
    else:  # a third and three times; an efficiency at most 1 (skipped if within 5% of it)
        tries = [value / 3] + ([min(3 * value, 1.0)] if "efficiency" in path else [3 * value])
        tries = [v for v in tries if v < value or v >= value * 1.05]
    tested = 0
    for new in tries:
        tested += 1
        errors = [_error(c, **{path: new}) for c in group]
        assert any(abs(e) > c.tolerance for e, c in zip(errors, group, strict=True)), \
            (path, new, errors)
    assert tested >= 1


def test_the_h200_fits_reproduce_the_launch_chains():
    cases = _cases("gpu-h200")
    eager, graph = (cases[f"measured-h200-launch-chain-{m}"] for m in ("eager", "graph"))
    # eager: the host is the slower side, so one op costs the host launch itself
    assert _value(eager, "launch.host_launch_us") * 1e-6 == pytest.approx(eager.measured,
                                                                          rel=0.01)
    # graph: the one-CTA add is one DRAM round trip (600 ns) plus the gap
    cfg = targets.resolve(graph.target, graph.overrides).config
    assert cfg.memory.latency_ns * 1e-9 + cfg.launch.gap_us * 1e-6 == pytest.approx(
        graph.measured, rel=0.01)


# ---- properties ----------------------------------------------------------------------

@st.composite
def traces(draw: Any) -> pd.DataFrame:
    """1-4 rows of memory-bound and compute-bound kinds at decode and prefill sizes."""
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["gemm", "norm", "elementwise", "copy", "attention"]))
        if kind == "gemm":
            row = natural_row("gemm", M=draw(st.integers(1, 4096)),
                              N=draw(st.integers(1, 16384)), K=draw(st.integers(1, 8192)),
                              weight_dtype="bf16")
        elif kind == "attention":
            sq = draw(st.integers(1, 2048))
            row = natural_row("attention", B=1, Hq=16, Hkv=4, Sq=sq,
                              Skv=sq + draw(st.integers(0, 4096)),
                              D=draw(st.sampled_from([64, 128, 192, 256])),
                              causal=draw(st.booleans()))
        else:
            row = natural_row(kind, M=draw(st.integers(1, 65536)),
                              N=draw(st.integers(1, 8192)))
        rows.append(row)
    return trace_from_rows(rows, {"model": "synthetic", "scenario": {"phase": "decode"}}).ops


def _ops(preset: str, ops: pd.DataFrame, **over: Any) -> pd.DataFrame:
    return time_ops(gpu.make(preset, {"engine": "pytorch-eager", **over}).config, ops)


PRESETS = st.sampled_from(["h200", "h100-sxm", "a100-80gb", "rtx-4090"])


@SETTINGS
@given(traces(), PRESETS, st.floats(0.0, 50.0), st.floats(0.0, 50.0), st.floats(0.0, 5.0),
       st.floats(0.0, 5.0))
def test_host_cost_and_gap_never_make_a_kernel_faster(ops, preset, h1, h2, g1, g2):
    (h1, h2), (g1, g2) = sorted((h1, h2)), sorted((g1, g2))
    total = {}
    for mode in ("eager", "graph"):
        for h in (h1, h2):
            for g in (g1, g2):
                out = _ops(preset, ops, **{"launch.mode": mode, "launch.host_launch_us": h,
                                           "launch.gap_us": g})
                # every row at least its kernels' GPU time: launches only add
                assert (out["seconds"] >= out["kernel_seconds"] * (1 - 1e-12)).all()
                total[mode, h, g] = float(out["total_seconds"].sum())
    for mode in ("eager", "graph"):
        assert total[mode, h1, g2] >= total[mode, h1, g1] * (1 - 1e-12)  # more gap
    assert total["eager", h2, g1] >= total["eager", h1, g1] * (1 - 1e-12)  # slower host
    for h in (h1, h2):  # a host that issues every kernel never beats a graph replay
        assert total["eager", h, g1] >= total["graph", h, g1] * (1 - 1e-12)


@SETTINGS
@given(traces(), PRESETS, st.sampled_from(["host_gemm_us", "host_norm_us",
                                           "host_attention_us"]),
       st.floats(0.0, 60.0), st.floats(0.0, 60.0), st.sampled_from(["eager", "graph"]))
def test_more_pre_launch_host_work_is_never_faster(ops, preset, field, p1, p2, mode):
    lo, hi = sorted((p1, p2))
    out = {p: _ops(preset, ops, **{"launch.mode": mode, f"launch.{field}": p})
           for p in (lo, hi)}
    for p in (lo, hi):
        assert (out[p]["seconds"] >= out[p]["kernel_seconds"] * (1 - 1e-12)).all()
    total = {p: float(out[p]["total_seconds"].sum()) for p in (lo, hi)}
    assert total[hi] >= total[lo] * (1 - 1e-12)
    if mode == "graph":  # a graph replay has no host work per call
        assert total[hi] == total[lo]


def _roofline(cfg: Any, row: dict[str, Any]) -> float:
    """flops / the best tensor peak and bytes / DRAM bandwidth, from the datasheet fields."""
    sm = cfg.sm
    per_clk = max(sm.tc_fp16_flops_per_clk, sm.tc_fp8_flops_per_clk, sm.tc_int8_ops_per_clk,
                  sm.tc_fp4_flops_per_clk, sm.fp32_flops_per_clk)
    peak = sm.count * sm.clock_mhz * 1e6 * per_clk
    return max(row["flops"] / peak,
               (row["bytes_read"] + row["bytes_written"]) / (cfg.memory.dram_gbps * 1e9))


@SETTINGS
@given(traces(), PRESETS, st.floats(0.0, 20.0), st.floats(0.0, 20.0),
       st.floats(0.3, 1.0), st.sampled_from(["fa2", "cudnn", "triton"]))
def test_t0_and_the_head_dim_rate_never_beat_the_roofline(ops, preset, t_a, t_b, eff, impl):
    t_lo, t_hi = sorted((t_a, t_b))
    over = {"launch.mode": "graph", "attention.implementation": impl,
            f"attention.{impl}.large_hdim_efficiency": eff}
    lo = _ops(preset, ops, **over, **{"launch.t0_us": t_lo})
    hi = _ops(preset, ops, **over, **{"launch.t0_us": t_hi})
    cfg = gpu.make(preset).config
    for i, row in enumerate(ops.to_dict("records")):
        bound = _roofline(cfg, row)
        assert lo["kernel_seconds"].iloc[i] >= bound * (1 - 1e-9)
        # a larger fixed cost of a dependent launch never makes a kernel faster
        assert hi["kernel_seconds"].iloc[i] >= lo["kernel_seconds"].iloc[i] * (1 - 1e-12)


@SETTINGS
@given(st.integers(1, 8192), st.sampled_from([64, 128, 160, 192, 256]), st.booleans(),
       st.floats(0.3, 1.0), st.floats(0.3, 1.0))
def test_a_lower_head_dim_rate_is_never_faster_and_spares_head_dim_128(S, D, causal, e1, e2):
    e_lo, e_hi = sorted((e1, e2))
    row = natural_row("attention", B=1, Hq=16, Hkv=4, Sq=S, Skv=S, D=D, causal=causal)
    ops = trace_from_rows([row], {"model": "synthetic", "scenario": {"phase": "prefill"}}).ops
    t = {e: float(_ops("h200", ops, **{"attention.implementation": "fa2",
                                       "attention.fa2.large_hdim_efficiency": e})
                  ["kernel_seconds"].iloc[0]) for e in (e_lo, e_hi)}
    assert t[e_lo] >= t[e_hi] * (1 - 1e-12)
    if D <= 128:
        assert t[e_lo] == t[e_hi]


def test_fa2_head_dim_rate_interpolates_between_128_and_256():
    impl = gpu.make("h200").config.attention.fa2
    assert impl.hdim_efficiency(64) == impl.hdim_efficiency(128) == 1.0
    assert impl.hdim_efficiency(256) == impl.large_hdim_efficiency == pytest.approx(0.732)
    assert impl.hdim_efficiency(192) == pytest.approx(1 - 0.5 * (1 - 0.732))


def test_pytorch_eager_launches_every_op_alone_from_the_host():
    rows = [natural_row("norm", M=1, N=4096),
            natural_row("gemm", M=1, N=4096, K=4096, weight_dtype="bf16"),
            natural_row("gemm", M=1, N=1024, K=4096, weight_dtype="bf16"),
            natural_row("elementwise", M=1, N=4096)]
    ops = trace_from_rows(rows, {"model": "synthetic", "scenario": {"phase": "decode"}}).ops
    cfg = gpu.make("h200", {"engine": "pytorch-eager"}).phase_config("decode")
    assert cfg.launch.mode == "eager"  # in both phases
    assert cfg.launch.host_launch_us == pytest.approx(11.76)
    assert not cfg.engine.concat and not cfg.engine.absorb
    out = time_ops(cfg, ops)
    assert list(out["kernels"]) == [1, 1, 1, 1]  # no fusion: one kernel per op
    # the host issues four launches, and the norm's and the GEMMs' calls their pre-launch
    # work; the GPU's work is shorter, so the pass is the host's
    host = 4 * 11.76 + cfg.launch.host_norm_us + 2 * cfg.launch.host_gemm_us
    assert cfg.launch.host_norm_us > 0 and cfg.launch.host_gemm_us > 0
    gpu_side = float((out["kernel_seconds"] + cfg.launch.gap_us * 1e-6).sum())
    assert gpu_side + cfg.launch.host_norm_us * 1e-6 < host * 1e-6
    assert float(out["total_seconds"].sum()) == pytest.approx(host * 1e-6)
    # the slack is shared by host time: a GEMM row carries its pre-launch work beside
    # the add's plain launch
    slack = out["seconds"] - out["kernel_seconds"] - cfg.launch.gap_us * 1e-6
    assert slack.iloc[1] / slack.iloc[3] == pytest.approx(
        (11.76 + cfg.launch.host_gemm_us) / 11.76)


def test_a_lone_call_waits_for_its_pre_launch_work_then_its_kernel():
    """A GPU-bound lone GEMV: its call's pre-launch host work, then the kernel and the gap
    (the host's post-launch part overlaps the kernel); a host-bound one: the host."""
    cfg = gpu.make("h200", {"engine": "pytorch-eager"}).phase_config("decode")
    for N, K in ((8192, 4096), (128, 256)):
        row = natural_row("gemm", M=1, N=N, K=K, weight_dtype="bf16")
        ops = trace_from_rows([row], {"model": "synthetic", "scenario": {"phase": "decode"}}).ops
        out = time_ops(cfg, ops)
        kernel = float(out["kernel_seconds"].iloc[0])
        pre = cfg.launch.host_gemm_us * 1e-6
        host = cfg.launch.host_launch_us * 1e-6 + pre
        expected = max(pre + kernel + cfg.launch.gap_us * 1e-6, host)
        assert float(out["seconds"].iloc[0]) == pytest.approx(expected)
    assert kernel + cfg.launch.gap_us * 1e-6 < cfg.launch.host_launch_us * 1e-6  # small one
