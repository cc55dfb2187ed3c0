"""GPT-OSS attention on the GPU model (issue #13): a sliding window counts only the keys
inside it, attention sinks add their per-row softmax term and their logits' bytes (small,
counted, not dropped). Numbers against hand calculations from the preset's constants."""

from __future__ import annotations

import math

import pytest

from codesign import gpu
from codesign.gpu import kernels as K

H100_BW = 3350e9  # gpu.md §1
STREAM = 0.90  # gpu.md §3
# GPT-OSS-20B attention (transformers GptOssConfig): 64 query heads, 8 KV heads, D 64
HQ, HKV, D = 64, 8, 64


def _h100():
    return gpu.make("h100-sxm").config


def test_prefill_sinks_add_one_softmax_element_per_row_and_head() -> None:
    """Compute-bound causal prefill: the sink term is, per CTA of block_m query rows, one
    exp on the SFU and softmax_fp32_ops FP32 instructions per row (at half the FP32 FLOP
    rate: an FMA is 2 FLOP), on the busiest SM's ceil(CTAs / SMs) CTAs."""
    cfg = _h100()
    S = 8192
    plain = K.flash_attention(cfg, 1, HQ, HKV, S, S, D, True)[0]
    sinks = K.flash_attention(cfg, 1, HQ, HKV, S, S, D, True, sinks=True)[0]
    assert plain.bound == sinks.bound == "compute"
    # FA3's causal head-dim 64 tile: 192 rows (hopper/tile_size.h), one CTA per SM
    tile, occ = cfg.attention.impl(None).tile(cfg.sm, D, True)
    bm = tile.block_m
    assert (bm, occ) == (192, 1)
    clk = cfg.clock_hz
    per_row = 1 / (clk * cfg.sm.sfu_exp_per_clk) + \
        cfg.attention.softmax_fp32_ops / (clk * cfg.sm.fp32_flops_per_clk / 2)
    ctas = HQ * math.ceil(S / bm)
    assert sinks.seconds - plain.seconds == pytest.approx(
        math.ceil(ctas / cfg.sm.count) * bm * per_row, rel=1e-6)
    assert sinks.seconds < 1.001 * plain.seconds  # a term, not a pass


def test_decode_sinks_read_their_logits_and_fold_in_the_combine() -> None:
    """Memory-bound split-KV decode: the main kernel reads the Hq bf16 sink logits more
    (Hq x 2 bytes at the streaming rate); the combine kernel does the per-row sink work."""
    cfg = _h100()
    Skv = 32768
    plain = K.decode_attention(cfg, 1, HQ, HKV, 1, Skv, D)
    sinks = K.decode_attention(cfg, 1, HQ, HKV, 1, Skv, D, sinks=True)
    assert [k.name for k in sinks] == ["splitkv_attention", "splitkv_combine"]
    assert sinks[0].seconds - plain[0].seconds == pytest.approx(HQ * 2 / (H100_BW * STREAM),
                                                                rel=1e-3)
    assert sinks[1].seconds > plain[1].seconds
    # one split (no combine): the epilogue carries the sink term
    one = K.decode_attention(cfg, 1, HQ, HKV, 1, 128, D)
    one_s = K.decode_attention(cfg, 1, HQ, HKV, 1, 128, D, sinks=True)
    assert len(one_s) == 1 and one_s[0].seconds > one[0].seconds


def test_windowed_decode_streams_only_the_window() -> None:
    """Sq = 1 with a cache longer than the window: the last ``window`` keys are read, as a
    decode row whose Skv is already the sliding cache (the trace's convention)."""
    cfg = _h100()
    windowed = K.decode_attention(cfg, 1, HQ, HKV, 1, 32768, D, window=8192)
    assert windowed == K.decode_attention(cfg, 1, HQ, HKV, 1, 8192, D)
    assert windowed != K.decode_attention(cfg, 1, HQ, HKV, 1, 32768, D)
    assert K.window_keys(1, 32768, 8192) == 8192
    assert K.window_keys(4, 32768, 8192) == 8195  # the first query's window + 3 new keys
    assert K.window_keys(4, 100, 8192) == 100
    assert K.window_keys(4, 100, 0) == 100


