"""gemm kernel (GEMV, register-blocked GEMM with tails, grouped, vfwmmacc tiles) vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core, parse_isa
from isa.kernels import lower
from isa.kernels.gemm import uses_mmacc

ISA = st.sampled_from(["rvv", "rvv+xattn"])


@settings(max_examples=12, deadline=None)
@given(g=st.integers(1, 2), m=st.integers(1, 9), n=st.integers(1, 70), k=st.integers(1, 6),
       isa=ISA, vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_gemm_matches_torch(matches_reference, g, m, n, k, isa, vlen, dtype):
    matches_reference({"kind": "gemm", "M": m, "N": n, "K": k, "G": g}, isa, vlen, dtype)


@settings(max_examples=6, deadline=None)
@given(mt=st.integers(1, 2), nt=st.integers(1, 2), kt=st.integers(1, 3),
       vlen=st.sampled_from([128, 256, 512]))
def test_vfwmmacc_tiles_match_torch(matches_reference, mt, nt, kt, vlen):
    from isa import tile_geometry
    t = tile_geometry(vlen, 1)
    row = {"kind": "gemm", "M": 2 * t.m * mt, "N": 2 * t.n * nt, "K": t.k * kt}
    assert uses_mmacc(parse_isa("rvv+xattn"), Core(vlen=vlen), row["M"], row["N"], row["K"])
    matches_reference(row, "rvv+xattn:mmacc", vlen, "bf16")


def test_register_blocking_amortises_b_loads():
    p = lower({"kind": "gemm", "M": 7, "N": 64, "K": 100}, "rvv", Core(vlen=512))
    c = p.counts().by_mnemonic
    assert c["vfwmaccbf16.vf"] == 7 * 100 and c["vle16.v"] == 100  # one B row per 7 rows
    mm = lower({"kind": "gemm", "M": 64, "N": 64, "K": 64}, "rvv+xattn", Core(vlen=512))
    assert mm.counts().by_unit["matrix"] == (64 // 4) * (64 // 4) * (64 // 8)
