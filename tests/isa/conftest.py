"""Fixtures of the isa tests; this folder's helper module (op_cases) made importable under
pytest's import mode."""

import sys
from pathlib import Path

import pytest

from isa import Core
from isa.kernels import check

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _assert_matches_reference(row, isa, vlen, dtype, seed=0):
    # check() compares with the torch reference at the dtype-justified tolerance of
    # isa.kernels.tolerance: BF16 storage rounds inputs and outputs to 8 significant bits
    # (2^-8 relative) so 1e-2 of the output's magnitude; FP32 keeps only accumulation
    # order and the vfexp (1e-4) / vfrec (2^-12) approximations, so 2e-3.
    r = check(row, isa, Core(vlen=vlen, dtype=dtype), seed=seed)
    assert r.ok, f"{row} {isa} VLEN={vlen} {dtype}: rel error {r.worst_rel} > {r.tolerance}"
    assert r.counts_match, "loop-nest counts differ from executed counts"
    return r


@pytest.fixture(scope="session")
def matches_reference():
    return _assert_matches_reference
