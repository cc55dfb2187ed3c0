"""Every (kind, op) of the trace schema lowers on rvv and rvv+xattn and matches its torch
reference on a small shape (the loop-nest counts equal the executed counts)."""

import pytest
from op_cases import CASES, small_row

from isa.kernels import KERNELS
from workloads.schema import KINDS


def test_every_kind_has_a_kernel():
    assert set(KERNELS) == set(KINDS)


@pytest.mark.parametrize("isa", ["rvv", "rvv+xattn"])
@pytest.mark.parametrize(("kind", "op"), CASES, ids=[f"{k}-{o}" for k, o in CASES])
def test_op_lowers_and_matches_torch(matches_reference, kind, op, isa):
    matches_reference(small_row(kind, op), isa, 128, "fp32")
