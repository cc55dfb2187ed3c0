"""rope kernel (partial rotary, rotate-half) vs transformers' rotate_half."""

from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=10, deadline=None)
@given(m=st.integers(1, 4), half=st.integers(1, 20), rest=st.integers(0, 20),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 256]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_rope_matches_transformers(matches_reference, m, half, rest, isa, vlen, dtype):
    row = {"kind": "rope", "M": m, "N": 2 * half + rest, "K": 2 * half}
    matches_reference(row, isa, vlen, dtype)
