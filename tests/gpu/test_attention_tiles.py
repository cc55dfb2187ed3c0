"""FlashAttention's tile per head dim and GPU, and the CTAs an SM holds (issue #17/#14):
the tables against the library's launch code, a wave count by hand, and the timing's
bounds (roofline, more SMs) with the real tiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import gpu
from codesign.errors import CodesignError
from codesign.gpu import kernels as K
from codesign.gpu.attention_tiles import attention_tile


def _cfg(preset: str, impl: str, **over: object):
    return gpu.make(preset, {"attention.implementation": impl, **over}).config


# (preset, impl, head dim, causal) -> (block_m, block_n, warps, CTAs per SM), each read
# from Dao-AILab/flash-attention 0251105a:
# FA2 csrc/flash_attn/src/flash_fwd_launch_template.h run_mha_fwd_hdim{64,128,256}:
#   hdim64 Flash_fwd_kernel_traits<64, 128, 128, 4>; hdim128 <128, 128, 64, 4> (sm80/sm90),
#   sm8x: causal <128, 64, 64, 4>, non-causal <128, 128, 32, 4> ("48 KB smem ... 2 CTAs
#   per SM"); hdim256: A100 <256, 128, 64, 8> ("128 x 64 (128KB smem)"), H100 <256, 64,
#   64, 4> ("64 x 64 (96KB smem) since then we can get 2 CTAs per SM").
# FA3 hopper/tile_size.h tile_size_fwd_sm90: hdim <= 64 {192, causal ? 128 : 192},
#   <= 128 {128, causal ? 128 : 176}, 256 {128, 80}; one producer + block_m / 64 MMA
#   warpgroups; setmaxnreg gives the MMA warpgroups the register file: one CTA per SM.
SOURCE_TABLE = [
    ("h100-sxm", "fa2", 64, True, (128, 128, 4, 2)),
    ("h100-sxm", "fa2", 128, True, (128, 64, 4, 2)),
    ("h100-sxm", "fa2", 128, False, (128, 64, 4, 2)),
    ("h100-sxm", "fa2", 256, True, (64, 64, 4, 2)),
    ("h200", "fa2", 256, False, (64, 64, 4, 2)),
    ("a100-80gb", "fa2", 256, True, (128, 64, 8, 1)),
    ("a100-80gb", "fa2", 128, True, (128, 64, 4, 2)),
    ("rtx-4090", "fa2", 128, True, (64, 64, 4, 2)),
    ("rtx-4090", "fa2", 128, False, (128, 32, 4, 2)),
    ("rtx-4090", "fa2", 256, True, (64, 64, 4, 1)),  # 96 KiB of its 100: one CTA
    ("h100-sxm", "fa3", 64, True, (192, 128, 16, 1)),
    ("h100-sxm", "fa3", 64, False, (192, 192, 16, 1)),
    ("h100-sxm", "fa3", 128, True, (128, 128, 12, 1)),
    ("h100-sxm", "fa3", 128, False, (128, 176, 12, 1)),
    ("h200", "fa3", 256, True, (128, 80, 12, 1)),
]


@pytest.mark.parametrize("preset,impl,D,causal,want", SOURCE_TABLE)
def test_tile_and_residency_follow_the_source(preset, impl, D, causal, want):
    cfg = _cfg(preset, impl)
    tile, occ = cfg.attention.impl(impl).tile(cfg.sm, D, causal)
    assert (tile.block_m, tile.block_n, tile.warps, occ) == want


def test_head_dims_round_up_as_headdim_switch_does():
    """static_switch.h HEADDIM_SWITCH: 80 runs the 96 kernel, 160 the 192 one."""
    assert attention_tile("fa2", 80, True, 0, "hopper", 228, 1, 1) == \
        attention_tile("fa2", 96, True, 0, "hopper", 228, 1, 1)
    t = attention_tile("fa2", 160, True, 0, "hopper", 228, 1, 1)
    assert (t.block_m, t.block_n, t.warps, t.smem_bytes) == (128, 64, 8, (128 + 128) * 192 * 2)


def test_hdim256_rule_reads_the_shared_memory():
    """FA2's head-dim 256 choice compares the device's shared memory with 2 x 256 x (128 +
    2 x 64) bytes (one 128 x 64 CTA) and 4 x 256 x (64 + 2 x 64) (two 64 x 64 ones): an
    H100 with A100's 164 KiB would run the A100 tile."""
    cfg = _cfg("h100-sxm", "fa2", **{"sm.smem_kb": 164.0})
    tile, occ = cfg.attention.fa2.tile(cfg.sm, 256, True)
    assert (tile.block_m, tile.block_n, tile.warps, occ) == (128, 64, 8, 1)


def test_smem_footprint_and_the_fixed_tables():
    # FA2 kernel_traits.h kSmemSize = Q + K + V tiles; FA3 Q + 2 stages of K and V
    assert attention_tile("fa2", 256, True, 0, "hopper", 228, 1, 1).smem_bytes == 96 * 1024
    assert attention_tile("fa3", 128, False, 0, "hopper", 228, 1, 1).smem_bytes == \
        (128 * 128 + 2 * 176 * 2 * 128) * 2
    cfg = _cfg("h100-sxm", "cudnn")  # no published table: the configured tile, one per SM
    tile, occ = cfg.attention.cudnn.tile(cfg.sm, 256, True)
    assert (tile.block_m, tile.block_n, occ) == (128, 128, 1)


