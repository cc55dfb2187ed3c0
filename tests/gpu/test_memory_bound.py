"""Memory-bound kernels: t0 + bytes / (eta x BW) with eta by kernel class, quantised
weights with their group scales and zeros, and the properties the fixed costs imply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import gpu
from codesign.gpu import kernels as K
from codesign.gpu.model import engine_rows, launched_seconds
from workloads.schema import DTYPE_BYTES, WEIGHT_DTYPES


def cfg(target: str = "a100-80gb", engine: str = "vllm", **over):
    return gpu.make(target, {"engine": engine, **over}).config


def test_a_streaming_kernel_takes_t0_plus_bytes_over_eta_bw():
    c = cfg()
    n = float(1 << 30)
    k = K.stream(c, "copy", n, 0.0, ctas=None)
    assert k.bound == "memory"
    assert k.seconds == pytest.approx(c.launch.t0_us * 1e-6
                                      + n / (c.dram_bps * c.efficiency.dram_stream))
    # a one-CTA kernel pays the share of t0 its stream draws of the streaming rate, then
    # its bytes at one CTA's rate; a tiny one is its DRAM round trip (the SMs' timeline)
    sm_bw = c.memory.sm_max_gbps * 1e9
    share = sm_bw / (c.dram_bps * c.efficiency.dram_stream)
    one = K.stream(c, "copy", 1e6, 0.0, ctas=1)
    assert one.seconds == pytest.approx(c.launch.t0_us * 1e-6 * share + 1e6 / sm_bw)
    tiny = K.stream(c, "copy", 64.0, 0.0, ctas=None)
    assert tiny.seconds == pytest.approx(c.memory.latency_ns * 1e-9, rel=1e-3)
    assert tiny.seconds > 64.0 / c.dram_bps  # never under the roofline


def _gemv_floor(c, N, Kd, weight_dtype):
    """t0 + weights at the GEMV class (any format) + activations at streaming."""
    w = Kd * N * DTYPE_BYTES[weight_dtype] + c.quant.side_bytes(weight_dtype, Kd, N)
    eta_w = c.efficiency.gemv
    act = 2.0 * (Kd + N)
    return c.launch.t0_us * 1e-6 + w / (c.dram_bps * eta_w) + act / (
        c.dram_bps * c.efficiency.dram_stream)


@pytest.mark.parametrize("engine,weight_dtype", [
    ("vllm", "bf16"), ("gpt-fast", "int8"), ("gpt-fast", "int4"), ("vllm", "int4"),
    ("mlc-llm", "int4"), ("vllm", "fp8"),
])
def test_gemv_streams_weights_at_its_class_and_format_rate(engine, weight_dtype):
    c = cfg("h100-sxm", engine)
    N, Kd = 14336, 4096
    k = K.gemm(c, 1, N, Kd, 1, "bf16", weight_dtype)
    floor = _gemv_floor(c, N, Kd, weight_dtype)
    assert k.bound == "memory"
    # split-K adds its FP32 partials (a few hundred KB at most): within 2% of the floor
    assert floor <= k.seconds <= floor * 1.02


def test_quantised_formats_carry_scales_and_zeros():
    gf = cfg(engine="gpt-fast").quant  # int4 G=32, bf16 scales and zeros; int8 per channel
    assert gf.side_bytes("int4", 4096, 11008) == 4096 // 32 * 11008 * (2 + 2)
    assert gf.side_bytes("int8", 4096, 11008) == 11008 * 2
    assert gf.side_bytes("bf16", 4096, 11008) == 0
    vl = cfg(engine="vllm").quant  # GPTQ: group 128, fp16 scales, 4-bit zeros
    assert vl.side_bytes("int4", 4096, 11008) == 4096 // 128 * 11008 * 2.5
    # int4 with G=32 moves 0.5 + 4/32 bytes per weight: 25% more than its elements
    c = cfg(engine="gpt-fast")
    w4 = K.weight_stream(c, 4096, 11008, 1, "int4")[0]
    assert w4 / (4096 * 11008) == pytest.approx(0.5 + 4 / 32)


def test_int4_is_faster_than_int8_than_bf16_but_not_in_proportion_to_bytes():
    c = cfg(engine="gpt-fast")
    t = {d: K.gemm(c, 1, 11008, 4096, 1, "bf16", d).seconds for d in ("bf16", "int8", "int4")}
    assert t["int4"] < t["int8"] < t["bf16"]
    assert t["bf16"] / t["int4"] < 4.0 and t["bf16"] / t["int8"] < 2.0


def test_fp8_weights():
    c = cfg("h100-sxm")
    k8 = K.gemm(c, 1, 8192, 8192, 1, "bf16", "fp8").seconds
    k16 = K.gemm(c, 1, 8192, 8192, 1, "bf16", "bf16").seconds
    assert k8 == pytest.approx(_gemv_floor(c, 8192, 8192, "fp8"), rel=0.02)
    t0 = c.launch.t0_us * 1e-6
    assert k8 - t0 < 0.6 * (k16 - t0)  # half the bytes, at the fp8 format's rate


@pytest.mark.skipif("fp8" not in WEIGHT_DTYPES,
                    reason="fp8 weights enter the trace schema with the model-families work")
def test_weight_dtype_fp8_runs_from_the_cli(capsys):
    from codesign.cli import main

    assert main(["run", "qwen3-0.6b", "--phase", "decode", "--context", "64",
                 "--weight-dtype", "fp8", "--target", "h100-sxm"]) == 0
    assert "h100-sxm" in capsys.readouterr().out


DIMS = st.integers(1, 64).map(lambda x: 128 * x)


def _step(c, N: int, Kd: int, batch: int = 1, layers: int = 4) -> tuple[float, float]:
    """A decode step of a toy model: ``layers`` GEMVs (N x Kd) plus the engine's step;
    returns (seconds, weight bytes)."""
    k = K.gemm(c, batch, N, Kd, 1, "bf16", "bf16")
    steps = engine_rows(c, "decode", batch, 32000, 0)["seconds"].sum()
    return layers * launched_seconds(c, k.seconds) + steps, layers * 2.0 * N * Kd


@settings(max_examples=40, deadline=None)
@given(DIMS, DIMS, st.integers(1, 8), st.integers(1, 8))
def test_small_models_are_slower_per_byte_never_faster(n, k, fn, fk):
    c = gpu.make("h100-sxm", {"engine": "vllm"}).phase_config("decode")
    small_s, small_b = _step(c, n, k)
    big_s, big_b = _step(c, n * fn, k * fk)
    assert small_s / small_b >= big_s / big_b * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(DIMS, DIMS, st.integers(1, 256))
def test_more_batch_never_lowers_throughput_below_batch_1(n, k, batch):
    c = gpu.make("a100-80gb", {"engine": "vllm"}).phase_config("decode")
    one, _ = _step(c, n, k, 1)
    many, _ = _step(c, n, k, batch)
    assert batch / many >= 1 / one * (1 - 1e-9)


def _instruction_rate(c) -> float:
    """CUDA-core instructions per second the dequantising GEMV sustains (FMA = 2 FLOP)."""
    return c.sm.count * c.clock_hz * c.sm.fp32_flops_per_clk / 2 * c.efficiency.fp32_mainloop


def test_dequantising_instructions_bind_on_the_a100_not_on_the_rtx_4090():
    """gpt-fast's int4 GEMV on the A100 (64 FP32 lanes per SM against 2 TB/s) runs at its
    instructions, not its bytes; MLC's q4f16_1 GEMV on the RTX 4090 (128 lanes against
    1 TB/s) at its bytes, at the GEMV class's rate."""
    N, Kd = 11008, 4096
    a100 = cfg("a100-80gb", "gpt-fast")
    k = K.gemm(a100, 1, N, Kd, 1, "bf16", "int4")
    alu = N * Kd * a100.quant.int4_ops / _instruction_rate(a100)
    assert k.bound == "compute"
    assert alu > _gemv_floor(a100, N, Kd, "int4") - a100.launch.t0_us * 1e-6
    # the busiest SM's share: whole CTAs (86 column tiles of 128, split over K, on 108 SMs)
    assert alu <= k.seconds <= alu * 1.35
    rtx = cfg("rtx-4090", "mlc-llm")
    k = K.gemm(rtx, 1, N, Kd, 1, "bf16", "int4")
    floor = _gemv_floor(rtx, N, Kd, "int4")
    assert k.bound == "memory"
    assert floor <= k.seconds <= floor * 1.02
    assert N * Kd * rtx.quant.int4_ops / _instruction_rate(rtx) < 0.5 * floor


