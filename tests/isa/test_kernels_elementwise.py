"""elementwise kernels vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa.kernels.rowwise import ELT_OPS


@settings(max_examples=16, deadline=None)
@given(op=st.sampled_from(ELT_OPS), m=st.integers(1, 3), n=st.integers(1, 70),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 512]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_elementwise_matches_torch(matches_reference, op, m, n, isa, vlen, dtype):
    matches_reference({"kind": "elementwise", "op": op, "M": m, "N": n}, isa, vlen, dtype)
