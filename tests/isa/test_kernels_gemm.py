"""gemm kernel (GEMV, register- and cache-blocked GEMM with tails, grouped, vfwmmacc tiles)
vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core, parse_isa
from isa.kernels import lower
from isa.kernels.gemm import mmacc_plan, uses_mmacc
from isa.program import Loop

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
    p = mmacc_plan(Core(vlen=vlen), 64, 64, 64)
    row = {"kind": "gemm", "M": p.rows * mt, "N": p.cols * nt, "K": p.tile.k * kt}
    assert uses_mmacc(parse_isa("rvv+xattn"), Core(vlen=vlen), row["M"], row["N"], row["K"])
    matches_reference(row, "rvv+xattn:mmacc", vlen, "bf16")


@settings(max_examples=8, deadline=None)
@given(m=st.integers(8, 40), n=st.integers(1, 150), k=st.integers(1, 70),
       kc=st.sampled_from([16, 32]), nc=st.sampled_from([16, 64]),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 256, 512]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_cache_blocked_gemm_matches_torch(m, n, k, kc, nc, isa, vlen, dtype):
    """Several N panels and K blocks (FP32 partial sums in Cacc), with tails."""
    from isa.kernels import check
    r = check({"kind": "gemm", "M": m, "N": n, "K": k},
              isa, Core(vlen=vlen, dtype=dtype, gemm_kc=kc, gemm_nc=nc))
    assert r.ok and r.counts_match, r


@settings(max_examples=8, deadline=None)
@given(mx=st.integers(0, 20), nx=st.integers(0, 20), mb=st.integers(1, 2), nb=st.integers(1, 2),
       kt=st.integers(1, 2), vlen=st.sampled_from([128, 256, 512, 1024]),
       blocked=st.booleans())
def test_vfwmmacc_tails_match_torch(mb, nb, mx, nx, kt, vlen, blocked):
    """M, N not multiples of the C block (MoE expert token counts): whole blocks run as
    tiles, the remainder as row-partial / fewer tiles and RVV for the last columns."""
    from isa.kernels import check
    p0 = mmacc_plan(Core(vlen=vlen), 256, 256, 256)
    m, n, k = p0.rows * mb + mx, p0.cols * nb + nx, p0.tile.k * kt
    core = Core(vlen=vlen, gemm_kc=32, gemm_nc=2 * p0.cols) if blocked else Core(vlen=vlen)
    assert uses_mmacc(parse_isa("rvv+xattn"), core, m, n, k)
    p = mmacc_plan(core, m, n, k)
    r = check({"kind": "gemm", "M": m, "N": n, "K": k}, "rvv+xattn:mmacc", core)
    assert r.ok and r.counts_match, r
    prog = lower({"kind": "gemm", "M": m, "N": n, "K": k}, "rvv+xattn", core)
    c = prog.counts().by_mnemonic
    t = p.tile
    tiles = -(-m // t.m) * (n // t.n) * (k // t.k)  # every C tile, the partial ones too
    assert c["vfwmmacc.vv"] == tiles
    # RVV (one vector of columns per row and k) only for the last N mod N_t columns
    assert c.get("vfwmaccbf16.vf", 0) == (m * k if n % t.n else 0)


def test_moe_expert_token_counts_use_tiles():
    """Skewed routing gives arbitrary M: the whole-block part runs on the matrix array."""
    core = Core(vlen=512)
    for m in (37, 113):
        prog = lower({"kind": "gemm", "M": m, "N": 1024, "K": 2048}, "rvv+xattn", core)
        c = prog.counts().by_mnemonic
        assert prog.meta["b_layout"] == "Bt" and c.get("vfwmaccbf16.vf", 0) == 0
        assert c["vfwmmacc.vv"] == -(-m // 8) * (1024 // 8) * (2048 // 16)
    gemv = lower({"kind": "gemm", "M": 1, "N": 1024, "K": 2048}, "rvv+xattn", core)
    assert gemv.meta["b_layout"] == "B"  # no whole C block: RVV


def test_register_blocking_amortises_b_loads():
    p = lower({"kind": "gemm", "M": 7, "N": 64, "K": 100}, "rvv", Core(vlen=512))
    c = p.counts().by_mnemonic
    assert c["vfwmaccbf16.vf"] == 7 * 100 and c["vle16.v"] == 100  # one B row per 7 rows
    mm = lower({"kind": "gemm", "M": 64, "N": 64, "K": 64}, "rvv+xattn", Core(vlen=512))
    # VLEN=512: 8x8x16 tiles (LMUL=4) in a 2x2 block: each tile load feeds 2 multiplies
    assert mm.counts().by_unit["matrix"] == (64 // 8) * (64 // 8) * (64 // 16)
    assert mm.counts().by_mnemonic["vmtl.v"] == mm.counts().by_unit["matrix"]


def test_mmacc_plan_keeps_the_matrix_array_fed():
    """Per k step the tile loads (one row per cycle) take no longer than the multiplies."""
    from isa.instructions import lookup  # noqa: F401  (registry loaded)
    for vlen in (128, 256, 512, 1024):
        core = Core(vlen=vlen)
        p = mmacc_plan(core, 256, 256, 256)
        tp = core.timing()
        loads = (p.rows + p.cols) * max(1, -(-p.tile.k * 16 // tp.dlen))
        mm = p.bm * p.bn * max(1, p.tile.m * p.tile.n * p.tile.k // tp.mmacc_macs_per_cycle)
        assert loads <= mm and p.registers() <= 32, (vlen, p)


def _loops_around(prog, buf):
    """For every static access of ``buf``: the loop variables enclosing it."""
    out = []

    def rec(nodes, stack):
        for nd in nodes:
            if isinstance(nd, Loop):
                rec(nd.body, (*stack, nd.var))
            elif nd.mem is not None and nd.mem.buf == buf:
                out.append((stack, {v for v, _ in nd.mem.offset.terms}))
    rec(prog.body, ())
    return out


def test_b_panel_is_reused_across_m_blocks():
    """The cache blocking is visible to the memory model: inside the M loop ``i``, B's
    address does not depend on ``i`` (the panel stays in L2), and K is blocked."""
    for isa, buf in (("rvv", "B"), ("rvv+xattn", "Bt")):
        p = lower({"kind": "gemm", "M": 2048, "N": 512, "K": 4096}, isa, Core())
        acc = _loops_around(p, buf)
        assert acc and all("i" not in used for _, used in acc)
        assert any("i" in loops for loops, _ in acc)
        assert any("pc" in loops for loops, _ in acc)
        assert "Cacc" in p.buffers
    gemv = lower({"kind": "gemm", "M": 1, "N": 512, "K": 4096}, "rvv", Core())
    assert "Cacc" not in gemv.buffers  # nothing to reuse across M: not blocked
