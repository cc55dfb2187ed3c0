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
        busy = min(r["util_sm"], 1.0)  # the SMs' busy share (tested below)
        w = p.idle_w + busy * p.active_w + min(r["util_tensor"], 1.0) * p.full_tensor_w + \
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


# ---- row_power on hand-made rows (issue #17: the ML.ENERGY decode rows) ----------------

def _rows(seconds, kernel, util, nbytes):
    """Rows whose kernels fill every SM: their SMs are busy for the kernels' share."""
    import pandas as pd
    return pd.DataFrame({"seconds": seconds, "kernel_seconds": kernel,
                         "util_sm": [k / s for k, s in zip(kernel, seconds, strict=True)],
                         "util_tensor": util, "bytes": nbytes, "repeat": 1})


ROW = st.tuples(st.floats(1e-7, 1e-2), st.floats(0.0, 1.0), st.floats(0.0, 1.0),
                st.floats(0.0, 4e12))  # seconds, busy share, tensor util, DRAM bytes/s


@settings(max_examples=60, deadline=None, derandomize=True)
@given(gpu=st.sampled_from(GPUS), limit=st.floats(0.0, 1200.0), row=ROW,
       d_busy=st.floats(0.0, 1.0), d_util=st.floats(0.0, 1.0), d_bps=st.floats(0.0, 4e12))
def test_row_power_is_bounded_and_monotone_in_every_utilisation(gpu, limit, row, d_busy,
                                                                d_util, d_bps):
    from codesign.gpu.power import row_power
    cfg = targets.resolve(gpu, {"power.limit_w": limit}).config
    p = cfg.power
    s, busy, util, bps = row
    lo = row_power(_rows([s], [busy * s], [util], [bps * s]), cfg).sum(axis=1).iloc[0]
    assert min(p.idle_w, p.cap_w) * (1 - 1e-9) - 1e-9 <= lo <= p.cap_w * (1 + 1e-9)
    b2, u2 = min(busy + d_busy, 1.0), min(util + d_util, 1.0)
    hi = row_power(_rows([s], [b2 * s], [u2], [(bps + d_bps) * s]), cfg).sum(axis=1).iloc[0]
    assert hi >= lo * (1 - 1e-12) - 1e-12  # more SM time, tensor work or DRAM traffic: never less
    assert hi <= p.cap_w * (1 + 1e-9)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(kernel_share=st.floats(0.0, 1.0), util=st.floats(0.0, 1.0), bps=st.floats(0.0, 4e12))
def test_a_step_with_a_host_gap_averages_at_most_cap_while_busy_and_idle_in_the_gap(
        kernel_share, util, bps):
    """The bound behind the ML.ENERGY decode rows: a step whose host row (GPU idle) is a
    share h of its time averages at most (1 - h) x cap + h x idle, whatever its kernels."""
    from codesign.gpu.power import row_power
    cfg = targets.resolve("h100-sxm").config
    p = cfg.power
    t_k, t_h = kernel_share * 1e-2 + 1e-6, (1 - kernel_share) * 1e-2 + 1e-6
    ops = _rows([t_k, t_h], [t_k, 0.0], [util, 0.0], [bps * t_k, 0.0])
    w = row_power(ops, cfg).sum(axis=1)
    avg = float((w * ops["seconds"]).sum() / ops["seconds"].sum())
    h = t_h / (t_k + t_h)
    assert avg <= (1 - h) * p.cap_w + h * p.idle_w + 1e-9
    assert w.iloc[1] == pytest.approx(p.idle_w)  # the host row idles


