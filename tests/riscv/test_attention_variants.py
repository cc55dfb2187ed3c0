"""GPT-OSS attention on the RISC-V targets (issue #13): rows with sinks and a sliding window
are simulated kernels, not roofline stand-ins, and cost what their work says."""

from __future__ import annotations

import pytest

from codesign import config as C
from codesign.riscv import make
from codesign.riscv.replay import roofline_seconds, time_op
from workloads import costs

# GPT-OSS-20B attention: 64 query heads, 8 KV heads, D 64, window 128 on alternate layers
# (transformers GptOssConfig: num_attention_heads, num_key_value_heads, head_dim,
# sliding_window)
GPT_OSS = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 64, "Hkv": 8, "D": 64,
           "G": 1, "dtype": "bf16", "causal": True, "sinks": True}


def _timed(target: str, **shape):
    cfg = make(target).config
    row = {**GPT_OSS, **shape}
    t = time_op(row, cfg, C.fingerprint(cfg))
    assert t["modelled"]
    flops = costs.attention_flops(1, 64, row["Sq"], row["Skv"], 64, True,
                                  row.get("window", 0))
    nbytes = 2 * 64 * (64 * row["Sq"] * 2 + 8 * row["Skv"] * 2)  # Q, O; K, V (bf16)
    floor = roofline_seconds(flops, nbytes, cfg, in_dram=False) * cfg.freq_hz
    assert t["cycles"] >= floor
    return t["cycles"]


@pytest.mark.parametrize("target", ["c950-like", "c950-like+xattn"])
def test_windowed_prefill_costs_a_window_not_the_triangle(target):
    """2048 queries with window 128 read 12% of the causal triangle's key pairs
    (workloads.costs.causal_pairs); the kernel, band and edge blocks included, stays well
    under the full causal cost and above its own roofline."""
    full = _timed(target, Sq=2048, Skv=2048)
    windowed = _timed(target, Sq=2048, Skv=2048, window=128)
    share = costs.causal_pairs(2048, 2048, 128) / costs.causal_pairs(2048, 2048)
    assert share < 0.13
    assert share * full < windowed < 0.35 * full


@pytest.mark.parametrize("target", ["c950-like", "c950-like+xattn"])
def test_sinks_add_a_term_not_a_pass(target):
    """A sink is one more denominator term per head: decode with sinks costs at least as
    much as without and at most 2% more."""
    plain = _timed(target, Sq=1, Skv=4097, sinks=False)
    sinks = _timed(target, Sq=1, Skv=4097)
    assert plain <= sinks <= 1.02 * plain
