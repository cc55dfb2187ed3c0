"""GPU kernel times against hand calculations from datasheet numbers (gpu.md §1, §3, §3d)."""

from __future__ import annotations

import math

import pytest
from gpu_rows import natural_row, one_row_trace

from codesign import gpu
from codesign.gpu import kernels as K
from codesign.gpu.model import time_ops

H100_BW = 3350e9  # gpu.md §1
STREAM = 0.90  # gpu.md §3
H100_TC = 132 * 4 * 1024 * 1830e6  # gpu.md §1: 989 TFLOP/s
LATENCY = 600e-9  # memory.latency_ns in the H100 preset
GEMV = 0.83  # efficiency.gemv: gpt-fast's ~1700 of 2039 GB/s on A100, the same fraction here
T0 = 7.04e-6  # launch.t0_us of the GPU config (fitted on the gpt-fast bf16 row, gpu-e2e)
KV_READ = 0.80  # efficiency.kv_read of the vLLM engine (paged KV cache)
GAP = 0.51e-6  # launch.gap_us (fitted on the H200's CUDA-graph launch chain, gpu-h200)
SM_BW = 50e9  # memory.sm_max_gbps in the H100 preset: what one CTA's stream draws


def _time(preset: str, row: dict, **overrides) -> dict:
    cfg = gpu.make(preset, overrides).config
    return time_ops(cfg, one_row_trace(row).ops).iloc[0].to_dict()


def test_decode_gemv_streams_the_weights_at_the_gemv_class_rate() -> None:
    # M=1 down-projection of a 4096 x 12288 bf16 weight: t0 + weight bytes / (BW x 0.83)
    row = natural_row("gemm", M=1, N=12288, K=4096, weight_dtype="bf16")
    weight_bytes = 2 * 4096 * 12288
    expected = T0 + weight_bytes / (H100_BW * GEMV)
    out = _time("h100-sxm", row)
    assert out["kernel_seconds"] == pytest.approx(expected, rel=0.01)
    assert out["bound"] == "memory"
    # graph mode: plus the inter-kernel gap
    assert out["seconds"] == pytest.approx(out["kernel_seconds"] + GAP, rel=1e-9)


def test_int4_weights_stream_a_quarter_of_the_bytes_plus_their_scales() -> None:
    bf16 = _time("h100-sxm", natural_row("gemm", M=1, N=12288, K=4096, weight_dtype="bf16"))
    int4 = _time("h100-sxm", natural_row("gemm", M=1, N=12288, K=4096, weight_dtype="int4"))
    # vLLM's GPTQ layout: per 128 weights one fp16 scale and a 4-bit zero (2.5 B), streamed
    # at the GEMV class's rate (on an H100 its dequantising instructions do not bind)
    per_weight = 0.5 + 2.5 / 128
    expected = (bf16["kernel_seconds"] - T0) * (per_weight / 2)
    assert int4["kernel_seconds"] - T0 == pytest.approx(expected, rel=0.02)


def test_large_gemm_is_compute_bound_with_wave_quantisation() -> None:
    # 8192^3 bf16 on H100: 128x256 tiles -> 64 x 32 = 2048 CTAs on 132 SMs -> 16 per SM.
    # One CTA: 2*128*256*8192 FLOP at (989 TFLOP/s / 132) x 0.80 (gpu.md §3), plus the two
    # DRAM round trips of its prologue and epilogue (one CTA per SM: 196 KiB of smem).
    t_cta = 2 * 128 * 256 * 8192 / (H100_TC / 132 * 0.80)
    expected = 16 * (t_cta + 2 * LATENCY)
    out = _time("h100-sxm", natural_row("gemm", M=8192, N=8192, K=8192))
    assert out["kernel_seconds"] == pytest.approx(expected, rel=0.005)
    assert out["bound"] == "compute"
    tflops = 2 * 8192**3 / out["kernel_seconds"] / 1e12
    assert 740 < tflops < 0.80 * 989  # 2048/2112 of the SMs' work slots are used


def test_big_rmsnorm_streams_in_and_out() -> None:
    M, N = 65536, 4096
    row = natural_row("norm", M=M, N=N)
    expected = T0 + 2 * M * N * 2 / (H100_BW * STREAM)
    assert _time("h100-sxm", row)["kernel_seconds"] == pytest.approx(expected, rel=0.01)


