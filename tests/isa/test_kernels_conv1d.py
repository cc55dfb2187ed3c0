"""conv1d (causal depthwise, prefill and the rolling-state decode update) vs transformers'
causal_conv1d_fn / causal_conv1d_update."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import lower


@settings(max_examples=12, deadline=None)
@given(op=st.sampled_from(["causal_conv1d", "causal_conv1d_update"]), b=st.integers(1, 2),
       n=st.integers(1, 70), t=st.integers(1, 9), w=st.sampled_from([1, 2, 4, 6]),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 256, 512]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_conv1d_matches_transformers(matches_reference, op, b, n, t, w, isa, vlen, dtype):
    row = {"kind": "conv1d", "op": op, "B": b, "N": n, "Sq": t, "W": w}
    matches_reference(row, isa, vlen, dtype)


def test_decode_update_reads_taps_once_and_keeps_weights_in_registers():
    row = {"kind": "conv1d", "op": "causal_conv1d_update", "B": 1, "N": 8192, "Sq": 1, "W": 4}
    c = lower(row, "rvv", Core(vlen=512)).counts().by_mnemonic
    strips = 8192 // 64  # e32 m4 at VLEN=512
    assert c["vfmacc.vv"] + c["vfmul.vv"] == 4 * strips
    assert c["vse16.v"] == strips * (1 + 4)  # y + the rolled state
