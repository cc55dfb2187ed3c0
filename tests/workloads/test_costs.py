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


# ---- the FLOP count of every kind (workloads.costs.KIND_FLOPS) -------------------------
def _row(kind: str, op: str, **fields: int) -> dict:
    return {"kind": kind, "op": op, **fields}


@pytest.mark.parametrize(("row", "expected"), [
    # hand counts: a multiply-add is 2 FLOPs, an elementwise op 1 per output element
    (_row("gemm", "matmul", M=3, N=5, K=7, G=2), 2 * 2 * 3 * 5 * 7),
    (_row("gemm", "matmul", M=3, N=5, K=7, G=0), 2 * 3 * 5 * 7),  # G 0 reads as one GEMM
    ({**_row("attention", "sdpa", B=1, Hq=2, Hkv=1, Sq=4, Skv=4, D=8), "causal": True},
     4 * 2 * 8 * (1 + 2 + 3 + 4)),  # 10 kept query-key pairs per head, 2 matmuls of 2·D
    ({**_row("attention", "sdpa", B=1, Hq=2, Hkv=1, Sq=1, Skv=9, D=8), "causal": False},
     4 * 2 * 8 * 9),
    (_row("conv1d", "causal_conv1d", B=2, N=6, Sq=5, W=4), 2 * 2 * 6 * 5 * 4),
    (_row("norm", "rmsnorm", M=3, N=10), 4 * 30),
    (_row("norm", "gated_rmsnorm", M=3, N=10), 6 * 30),
    (_row("rope", "rope", M=4, N=128, K=64), 3 * 4 * 64),  # only the rotated dims
    (_row("activation", "swiglu", M=2, N=11), 2 * 22),
    (_row("activation", "silu", M=2, N=11), 22),
    (_row("elementwise", "fill", M=2, N=11), 0),
    (_row("elementwise", "add", M=2, N=11), 22),
    (_row("softmax", "softmax", M=2, N=11), 5 * 22),
    (_row("reduction", "sum", M=2, N=11), 22),
    (_row("router", "softmax_topk", M=2, N=8, topk=2), 6 * 16),
    (_row("embedding", "gather", M=2, N=11, K=100), 0),
    (_row("copy", "cast", M=2, N=11), 0),
    (_row("linear_attention", "recurrent_gated_delta_rule", B=1, Hq=2, Sq=1, D=4, Dv=8,
          chunk=0), 2 * (7 * 4 * 8 + 2 * 8)),
])
def test_each_kind_counts_its_flops_from_its_shape(row: dict, expected: int) -> None:
    assert costs.op_flops(row) == expected


def test_the_chunked_delta_rule_count_is_the_chunk_sum_and_pads_the_last_chunk() -> None:
    row = _row("linear_attention", "chunk_gated_delta_rule", B=1, Hq=1, Sq=65, D=4, Dv=8,
               chunk=64)
    one_chunk = costs.chunk_delta_rule_flops(1, 1, 64, 4, 8, 64)
    assert costs.op_flops(row) == 2 * one_chunk  # 65 tokens pad to two chunks of 64


def test_every_kind_of_the_vocabulary_has_a_flop_count_and_unknown_kinds_are_named() -> None:
    from workloads.schema import KINDS

    assert set(costs.KIND_FLOPS) == set(KINDS)
    with pytest.raises(ValueError, match=r"no FLOP count for op kind 'nope'; valid: gemm"):
        costs.op_flops({"kind": "nope"})
