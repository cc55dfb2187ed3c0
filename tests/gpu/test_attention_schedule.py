"""Causal FlashAttention tiles on the SMs: greedy list scheduling of the CTA grid, in grid
order (FA2, Triton) or longest first (FA3), and what it does to a small prefill."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_rows import natural_row
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import gpu
from codesign.gpu import kernels as K
from codesign.gpu.model import time_ops
from workloads.schema import trace_from_rows


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 200), st.booleans())
def test_the_busiest_sm_lies_within_grahams_bounds(n_q, repeats, sms, longest_first):
    iters = np.arange(1, n_q + 1, dtype=np.int64) * 2  # causal: tile i sees i + 1 blocks
    busiest = K.busiest_sm_iterations(iters, repeats, sms, longest_first)
    total = float(iters.sum()) * repeats
    # never under the average share nor the longest tile; list scheduling is within one
    # longest tile of the average (Graham 1966)
    assert busiest >= max(total / sms, float(iters.max())) * (1 - 1e-12)
    assert busiest <= total / sms + float(iters.max()) * (1 - 1 / sms) + 1e-9


def test_grid_order_leaves_a_long_tile_for_last_at_batch_1():
    """B = 1, 16 heads, 2048 causal queries in 128-row tiles of 64 keys per iteration:
    256 CTAs on 132 SMs. In grid order the last head's long tiles start last (54 blocks
    of work on the busiest SM against an average of 33); longest first packs them (34)."""
    iters = np.arange(1, 17, dtype=np.int64) * 2
    assert K.busiest_sm_iterations(iters, 16, 132) == 54
    assert K.busiest_sm_iterations(iters, 16, 132, longest_first=True) == 34
    assert float(iters.sum()) * 16 / 132 == pytest.approx(32.97, abs=0.01)


def test_fa2_causal_prefill_at_batch_1_is_slower_per_flop_than_fa3s_schedule():
    row = natural_row("attention", B=1, Hq=16, Hkv=4, Sq=2048, Skv=2048, D=256, causal=True)
    ops = trace_from_rows([row], {"model": "synthetic", "scenario": {"phase": "prefill"}}).ops
    t = {}
    for lpt in (False, True):
        cfg = gpu.make("h200", {"engine": "pytorch-eager", "launch.mode": "graph",
                                "attention.implementation": "fa2",
                                "attention.fa2.longest_first": lpt}).config
        t[lpt] = float(time_ops(cfg, ops)["kernel_seconds"].iloc[0])
    assert t[False] > 1.4 * t[True]