def test_dequantising_instructions_are_amortised_over_a_prefill_tile():
    """A 2048-token prefill dequantises each weight tile once per 128-row CTA tile: the
    int4 GEMM runs at the tensor-core rate, no slower than bf16 by more than its tiles'
    share of the instructions."""
    c = cfg("a100-80gb", "gpt-fast")
    t4 = K.gemm(c, 2048, 11008, 4096, 1, "bf16", "int4")
    t16 = K.gemm(c, 2048, 11008, 4096, 1, "bf16", "bf16")
    assert t4.bound == t16.bound == "compute"
    assert t4.seconds <= t16.seconds * 1.1


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 512), DIMS, DIMS, st.sampled_from(["int8", "int4", "fp8", "q4_0"]),
       st.floats(0.0, 20.0), st.floats(0.0, 20.0),
       st.sampled_from(["a100-80gb", "h100-sxm", "rtx-4090", "l4"]))
def test_more_dequantising_instructions_are_never_faster_nor_beat_the_roofline(
        M, N, Kd, fmt, o1, o2, target):
    lo, hi = sorted((o1, o2))
    key = {"int8": "int8_ops", "int4": "int4_ops", "fp8": "fp8_ops", "q4_0": "int4_ops"}[fmt]
    t = {o: K.gemm(cfg(target, **{f"quant.{key}": o}), M, N, Kd, 1, "bf16", fmt).seconds
         for o in (lo, hi)}
    assert t[hi] >= t[lo] * (1 - 1e-12)
    c = cfg(target)
    nbytes = K.weight_stream(c, Kd, N, 1, fmt)[0] + 2.0 * (M * Kd + M * N)
    peak = max(c.tensor_flops("bf16"), c.tensor_flops(fmt))
    assert t[lo] >= max(nbytes / c.dram_bps, 2.0 * M * N * Kd / peak) * (1 - 1e-9)

