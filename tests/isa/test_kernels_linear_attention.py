"""linear_attention (gated delta rule: recurrent decode step, chunked prefill) vs
transformers' torch_recurrent_gated_delta_rule / torch_chunk_gated_delta_rule."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import lower

ISA = st.sampled_from(["rvv", "rvv+xattn", "rvv+xattn:vfexp", "rvv+xattn:vfexpsub"])


def _row(op, b, h, t, dk, dv, chunk):
    return {"kind": "linear_attention", "op": op, "B": b, "Hq": h, "Sq": t, "Skv": 0, "D": dk,
            "Dv": dv, "chunk": chunk}


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 3), t=st.integers(1, 3),
       dk=st.integers(16, 32), dv=st.integers(16, 32), isa=ISA,
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_recurrent_step_matches_transformers(matches_reference, b, h, t, dk, dv, isa, vlen,
                                             dtype):
    matches_reference(_row("recurrent_gated_delta_rule", b, h, t, dk, dv, 0), isa, vlen, dtype)


@settings(max_examples=5, deadline=None)
@given(h=st.integers(1, 2), t=st.integers(1, 30), chunk=st.sampled_from([4, 8, 16]),
       dk=st.integers(16, 24), dv=st.integers(16, 24), isa=ISA,
       vlen=st.sampled_from([128, 256]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_chunked_prefill_matches_transformers(matches_reference, h, t, chunk, dk, dv, isa,
                                              vlen, dtype):
    # T not a multiple of the chunk: the reference pads, the kernel runs a short last chunk
    matches_reference(_row("chunk_gated_delta_rule", 1, h, t, dk, dv, chunk), isa, vlen, dtype)


def test_chunk_64_with_tail_matches_transformers(matches_reference):
    r = matches_reference(_row("chunk_gated_delta_rule", 1, 1, 70, 16, 24, 64), "rvv+xattn",
                          256, "fp32")
    assert r.worst_rel < 1e-4  # FP32 throughout; only vfexp's 1e-4 approximation remains


def test_xattn_exp_replaces_polynomials_only():
    row = _row("chunk_gated_delta_rule", 1, 2, 256, 128, 128, 64)
    rvv = lower(row, "rvv", Core()).counts()
    xa = lower(row, "rvv+xattn", Core()).counts()
    # one pairwise-decay exp per chunk row, plus the ecum/edec vectors
    assert xa.by_mnemonic["vfexpsub.vf"] >= 2 * 4 * 64
    assert "vfexp.v" in xa.by_mnemonic and "vfcvt.x.f.v" in rvv.by_mnemonic
    assert xa.by_unit["fma"] < rvv.by_unit["fma"]
    # the GEMM-like work dominates: exp is a small share of the chunked kernel
    assert 0.8 < xa.total / rvv.total < 1.0


def test_recurrent_streams_the_state_twice_and_writes_it_once():
    row = _row("recurrent_gated_delta_rule", 1, 4, 1, 128, 128, 0)
    p = lower(row, "rvv", Core(vlen=512))
    loads = sum(k * i.timing(Core().timing()).mem_bytes for i, k in p.walk()
                if i.mem is not None and i.mem.buf == "state" and i.op.startswith("vl"))
    stores = sum(k * i.timing(Core().timing()).mem_bytes for i, k in p.walk()
                 if i.mem is not None and i.mem.buf == "state" and i.op.startswith("vs"))
    state_bytes = 4 * 128 * 128 * 4
    assert loads == 2 * state_bytes and stores == state_bytes
