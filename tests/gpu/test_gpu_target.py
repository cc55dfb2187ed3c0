"""The GPU family in the target registry: presets, overrides, simulate -> Result."""

from __future__ import annotations

import re

import pytest
from gpu_rows import decode_trace, natural_row

from codesign import config as C
from codesign import gpu, targets
from codesign.errors import CodesignError
from codesign.result import REQUIRED_COLUMNS, Result
from workloads.schema import trace_from_rows

EXPECTED = {"a100-80gb", "h100-sxm", "h200", "l4", "rtx-4090", "jetson-agx-orin", "b200"}


def test_every_preset_is_registered() -> None:
    assert set(gpu.names()) == EXPECTED
    assert set(targets.names()) >= EXPECTED
    for name in EXPECTED:
        t = targets.resolve(name)
        assert t.family == "gpu" and t.name == name and len(t.fingerprint) == 16


@pytest.mark.parametrize(("name", "tflops", "fp32", "dram"), [
    # gpu.md §1 datasheet: dense BF16 tensor TFLOP/s, FP32 TFLOP/s, memory GB/s
    ("a100-80gb", 312, 19.5, 2039),
    ("h100-sxm", 989, 67 * 1830 / 1980, 3350),  # FP32 67 is quoted at the 1980 MHz boost
    ("h200", 989, 67 * 1830 / 1980, 4800),
    ("b200", 2250, None, 8000),
    ("l4", 121, 30.3, 300),
    ("rtx-4090", 165, 82.6, 1008),
    ("jetson-agx-orin", 42.5, 5.3, 204.8),
])
def test_presets_reproduce_the_datasheet(name: str, tflops: float, fp32: float | None,
                                         dram: float) -> None:
    cfg = gpu.make(name).config
    assert cfg.tensor_flops("bf16") / 1e12 == pytest.approx(tflops, rel=0.005)
    if fp32 is not None:
        assert cfg.fp32_flops / 1e12 == pytest.approx(fp32, rel=0.005)
    assert cfg.memory.dram_gbps == dram


def test_every_field_has_help_and_source_and_unverified_paths_exist() -> None:
    for name in EXPECTED:
        cfg, meta = gpu.preset(name)
        rows = C.describe(cfg)
        assert all(r["help"] and r["source"] for r in rows), name
        paths = {r["path"] for r in rows}
        assert set(meta.get("unverified", [])) <= paths, name
        assert meta["description"] and meta["sources"]


def test_overrides_change_the_config_and_the_fingerprint() -> None:
    base = gpu.make("h100-sxm")
    t = targets.resolve("h100-sxm", {"memory.dram_gbps": "4800", "attention.fa3.block_n": 64})
    assert t.config.memory.dram_gbps == 4800.0 and t.config.attention.fa3.block_n == 64
    assert t.fingerprint != base.fingerprint
    assert gpu.make("h100-sxm").fingerprint == base.fingerprint


@pytest.mark.parametrize(("overrides", "message"), [
    ({"memory.nope": 1}, "unknown override path 'memory.nope'; valid: memory.dram_gbps"),
    ({"memory.dram_gbps": "fast"}, "memory.dram_gbps: expected a number, got 'fast'"),
    ({"sm.count": "1.5"}, "sm.count: expected an integer"),
    ({"launch.mode": "lazy"}, "launch.mode 'lazy' is not one of: engine, eager, graph"),
    ({"memory": 1}, "is a section"),
])
def test_bad_overrides_are_one_line_errors(overrides: dict, message: str) -> None:
    with pytest.raises(CodesignError, match=re.escape(message)):
        targets.resolve("h100-sxm", overrides)


def test_unknown_target_lists_the_valid_names() -> None:
    with pytest.raises(CodesignError, match=r"unknown target 'h900'; valid: .*h100-sxm"):
        targets.resolve("h900")


def test_simulate_returns_a_result_with_latency_the_sum_of_the_ops() -> None:
    tr = decode_trace()
    res = gpu.make("h100-sxm").simulate(tr)
    assert isinstance(res, Result) and res.family == "gpu"
    assert set(REQUIRED_COLUMNS) <= set(res.ops.columns)
    assert len(res.ops) == len(tr.ops)
    assert res.latency_s == pytest.approx(res.ops["total_seconds"].sum())
    assert set(res.ops["bound"]) <= {"compute", "memory", "latency", "overhead"}
    assert (res.ops["seconds"] >= res.ops["roofline_seconds"]).all()
    assert res.summary()["tokens_per_s"] == pytest.approx(1 / res.latency_s)


def test_repeat_multiplies_and_is_not_resimulated() -> None:
    row = natural_row("gemm", M=1, N=4096, K=4096, weight_dtype="bf16")
    meta = {"model": "synthetic", "scenario": {"phase": "decode"}}
    one = gpu.make("a100-80gb").simulate(trace_from_rows([row], meta))
    many = gpu.make("a100-80gb").simulate(trace_from_rows([{**row, "repeat": 24}], meta))
    assert many.latency_s == pytest.approx(24 * one.latency_s)


def test_eager_launches_cost_more_than_graph_replay_for_decode() -> None:
    tr = decode_trace()
    # HF transformers dispatches each op from Python (~46 us, fitted): tiny decode kernels
    # leave the GPU waiting for the host
    hf = {"engine": "hf-transformers"}
    graph = gpu.make("h100-sxm", {**hf, "launch.mode": "graph"}).simulate(tr)
    eager = gpu.make("h100-sxm", {**hf, "launch.mode": "eager"}).simulate(tr)
    assert eager.latency_s > graph.latency_s
    launches = float((eager.ops["kernels"] * eager.ops["repeat"]).sum())
    assert eager.latency_s == pytest.approx(max(launches * 46.0e-6, graph.latency_s))


def test_faster_memory_speeds_up_decode_in_proportion() -> None:
    # a bandwidth-bound GEMV: H200 (4.8 TB/s) vs H100 (3.35 TB/s), same SMs
    row = natural_row("gemm", M=1, N=12288, K=4096, weight_dtype="bf16")
    meta = {"model": "synthetic", "scenario": {"phase": "decode"}}
    tr = trace_from_rows([row], meta)
    t0 = gpu.make("h100-sxm").config.launch.t0_us * 1e-6  # the fixed cost does not scale
    h100 = gpu.make("h100-sxm").simulate(tr).ops["kernel_seconds"].iloc[0] - t0
    h200 = gpu.make("h200").simulate(tr).ops["kernel_seconds"].iloc[0] - t0
    assert h100 / h200 == pytest.approx(4800 / 3350, rel=0.01)


def test_result_round_trips_through_parquet(tmp_path) -> None:
    res = gpu.make("l4").simulate(decode_trace())
    back = Result.load(res.save(tmp_path / "r.parquet"))
    assert back.latency_s == res.latency_s and back.family == "gpu"
    assert back.config["sm"]["count"] == 58