def test_row_power_matches_a_hand_calculation_for_one_kernel_mix():
    """Three H100 rows worked by hand from stated constants (idle 70 W, active 500 W,
    tensor_w 600 W, HBM3 pJ/bit from codesign.silicon), as a burst (each row capped on its
    own); and the A100's derived tensor_w = 400 - 40 - 100 = 260 W."""
    from codesign.gpu.power import row_power
    cfg = targets.resolve("h100-sxm", {"power.idle_w": 70, "power.active_w": 500,
                                       "power.tensor_w": 600}).config
    pj = DRAM_PJ_PER_BIT["hbm3"]
    ops = _rows([50e-6, 10e-6, 2e-3],           # a GEMV, a dense GEMM, a host step
                [45e-6, 10e-6, 0.0],
                [0.04, 0.9, 0.0],
                [0.1e9, 0.02e9, 0.0])
    w = row_power(ops, cfg)
    gemv = 70 + 0.9 * 500 + 0.04 * 600 + 0.1e9 / 50e-6 * 8 * pj * 1e-12
    assert w.iloc[0].sum() == pytest.approx(gemv, rel=1e-12)
    raw = 70 + 500 + 0.9 * 600 + 0.02e9 / 10e-6 * 8 * pj * 1e-12  # over the TDP
    assert raw > 700
    assert w.iloc[1].sum() == pytest.approx(700.0, rel=1e-12)
    assert w.iloc[1]["tensor"] == pytest.approx(0.9 * 600 * 700 / raw, rel=1e-12)
    assert w.iloc[2].sum() == pytest.approx(70.0) and w.iloc[2]["active"] == 0
    a100 = targets.resolve("a100-80gb", {"power.tdp_w": 400, "power.idle_w": 40,
                                         "power.active_w": 100}).config
    assert a100.power.tensor_w == 0 and a100.power.full_tensor_w == pytest.approx(260.0)


@pytest.mark.parametrize("gpu", GPUS)
def test_average_power_times_latency_is_the_energy(gpu):
    res = _run(gpu, [GEMM, GEMV, GEMV])
    assert res.power_w * res.latency_s == pytest.approx(res.energy_j, rel=1e-9)
    ops = res.ops
    assert list(ops["energy_j"]) == pytest.approx(list(ops["power_w"] * ops["seconds"]),
                                                  rel=1e-9)


ELEMENTWISE = {"kind": "elementwise", "op": "add", "dtype": "bf16", "M": 1, "N": 1024,
               "flops": 1024, "bytes_read": 2048, "bytes_written": 2048}


@pytest.mark.parametrize("gpu", GPUS)
def test_a_one_cta_kernel_keeps_one_sm_busy_and_draws_its_share_of_active_power(gpu):
    """util_sm by hand: a 1024-element add is one CTA (elementwise.elems_per_cta 4096), so
    one SM of ``sm.count`` is busy for its kernel's time; the 8192^3 GEMM fills every SM."""
    cfg = targets.resolve(gpu).config
    assert cfg.elementwise.elems_per_cta >= 1024
    small, gemm = _run(gpu, [ELEMENTWISE, GEMM]).ops.iloc[:2].to_dict("records")
    assert small["util_sm"] == pytest.approx(
        small["kernel_seconds"] / small["seconds"] / cfg.sm.count, rel=1e-12)
    assert gemm["util_sm"] == pytest.approx(gemm["kernel_seconds"] / gemm["seconds"], rel=1e-12)
    p = cfg.power
    dram = small["bytes"] / small["seconds"] * 8 * DRAM_PJ_PER_BIT[p.dram_technology] * 1e-12
    assert small["power_w"] == pytest.approx(
        min(p.idle_w + small["util_sm"] * p.active_w + dram, p.cap_w), rel=1e-9)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(gpu=st.sampled_from(GPUS), n=st.integers(1, 1 << 24))
def test_the_sms_are_busy_at_most_while_kernels_run_and_at_least_one_of_them(gpu, n):
    row = {**ELEMENTWISE, "N": n, "flops": n, "bytes_read": 2 * n, "bytes_written": 2 * n}
    r = _run(gpu, [row]).ops.iloc[0]
    sms = targets.resolve(gpu).config.sm.count
    kernel = r["kernel_seconds"] / r["seconds"]
    assert kernel / sms * (1 - 1e-12) <= r["util_sm"] <= kernel * (1 + 1e-12)
