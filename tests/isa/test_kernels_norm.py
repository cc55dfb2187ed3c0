"""norm kernels (rmsnorm, rmsnorm_1p, gated_rmsnorm, l2norm) vs torch / transformers."""

from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=12, deadline=None)
@given(op=st.sampled_from(["rmsnorm", "rmsnorm_1p", "gated_rmsnorm", "l2norm"]),
       m=st.integers(1, 4), n=st.integers(1, 80), isa=st.sampled_from(["rvv", "rvv+xattn"]),
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_norm_matches_torch(matches_reference, op, m, n, isa, vlen, dtype):
    matches_reference({"kind": "norm", "op": op, "M": m, "N": n}, isa, vlen, dtype)
