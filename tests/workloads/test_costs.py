"""FLOP counting conventions of workloads.costs against explicit masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads import costs


def _kept_by_mask(sq: int, skv: int, window: int) -> int:
    q = np.arange(skv - sq, skv)[:, None]  # the new queries are the last sq positions
    k = np.arange(skv)[None, :]
    keep = k <= q
    if window:
        keep &= k > q - window  # transformers' sliding_window_overlay
    return int(keep.sum())


@settings(max_examples=200, deadline=None)
@given(sq=st.integers(1, 90), extra=st.integers(0, 90), window=st.integers(0, 120))
def test_causal_pairs_equal_the_mask(sq: int, extra: int, window: int) -> None:
    assert costs.causal_pairs(sq, sq + extra, window) == _kept_by_mask(sq, sq + extra, window)


def test_windowed_attention_flops_and_the_non_causal_refusal() -> None:
    # Mistral-7B prefill of 6000 tokens, window 4096: 4096·4097/2 + 1904·4096 pairs a head
    pairs = 4096 * 4097 // 2 + (6000 - 4096) * 4096
    assert costs.attention_flops(1, 32, 6000, 6000, 128, True, 4096) == 4 * 32 * 128 * pairs
    assert costs.attention_flops(1, 32, 6000, 6000, 128, True, 6000) == \
        costs.attention_flops(1, 32, 6000, 6000, 128, True)
    with pytest.raises(ValueError, match="sliding window is causal"):
        costs.attention_flops(1, 1, 4, 4, 8, False, 2)
