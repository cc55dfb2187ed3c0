"""activation kernels (silu, swiglu, sigmoid, relu, softplus, gelu) vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa.kernels.rowwise import ACT_OPS


@settings(max_examples=16, deadline=None)
@given(op=st.sampled_from(ACT_OPS), m=st.integers(1, 3),
       n=st.integers(1, 70), isa=st.sampled_from(["rvv", "rvv+xattn", "rvv+xattn:vfexp"]),
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_activation_matches_torch(matches_reference, op, m, n, isa, vlen, dtype):
    matches_reference({"kind": "activation", "op": op, "M": m, "N": n}, isa, vlen, dtype)
