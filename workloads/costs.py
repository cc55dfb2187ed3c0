"""FLOPs of semantic ops from their shape fields (the counting conventions of the trace).

Conventions (the ones FLOP counters such as fvcore and torch.utils.flop_counter use):
a multiply-add is 2 FLOPs; an elementwise or activation op is 1 FLOP per output element
(SwiGLU 2: the SiLU and the product); a reduction is 1 FLOP per input element.
Normalisations and softmax count the arithmetic per element of their textbook form.

:data:`KIND_FLOPS` holds, for every kind of the trace's vocabulary, the FLOPs of one
instance from its row's shape fields; the extractor fills every row's ``flops`` from it
(:func:`op_flops`), and a kind new to the vocabulary brings its own
(``workloads.schema.register_kind(..., flops=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workloads.errors import WorkloadError

# Per-element FLOPs of row-wise ops (textbook form; see each comment).
NORM_FLOPS_PER_ELEMENT = {
    "rmsnorm": 4,  # square, accumulate, scale by rsqrt, multiply by the weight
    "rmsnorm_1p": 5,  # as rmsnorm, plus the (1 + w) add
    "gated_rmsnorm": 6,  # rmsnorm, then x * silu(z): silu and the product
    "l2norm": 3,  # square, accumulate, scale by rsqrt
}
SOFTMAX_FLOPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide
ROUTER_FLOPS_PER_ELEMENT = 6  # softmax (5) + top-k compare (1); renormalising k values is O(k)
ROPE_FLOPS_PER_ROTATED_ELEMENT = 3  # x*cos + rotate_half(x)*sin: 2 multiplies and an add


def causal_pairs(sq: int, skv: int, window: int = 0) -> int:
    """Query-key pairs a causal mask keeps: query i (of sq, the last sq of skv positions)
    sees the skv - sq cached positions and the new ones up to itself; with a sliding
    ``window`` > 0, only itself and the window - 1 positions before it."""
    if window <= 0:
        return sq * (skv - sq) + sq * (sq + 1) // 2

    def seen_by_first(n: int) -> int:  # the queries at positions 0..n-1 see min(p+1, w) each
        w = min(n, window)
        return w * (w + 1) // 2 + (n - w) * window

    return seen_by_first(skv) - seen_by_first(skv - sq)


def attention_flops(b: int, hq: int, sq: int, skv: int, d: int, causal: bool,
                    window: int = 0) -> int:
    """QK^T and PV: 2 matmuls of 2·D FLOPs per kept query-key pair and head. A sliding
    ``window`` is causal by definition (``causal`` False with a window is refused)."""
    if window > 0 and not causal:
        raise ValueError("a sliding window is causal; got causal=False with a window")
    pairs = causal_pairs(sq, skv, window) if causal else sq * skv
    return 4 * b * hq * d * pairs


def chunk_delta_rule_flops(b: int, h: int, t: int, dk: int, dv: int, chunk: int) -> int:
    """The chunked gated delta rule (transformers' ``torch_chunk_gated_delta_rule``).

    Per chunk of C tokens and head: K_beta·K^T and Q·K^T (2·C²·Dk each); two unit-lower
    triangular solves with C×C systems (C²·Dv and C²·Dk); then per chunk against the
    Dk×Dv state: K_cumdecay·S, Q·S and K^T·V_new (2·C·Dk·Dv each) and intra·V_new (2·C²·Dv).
    """
    c = chunk
    n_chunks = -(-t // c)  # T is padded up to a multiple of the chunk length
    per_chunk = 4 * c * c * dk + c * c * (dv + dk) + 6 * c * dk * dv + 2 * c * c * dv
    return b * h * n_chunks * per_chunk


def recurrent_delta_rule_flops(b: int, h: int, t: int, dk: int, dv: int) -> int:
    """One recurrent step per token (``torch_recurrent_gated_delta_rule``): decay S (Dk·Dv),
    S·k (2·Dk·Dv), the delta (2·Dv), the rank-1 update (2·Dk·Dv) and S·q (2·Dk·Dv)."""
    return b * h * t * (7 * dk * dv + 2 * dv)


# ---- FLOPs of one instance of each kind, from its row's shape fields ------------------
Row = Mapping[str, Any]
FlopCount = Callable[[Row], int]


def _rows(r: Row) -> int:  # the M x N kinds: rows of length N
    return int(r["M"]) * int(r["N"])


def _gemm(r: Row) -> int:
    return 2 * max(int(r.get("G", 1)), 1) * int(r["M"]) * int(r["N"]) * int(r["K"])


def _attention(r: Row) -> int:
    return attention_flops(int(r["B"]), int(r["Hq"]), int(r["Sq"]), int(r["Skv"]),
                           int(r["D"]), bool(r.get("causal", False)), int(r.get("window", 0)))


def _linear_attention(r: Row) -> int:
    """The chunked algorithm when ``chunk`` > 0 (prefill), else the recurrent step."""
    b, h, t, dk, dv = (int(r[f]) for f in ("B", "Hq", "Sq", "D", "Dv"))
    chunk = int(r.get("chunk", 0))
    if chunk > 0:
        return chunk_delta_rule_flops(b, h, t, dk, dv, chunk)
    return recurrent_delta_rule_flops(b, h, t, dk, dv)


KIND_FLOPS: dict[str, FlopCount] = {
    "gemm": _gemm,
    "attention": _attention,
    "linear_attention": _linear_attention,
    "conv1d": lambda r: 2 * int(r["B"]) * int(r["N"]) * int(r["Sq"]) * int(r["W"]),
    "norm": lambda r: NORM_FLOPS_PER_ELEMENT[str(r["op"])] * _rows(r),
    "rope": lambda r: ROPE_FLOPS_PER_ROTATED_ELEMENT * int(r["M"]) * int(r["K"]),
    "activation": lambda r: (2 if r["op"] == "swiglu" else 1) * _rows(r),
    "elementwise": lambda r: 0 if r["op"] == "fill" else _rows(r),
    "softmax": lambda r: SOFTMAX_FLOPS_PER_ELEMENT * _rows(r),
    "reduction": _rows,
    "router": lambda r: ROUTER_FLOPS_PER_ELEMENT * _rows(r),
    "embedding": lambda r: 0,  # a gather
    "copy": lambda r: 0,
}


def op_flops(row: Row) -> int:
    """FLOPs of one instance of a trace row (a dict or a ``workloads.schema.Op``) from its
    kind and shape fields."""
    count = KIND_FLOPS.get(str(row["kind"]))
    if count is None:
        raise WorkloadError(f"no FLOP count for op kind {row['kind']!r}; valid: "
                            f"{', '.join(KIND_FLOPS)}")
    return count(row)