def test_bad_table_and_head_dim_are_refused():
    with pytest.raises(CodesignError, match="'fa9' is not one of: fa2, fa3, fixed"):
        gpu.make("h100-sxm", {"attention.fa2.tiles": "fa9"})
    with pytest.raises(CodesignError, match="head dim 512"):
        attention_tile("fa2", 512, True, 0, "hopper", 228, 1, 1)


def test_wave_count_by_hand():
    """H100 SXM, FA2, head dim 256, non-causal, B = 1, 8 heads, 4096 x 4096: 64-row tiles,
    64 query tiles x 8 heads = 512 CTAs; 132 SMs x 2 = 264 resident, so 2 waves. Each CTA
    runs 4096 / 64 = 64 iterations at half its SM's rate: the busiest slot's 2 CTAs take
    2 x 64 x 2 iterations of the SM's time, plus 2 waves x 3 DRAM round trips."""
    cfg = _cfg("h100-sxm", "fa2")
    impl = cfg.attention.fa2
    [k] = K.flash_attention(cfg, 1, 8, 8, 4096, 4096, 256, causal=False, impl_name="fa2")
    t_iter = 64 * 64 * K._score_seconds(cfg, impl, 256, 256, "bf16")
    waves = math.ceil(512 / (132 * 2))
    assert waves == 2
    want = 2 * 64 * 2 * t_iter + waves * 3 * cfg.memory.latency_ns * 1e-9
    assert k.bound == "compute" and k.seconds == pytest.approx(want, rel=1e-12)


def test_two_resident_ctas_split_their_sm():
    """Forcing FA2's head-dim 128 tile to one CTA per SM (a 'fixed' 128 x 64) gives the
    same compute on a grid of whole waves: two slots at half speed do the SM's work."""
    cfg2 = _cfg("h100-sxm", "fa2")
    cfg1 = _cfg("h100-sxm", "fa2", **{"attention.fa2.tiles": "fixed",
                                      "attention.fa2.block_m": 128,
                                      "attention.fa2.block_n": 64})
    args = (1, 33, 33, 4096, 4096, 128)  # 33 heads x 32 tiles = 1056 = 8 x 132 CTAs
    [a] = K.flash_attention(cfg2, *args, causal=False, impl_name="fa2")
    [b] = K.flash_attention(cfg1, *args, causal=False, impl_name="fa2")
    lat = 3 * cfg2.memory.latency_ns * 1e-9
    assert a.seconds - 4 * lat == pytest.approx(b.seconds - 8 * lat, rel=1e-12)


def test_a_grid_under_one_cta_per_sm_runs_each_alone():
    """Llama-7B's 128-token prefill on the A100 (108 SMs): 32 heads x one 128-row tile =
    32 CTAs, which the block scheduler spreads one per SM: each at its SM's full rate,
    exactly as with one CTA per SM (not at half of it, as two sharing an SM would)."""
    fa2 = _cfg("a100-80gb", "fa2")
    one = _cfg("a100-80gb", "fa2", **{"attention.fa2.tiles": "fixed",
                                      "attention.fa2.block_m": 128,
                                      "attention.fa2.block_n": 64})
    assert fa2.attention.fa2.tile(fa2.sm, 128, True)[1] == 2
    [a] = K.flash_attention(fa2, 1, 32, 32, 128, 128, 128, True, impl_name="fa2")
    [b] = K.flash_attention(one, 1, 32, 32, 128, 128, 128, True, impl_name="fa2")
    assert a.seconds == b.seconds


shapes = st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 4),
                   st.integers(1, 4096), st.integers(0, 4096),
                   st.sampled_from([64, 96, 128, 192, 256]), st.booleans())


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from([("h100-sxm", "fa2"), ("h100-sxm", "fa3"),
                                ("a100-80gb", "fa2"), ("rtx-4090", "fa2")]))
def test_never_faster_than_the_roofline(shape, target):
    B, hkv, g, sq, extra, D, causal = shape
    cfg = _cfg(*target)
    skv = sq + extra
    [k] = K.flash_attention(cfg, B, hkv * g, hkv, sq, skv, D, causal, impl_name=target[1])
    pairs = B * hkv * g * (sq * skv - (sq * (sq - 1) // 2 if causal else 0))
    flops = 4.0 * D * pairs
    nbytes = 2.0 * (2 * B * hkv * g * sq * D + 2 * B * hkv * skv * D)
    peak = cfg.sm.count * cfg.sm.clock_mhz * 1e6 * cfg.sm.tc_fp16_flops_per_clk
    assert k.seconds >= max(flops / peak, nbytes / (cfg.memory.dram_gbps * 1e9)) * (1 - 1e-9)


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from([("h100-sxm", "fa2"), ("h100-sxm", "fa3"),
                                ("a100-80gb", "fa2")]), st.integers(1, 64))
def test_more_sms_are_never_slower(shape, target, extra):
    B, hkv, g, sq, more, D, causal = shape
    cfg = _cfg(*target)
    big = _cfg(*target, **{"sm.count": cfg.sm.count + extra})
    args = (B, hkv * g, hkv, sq, sq + more, D, causal)
    [a] = K.flash_attention(cfg, *args, impl_name=target[1])
    [b] = K.flash_attention(big, *args, impl_name=target[1])
    assert b.seconds <= a.seconds * (1 + 1e-9)
