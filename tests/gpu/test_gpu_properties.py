"""Hypothesis properties of the GPU model: bounded by the roofline, monotonic in
bandwidth and SMs, deterministic — for random shapes of every trace kind."""

from __future__ import annotations

from typing import Any

from gpu_rows import natural_row, one_row_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import gpu
from codesign.gpu.model import time_ops
from workloads.schema import OPS

PRESETS = gpu.names()
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

dims = st.integers(1, 8192)


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["gemm", "attention", "linear_attention", "conv1d", "router", "norm", "rope",
         "activation", "elementwise", "softmax", "reduction", "embedding", "copy"]))
    if kind == "gemm":
        dtype = draw(st.sampled_from(["bf16", "fp16", "fp8", "fp32"]))
        row = natural_row("gemm", M=draw(dims), N=draw(st.integers(1, 16384)),
                          K=draw(st.integers(1, 16384)), G=draw(st.integers(1, 64)), dtype=dtype,
                          weight_dtype=draw(st.sampled_from(["", dtype, "int8", "int4"])))
    elif kind == "attention":
        hkv = draw(st.integers(1, 8))
        sq = draw(st.integers(1, 4096))
        row = natural_row("attention", B=draw(st.integers(1, 8)), Hkv=hkv,
                          Hq=hkv * draw(st.integers(1, 8)), Sq=sq,
                          Skv=sq + draw(st.integers(0, 8192)),
                          D=draw(st.sampled_from([64, 128, 256])),
                          causal=draw(st.booleans()))
    elif kind == "linear_attention":
        chunk = draw(st.sampled_from([0, 64]))
        row = natural_row("linear_attention", B=draw(st.integers(1, 4)),
                          Hq=draw(st.integers(1, 64)),
                          Sq=draw(st.integers(1, 4096 if chunk else 4)),
                          Skv=draw(st.integers(0, 8192)), D=draw(st.sampled_from([64, 128])),
                          Dv=draw(st.sampled_from([64, 128])), chunk=chunk, dtype="fp32")
    elif kind == "conv1d":
        row = natural_row("conv1d", B=draw(st.integers(1, 8)), N=draw(st.integers(1, 16384)),
                          Sq=draw(dims), W=draw(st.integers(2, 4)))
    elif kind == "router":
        n = draw(st.integers(2, 512))
        row = natural_row("router", M=draw(dims), N=n, topk=draw(st.integers(1, min(n, 16))))
    else:
        row = natural_row(kind, M=draw(st.integers(1, 65536)), N=draw(st.integers(1, 16384)),
                          op=draw(st.sampled_from(OPS[kind])),
                          dtype=draw(st.sampled_from(["bf16", "fp32"])))
    # traces may count FLOPs and bytes more generously than the kernel's own tally
    scale = draw(st.sampled_from([1, 1, 2, 4]))
    row["flops"] *= scale
    row["bytes_read"] *= scale
    return row


def _timed(cfg: Any, row: dict[str, Any]) -> dict[str, Any]:
    return time_ops(cfg, one_row_trace(row).ops).iloc[0].to_dict()


def _independent_bound(cfg: Any, row: dict[str, Any]) -> float:
    """flops / peak and bytes / DRAM bandwidth from the preset's datasheet fields."""
    sm = cfg.sm
    per_clk = max(sm.tc_fp16_flops_per_clk, sm.tc_fp8_flops_per_clk, sm.tc_int8_ops_per_clk,
                  sm.tc_fp4_flops_per_clk)
    if row["kind"] not in ("gemm", "attention", "linear_attention"):
        per_clk = sm.fp32_flops_per_clk
    peak = sm.count * sm.clock_mhz * 1e6 * per_clk
    nbytes = row["bytes_read"] + row["bytes_written"]
    return max(row["flops"] / peak, nbytes / (cfg.memory.dram_gbps * 1e9))


@SETTINGS
@given(rows(), st.sampled_from(PRESETS))
def test_no_op_beats_its_roofline(row: dict[str, Any], preset: str) -> None:
    cfg = gpu.make(preset).config
    out = _timed(cfg, row)
    assert out["kernel_seconds"] >= out["roofline_seconds"] * (1 - 1e-9)
    assert out["kernel_seconds"] >= _independent_bound(cfg, row) * (1 - 1e-9)
    assert out["seconds"] > out["kernel_seconds"]  # launch overhead is never free


@SETTINGS
@given(rows(), st.sampled_from(PRESETS), st.floats(1.01, 4.0))
def test_more_dram_bandwidth_is_never_slower(row: dict[str, Any], preset: str,
                                             factor: float) -> None:
    base = gpu.make(preset)
    faster = gpu.make(preset, {
        "memory.dram_gbps": base.config.memory.dram_gbps * factor,
        "memory.sm_max_gbps": base.config.memory.sm_max_gbps * factor,
    })
    slow = _timed(base.config, row)["seconds"]
    assert _timed(faster.config, row)["seconds"] <= slow * (1 + 1e-12)


@SETTINGS
@given(rows(), st.sampled_from(PRESETS), st.integers(1, 200))
def test_more_sms_are_never_slower(row: dict[str, Any], preset: str, extra: int) -> None:
    base = gpu.make(preset)
    bigger = gpu.make(preset, {"sm.count": base.config.sm.count + extra})
    slow = _timed(base.config, row)["seconds"]
    assert _timed(bigger.config, row)["seconds"] <= slow * (1 + 1e-12)


@settings(max_examples=25, deadline=None)
@given(rows(), st.sampled_from(PRESETS))
def test_deterministic(row: dict[str, Any], preset: str) -> None:
    a = _timed(gpu.make(preset).config, row)
    b = _timed(gpu.make(preset).config, dict(row))
    assert a == b