def test_windowed_prefill_behind_a_long_cache_reads_only_its_windows() -> None:
    """256 new queries after 32512 cached tokens, window 128: the kept pairs and the keys
    read are those of a 383-key cache; without the window all 32768 keys stream."""
    from workloads.costs import attention_flops

    cfg = _h100()
    Sq, Skv, w = 256, 32768, 128
    windowed = K.flash_attention(cfg, 1, HQ, HKV, Sq, Skv, D, True, window=w)[0]
    full = K.flash_attention(cfg, 1, HQ, HKV, Sq, Skv, D, True)[0]
    # the same work as the truncated cache: kept pairs equal, time within one KV tile per
    # query tile (the window's edge falls at another tile offset)
    short = Sq + w - 1
    assert attention_flops(1, HQ, Sq, Skv, D, True, w) == \
        attention_flops(1, HQ, Sq, short, D, True, w)
    trunc = K.flash_attention(cfg, 1, HQ, HKV, Sq, short, D, True, window=w)[0]
    assert windowed.seconds == pytest.approx(trunc.seconds, rel=0.3)
    assert windowed.seconds < full.seconds / 10
    # the DRAM floor is Q, O and the 383 keys' K and V, far under the full cache's bytes
    kv_full = 2 * HKV * Skv * D * 2
    assert windowed.seconds < kv_full / (H100_BW * STREAM)


def test_eager_attention_with_sinks_copies_and_rescales_the_scores() -> None:
    """GPT-OSS's eager path: cat the sink column (read + write the scores), row max (read),
    subtract (read + write), softmax over Skv + 1 columns: at least 5 more passes over the
    Hq x Sq x (Skv + 1) bf16 scores at the streaming rate."""
    cfg = _h100()
    S = 2048
    plain = K.standard_attention(cfg, 1, HQ, HKV, S, S, D, True)
    sinks = K.standard_attention(cfg, 1, HQ, HKV, S, S, D, True, sinks=True)
    assert [k.name for k in sinks if k.name not in {k.name for k in plain}] == [
        "cat_sinks", "row_max", "sub_max"]
    extra = sum(k.seconds for k in sinks) - sum(k.seconds for k in plain)
    scores = HQ * S * (S + 1) * 2
    assert extra >= 5 * scores / (H100_BW * STREAM)
    assert extra < 5 * scores / (H100_BW * STREAM) * 1.5


@pytest.mark.parametrize("sq", [1, 2048])
def test_a_traced_row_with_sinks_and_a_window_reaches_the_kernels(sq: int) -> None:
    """The op-kind registry passes the row's sinks flag and window to the kernels: a
    decode row whose cache is longer than its window streams only the window, and a row
    with sinks costs more than the same row without."""
    from codesign import kinds
    from workloads.schema import Op
    cfg = _h100()
    row = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": HQ, "Hkv": HKV, "Sq": sq,
           "Skv": 8192, "D": D, "causal": True, "dtype": "bf16", "window": 128}

    def seconds(**over: object) -> float:
        op = Op.from_row({**row, **over})
        return sum(k.seconds for k in kinds.get("attention").gpu_kernels(cfg, op))

    assert seconds(sinks=True) > seconds(sinks=False)
    if sq == 1:
        assert seconds(window=128) < seconds(window=0)


def test_mxfp4_gemms_run_natively_on_blackwell_and_dequantised_on_hopper() -> None:
    """Issue #13: a compute-bound MXFP4 GEMM (GPT-OSS experts in prefill) multiplies at
    the FP4 tensor rate on B200 (gpu.md §1: 9000 TFLOP/s dense FP4, 2250 BF16) and at the
    BF16 rate on H100, whose tensor cores have no FP4."""
    m = n = k = 8192
    b200 = gpu.make("b200").config
    h100 = _h100()
    assert b200.tensor_flops("fp4") == pytest.approx(4 * b200.tensor_flops("bf16"))
    assert h100.tensor_flops("fp4") == h100.tensor_flops("bf16")
    for cfg, speedup in ((b200, 1.5), (h100, 1.0)):
        mx = K.gemm(cfg, m, n, k, 1, "bf16", "mxfp4").seconds
        bf = K.gemm(cfg, m, n, k, 1, "bf16").seconds
        if speedup > 1:
            assert bf / mx > speedup  # not all of the 4x: shared-memory feeds and epilogue stay
        else:
            assert mx == pytest.approx(bf, rel=0.02)  # the MMA is the same BF16 one
    flops = 2.0 * m * n * k
    assert K.gemm(b200, m, n, k, 1, "bf16", "mxfp4").seconds >= flops / b200.tensor_flops("fp4")
