"""softmax kernel (row passes, segmented short rows) vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import lower

ISA = st.sampled_from(["rvv", "rvv+xattn", "rvv+xattn:segred", "rvv+xattn:vfexpsub"])


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 90), isa=ISA,
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_softmax_matches_torch(matches_reference, m, n, isa, vlen, dtype):
    matches_reference({"kind": "softmax", "M": m, "N": n}, isa, vlen, dtype)


@settings(max_examples=6, deadline=None)
@given(m=st.integers(2, 20), logn=st.integers(1, 4), vlen=st.sampled_from([256, 512]))
def test_segmented_short_rows_match_torch(matches_reference, m, logn, vlen):
    matches_reference({"kind": "softmax", "M": m, "N": 2 ** logn}, "rvv+xattn", vlen, "bf16")


def test_xattn_replaces_exp_polynomial_and_row_reductions():
    row = {"kind": "softmax", "M": 64, "N": 16}
    rvv = lower(row, "rvv", Core()).counts()
    xa = lower(row, "rvv+xattn", Core()).counts()
    assert rvv.by_mnemonic["vfredmax.vs"] == 64 and "vfredmax.vs" not in xa.by_mnemonic
    assert xa.by_mnemonic["vfsegredmax.vv"] == 64 * 16 // 32  # 2 rows per m2 group (VLMAX 32)
    assert xa.total * 3 < rvv.total
