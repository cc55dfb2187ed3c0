"""Every (kind, op) of the trace schema lowers on rvv and rvv+xattn and matches its torch
reference on a small shape (the loop-nest counts equal the executed counts)."""

import pytest

from isa.kernels import KERNELS
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


def test_every_kind_has_a_kernel():
    assert set(KERNELS) == set(KINDS)


@pytest.mark.parametrize("isa", ["rvv", "rvv+xattn"])
@pytest.mark.parametrize(("kind", "op"), CASES, ids=[f"{k}-{o}" for k, o in CASES])
def test_op_lowers_and_matches_torch(matches_reference, kind, op, isa):
    row = {"kind": kind, "op": op, **SMALL[kind], **OP_FIELDS.get(op, {})}
    matches_reference(row, isa, 128, "fp32")