def test_flash_attention_2_plateau_from_first_principles() -> None:
    # FA2 on H100 (gpu.md §2a shape at 16k): per score, QK^T and PV cost 4*128 FLOP on
    # mma.sync at 2/3 of 989 TFLOP/s x 0.80, then one exp on the SFUs (16/clk/SM) and four
    # FP32 instructions (128 lanes/clk/SM), serialised (no overlap in FA2).
    clk, sms = 1830e6, 132
    per_score = 512 / (H100_TC * (2 / 3) * 0.80) + 1 / (sms * 16 * clk) + 4 / (sms * 128 * clk)
    S, H, D = 16384, 16, 128
    ctas = H * S // 128  # 128-row query tiles
    t_cta_sm = (S // 64) * 128 * 64 * per_score * sms  # a CTA at its SM's full rate
    # two CTAs share each SM (64 KiB of shared memory, 4 warps at 255 registers each:
    # codesign/gpu/attention_tiles.py), each at half the rate; a wave is 2 x 132 CTAs
    expected = math.ceil(ctas / (2 * sms)) * (2 * t_cta_sm + 3 * LATENCY)
    ks = K.flash_attention(gpu.make("h100-sxm").config, 1, H, H, S, S, D, False, "fp16", "fa2")
    assert len(ks) == 1
    assert ks[0].seconds == pytest.approx(expected, rel=0.002)
    assert 4 * S * S * D * H / ks[0].seconds / 1e12 == pytest.approx(364, rel=0.01)


def test_split_kv_decode_reads_the_kv_cache_once() -> None:
    B, Hq, Hkv, Skv, D = 1, 16, 4, 32768, 256
    cfg = gpu.make("h100-sxm").config
    ks = K.decode_attention(cfg, B, Hq, Hkv, 1, Skv, D)
    kv = 2 * B * Hkv * Skv * D * 2
    splits = Skv // 256
    partials = B * Hq * splits * (D + 2) * 4
    q_o = 2 * B * Hq * D * 2
    assert [k.name for k in ks] == ["splitkv_attention", "splitkv_combine"]
    # the cache at the KV-read class's rate, the rest at the streaming rate, plus t0
    expected = T0 + kv / (H100_BW * KV_READ) + (partials + q_o) / (H100_BW * STREAM)
    assert ks[0].seconds == pytest.approx(expected, rel=1e-6)
    assert ks[0].bound == "memory"


def test_launch_overhead_eager_and_graph() -> None:
    tiny = natural_row("elementwise", M=1, N=8)
    eager = _time("h100-sxm", tiny, **{"launch.mode": "eager"})
    graph = _time("h100-sxm", tiny, **{"launch.mode": "graph"})
    # a host launch of ~5 us (gpu.md §3d, the vLLM engine's value) and a one-CTA kernel
    # that is its one DRAM round trip (its share of t0, SM_BW / (BW x 0.9) of it, and its
    # 32 bytes are less): the GPU runs ahead of nothing, it waits for a slower host
    assert graph["seconds"] == pytest.approx(graph["kernel_seconds"] + GAP)
    assert T0 * SM_BW / (H100_BW * STREAM) + 32 / SM_BW < LATENCY
    assert graph["kernel_seconds"] == pytest.approx(LATENCY, rel=0.01)
    slow_host = _time("h100-sxm", tiny, **{"launch.mode": "eager",
                                           "launch.host_launch_us": 40.0})
    assert slow_host["seconds"] == pytest.approx(40.0e-6)
    assert slow_host["bound"] == "overhead"
    assert eager["seconds"] == pytest.approx(max(5.0e-6, graph["seconds"]))
    # a long kernel hides the host launch: eager costs only the gap more than the kernel
    big = natural_row("copy", M=65536, N=4096)
    e = _time("h100-sxm", big, **{"launch.mode": "eager"})
    assert e["seconds"] == pytest.approx(e["kernel_seconds"] + GAP)


def test_standard_attention_materialises_scores_in_dram() -> None:
    # eager PyTorch attention moves the S x S scores through DRAM several times; flash never
    S = 4096
    row = natural_row("attention", B=1, Hq=16, Hkv=16, Sq=S, Skv=S, D=128, dtype="fp16")
    std = _time("h100-sxm", row, **{"attention.implementation": "standard"})
    fa2 = _time("h100-sxm", row, **{"attention.implementation": "fa2"})
    score_bytes = 16 * S * S * 2
    # at least: QK^T writes them, softmax reads and writes them, PV reads them
    assert std["kernel_seconds"] > 4 * score_bytes / (H100_BW * STREAM)
    assert std["kernels"] == 6 and fa2["kernels"] == 1
    assert std["seconds"] > 2 * fa2["seconds"]


def test_causal_prefill_costs_about_half_of_non_causal() -> None:
    S = 8192
    full = natural_row("attention", B=1, Hq=16, Hkv=4, Sq=S, Skv=S, D=128)
    causal = natural_row("attention", B=1, Hq=16, Hkv=4, Sq=S, Skv=S, D=128, causal=True)
    assert causal["flops"] < 0.51 * full["flops"]
    t_full = _time("h100-sxm", full)["kernel_seconds"]
    t_causal = _time("h100-sxm", causal)["kernel_seconds"]
    assert 0.45 < t_causal / t_full < 0.56


def test_grouped_moe_gemm_reads_every_expert_weight() -> None:
    # 32 experts x (4 tokens, 4096 -> 512): memory-bound on the experts' weights
    row = natural_row("gemm", M=4, N=512, K=4096, G=32, weight_dtype="bf16")
    weights = 32 * 512 * 4096 * 2
    out = _time("h100-sxm", row)
    assert out["kernel_seconds"] >= T0 + weights / (H100_BW * GEMV)
    assert out["kernel_seconds"] == pytest.approx(T0 + weights / (H100_BW * GEMV), rel=0.15)


def test_chunked_delta_rule_is_slower_per_token_than_its_roofline_but_scales_linearly() -> None:
    def t(sq: int) -> float:
        row = natural_row("linear_attention", B=1, Hq=32, Sq=sq, Skv=0, D=128, Dv=128,
                          chunk=64)
        return _time("h100-sxm", row)["kernel_seconds"]
    # linear in tokens (chunks are sequential only within the state pass)
    assert t(16384) / t(8192) == pytest.approx(2.0, rel=0.1)


def test_fa3_is_refused_off_hopper() -> None:
    from codesign.errors import CodesignError

    with pytest.raises(CodesignError, match="Hopper only"):
        gpu.make("a100-80gb", {"attention.implementation": "fa3"})


@pytest.mark.parametrize(("Sq", "Skv", "window"), [
    (1000, 1000, 100), (1000, 1000, 0), (300, 700, 256), (64, 64, 64), (5000, 5000, 4096)])
def test_flash_attention_tiles_follow_the_sliding_window(Sq, Skv, window) -> None:
    """Iterations per query tile = KV tiles holding at least one kept (query, key) pair."""
    import numpy as np

    bm, bn = 128, 64
    q = np.arange(Skv - Sq, Skv)
    expected = []
    for t in range(math.ceil(Sq / bm)):
        rows = q[t * bm:(t + 1) * bm]
        k = np.arange(Skv)
        keep = (k[None, :] <= rows[:, None]) & (
            (k[None, :] > rows[:, None] - window) if window else True)
        tiles = {int(c) // bn for c in np.nonzero(keep.any(axis=0))[0]}
        expected.append(max(tiles) - min(tiles) + 1)
    assert K._kv_iterations(Sq, Skv, bm, bn, True, window).tolist() == expected


def test_windowed_prefill_is_cheaper_and_a_wide_window_changes_nothing() -> None:
    cfg = gpu.make("h100-sxm").config
    S, H, D = 8192, 32, 128
    full = K.flash_attention(cfg, 1, H, 8, S, S, D, True)[0].seconds
    mistral = K.flash_attention(cfg, 1, H, 8, S, S, D, True, window=4096)[0].seconds
    wide = K.flash_attention(cfg, 1, H, 8, S, S, D, True, window=S)[0].seconds
    assert wide == full
    # the kept pairs fall from S(S+1)/2 to about 3/4 of that; the tiles follow
    assert 0.70 * full < mistral < 0.80 * full
