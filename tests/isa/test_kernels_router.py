"""router (softmax + top-k + renormalise) and reduction topk vs torch; indices are checked
by the values they select (ties make the indices themselves ambiguous)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import lower


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(2, 70), k=st.integers(1, 4),
       isa=st.sampled_from(["rvv", "rvv+xattn", "rvv+xattn:vfexpsub"]),
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_router_matches_torch(matches_reference, m, n, k, isa, vlen, dtype):
    row = {"kind": "router", "op": "softmax_topk", "M": m, "N": n, "topk": min(k, n)}
    matches_reference(row, isa, vlen, dtype)


@settings(max_examples=8, deadline=None)
@given(m=st.integers(1, 3), n=st.integers(1, 70), k=st.integers(1, 3),
       vlen=st.sampled_from([128, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_topk_matches_torch(matches_reference, m, n, k, vlen, dtype):
    row = {"kind": "reduction", "op": "topk", "M": m, "N": n, "topk": min(k, n)}
    r = matches_reference(row, "rvv", vlen, dtype)
    assert r.worst_abs == 0.0  # selection is exact


def test_router_passes_are_k_reductions_per_token():
    row = {"kind": "router", "op": "softmax_topk", "M": 16, "N": 128, "topk": 8}
    c = lower(row, "rvv+xattn", Core(vlen=512)).counts().by_mnemonic
    assert c["vfredmax.vs"] == 16 * 8 and c["vfirst.m"] == 16 * 8
    assert c["vfexpsub.vf"] == 16  # only the 8 selected logits, one vector per token
    long = lower({**row, "N": 512}, "rvv", Core(vlen=512)).counts().by_mnemonic
    assert long["vredminu.vs"] == 16 * 8  # rows longer than one m8 group: index sweep
