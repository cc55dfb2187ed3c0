"""GPU board power (codesign.gpu.power): idle + busy + tensor + DRAM, capped at the limit;
energy is power x time, summed over the rows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import targets
from codesign.silicon import DRAM_PJ_PER_BIT
from workloads.schema import trace_from_rows

GEMM = {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16", "M": 8192,
        "N": 8192, "K": 8192, "G": 1, "flops": 2 * 8192 ** 3,
        "bytes_read": 4 * 8192 ** 2, "bytes_written": 2 * 8192 ** 2}
GEMV = {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16", "M": 1,
        "N": 12288, "K": 4096, "G": 1, "flops": 2 * 12288 * 4096,
        "bytes_read": 2 * 12288 * 4096, "bytes_written": 2 * 12288}
GPUS = ("h100-sxm", "a100-80gb", "l4", "jetson-agx-orin", "rtx-4090")


def _run(gpu: str, rows, overrides=None):
    tr = trace_from_rows(rows, {"model": "test", "scenario": {"phase": "prefill"}})
    return targets.resolve(gpu, overrides or {}).simulate(tr)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(gpu=st.sampled_from(GPUS), limit=st.floats(0.0, 1200.0),
       rows=st.lists(st.sampled_from([GEMM, GEMV]), min_size=1, max_size=3))
def test_power_is_between_idle_and_the_cap(gpu, limit, rows):
    res = _run(gpu, rows, {"power.limit_w": limit})
    p = targets.resolve(gpu, {"power.limit_w": limit}).config.power
    assert (res.ops["power_w"] <= p.cap_w * (1 + 1e-9)).all()
    assert all(v >= 0 for v in res.energy_parts.values())
    assert res.power_w <= p.cap_w * (1 + 1e-9)
    assert res.power_w >= min(p.idle_w, p.cap_w) * (1 - 1e-9)


@pytest.mark.parametrize("gpu", GPUS)
def test_energy_is_power_times_time_summed_over_rows(gpu):
    res = _run(gpu, [GEMM, GEMV])
    cfg = targets.resolve(gpu).config
    p = cfg.power
    total = 0.0
    for _, r in res.ops.iterrows():  # independent of codesign.gpu.power
        busy = min(r["kernel_seconds"] / r["seconds"], 1.0)
        w = p.idle_w + busy * p.active_w + min(r["util_tensor"], 1.0) * \
            (p.tdp_w - p.idle_w - p.active_w) + \
            r["bytes"] / r["seconds"] * 8 * DRAM_PJ_PER_BIT[p.dram_technology] * 1e-12
        total += min(w, p.tdp_w) * r["seconds"] * r["repeat"]
    assert res.energy_j == pytest.approx(total, rel=1e-9)
    assert res.energy_j == pytest.approx(sum(res.energy_parts.values()))


def test_a_large_gemm_runs_near_the_tdp_and_a_power_limit_caps_it():
    full = _run("a100-80gb", [GEMM])
    assert full.power_w > 0.8 * 400
    capped = _run("a100-80gb", [GEMM], {"power.limit_w": 330})  # gpt-fast's A100 limit
    assert capped.power_w <= 330 * (1 + 1e-9)
    assert capped.energy_j < full.energy_j


def test_a_memory_bound_gemv_draws_less_than_a_gemm():
    assert _run("h100-sxm", [GEMV]).power_w < _run("h100-sxm", [GEMM]).power_w


def test_gpus_have_no_area():
    res = _run("h100-sxm", [GEMV])
    assert res.area_mm2 is None and res.summary()["area_mm2"] is None
