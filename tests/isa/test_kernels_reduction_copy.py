"""reduction and copy kernels vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=10, deadline=None)
@given(op=st.sampled_from(["sum", "mean", "amax"]), m=st.integers(1, 4), n=st.integers(1, 80),
       vlen=st.sampled_from([128, 256]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_reduction_matches_torch(matches_reference, op, m, n, vlen, dtype):
    matches_reference({"kind": "reduction", "op": op, "M": m, "N": n}, "rvv", vlen, dtype)


@settings(max_examples=6, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 300), dtype=st.sampled_from(["bf16", "fp32"]))
def test_copy_is_exact(matches_reference, m, n, dtype):
    r = matches_reference({"kind": "copy", "M": m, "N": n}, "rvv+xattn", 256, dtype)
    assert r.worst_abs == 0.0
