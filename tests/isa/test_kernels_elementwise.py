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


@settings(max_examples=12, deadline=None)
@given(op=st.sampled_from(["arange", "fill", "add"]), dtype=st.sampled_from(["int64", "int32"]),
       m=st.integers(1, 3), n=st.integers(1, 300), vlen=st.sampled_from([128, 512]))
def test_integer_elementwise_is_exact(matches_reference, op, dtype, m, n, vlen):
    """Position ids: arange (vid.v + vadd.vx), constant fill (vmv.v.x), add (vadd.vv)."""
    row = {"kind": "elementwise", "op": "add" if op == "add" else "fill", "M": m, "N": n,
           "dtype": dtype, "name": op, "value": 7}
    r = matches_reference(row, "rvv", vlen, "bf16")
    assert r.worst_abs == 0.0
