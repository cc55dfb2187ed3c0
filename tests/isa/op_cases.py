"""Every (kind, op) of the trace schema with a small shape: the cases the kernel tests run
on every library (test_kernels_all_ops, and the ara and snitch libraries' fall-backs)."""

from __future__ import annotations

from typing import Any

from workloads.schema import KINDS, OPS

SMALL = {
    "gemm": {"M": 3, "N": 20, "K": 5},
    "attention": {"B": 1, "Hq": 2, "Hkv": 1, "Sq": 3, "Skv": 5, "D": 8, "causal": True},
    "linear_attention": {"B": 1, "Hq": 1, "Sq": 5, "Skv": 0, "D": 16, "Dv": 16},
    "conv1d": {"B": 1, "N": 20, "Sq": 5, "W": 4},
    "norm": {"M": 2, "N": 20},
    "rope": {"M": 2, "N": 12, "K": 8},
    "activation": {"M": 2, "N": 20},
    "elementwise": {"M": 2, "N": 20},
    "softmax": {"M": 2, "N": 20},
    "reduction": {"M": 2, "N": 20, "topk": 3},
    "router": {"M": 2, "N": 20, "topk": 4},
    "embedding": {"M": 3, "N": 20, "K": 7},
    "copy": {"M": 3, "N": 20},
}
OP_FIELDS = {"chunk_gated_delta_rule": {"chunk": 4}, "recurrent_gated_delta_rule": {"chunk": 0},
             "causal_conv1d_update": {"Sq": 1}, "pow": {"exponent": 3.0}}
CASES = [(kind, op) for kind in KINDS for op in OPS[kind]]


def small_row(kind: str, op: str) -> dict[str, Any]:
    """The trace row of ``(kind, op)`` at its small shape."""
    return {"kind": kind, "op": op, **SMALL[kind], **OP_FIELDS.get(op, {})}
