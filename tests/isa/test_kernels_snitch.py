"""The ``snitch`` kernel library (VEXP's baseline and optimized softmax): both kernels
match torch, the scalar expf's table and instruction count are checked independently,
and the library picks the VEXP kernel exactly when the ISA has vfexp."""

import numpy as np
import pytest
from op_cases import CASES, small_row

from isa import Core
from isa.errors import IsaError
from isa.executor import execute
from isa.kernels import check, lower, snitch

SOFTMAX = {"kind": "softmax", "op": "softmax"}


@pytest.mark.parametrize("isa", ["rvv", "rvv+xattn:vfexp"])
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 37), (2, 512)])
def test_softmax_matches_torch(isa, dtype, m, n):
    core = Core(vlen=64, dlen=64, dtype=dtype, library="snitch")
    r = check({**SOFTMAX, "M": m, "N": n}, isa, core, seed=m + n)
    assert r.ok, f"rel error {r.worst_rel} > {r.tolerance}"
    assert r.counts_match


def test_exp2f_table_rebuilds_powers_of_two():
    """s = bits(T[k % 32] + (k << 18)) is 2^(k/32) to FP32 for every k the clamp allows."""
    table = snitch.exp2f_table().astype(np.int64)
    k = np.arange(-4030, 4000)
    bits = (table[k % snitch.N] + (k << snitch.MANT_SHIFT)) & 0xFFFFFFFF
    s = bits.astype(np.uint32).view(np.float32).astype(np.float64)
    np.testing.assert_allclose(s, 2.0 ** (k / 32), rtol=2 ** -23)


@pytest.mark.parametrize("x", [0.0, -1e-3, -0.7, -5.25, -20.0, -87.0, 3.5])
def test_scalar_expf_is_exp(x):
    """expf on the executor against numpy's exp: FP32 rounding, plus the FP32 argument
    reduction (z = x * 32/ln2 rounds to 2^-24 of |z|, an error of |x| 2^-24 in the
    exponent; musl keeps z in double)."""
    core = Core(vlen=64, dtype="fp32", library="snitch")
    prog = lower({**SOFTMAX, "M": 1, "N": 2}, "rvv", core)
    # softmax of (x, 0) is (e^x, 1) / (1 + e^x): checks expf through the whole kernel
    y = execute(prog, {"x": np.array([[x, 0.0]])}).buffers["y"].reshape(-1)
    want = np.exp([x, 0.0]) / np.exp([x, 0.0]).sum()
    np.testing.assert_allclose(y, want, rtol=1e-6 + abs(x) * 2 ** -23)


def test_scalar_kernel_runs_one_expf_per_element():
    """The baseline's instruction mix: per element one flh in the max and exp loops, the
    max as C's compare and branch, the called 39-instruction expf (call and return, musl's
    |x| >= 88 guard on the bits of x, its 7 constants loaded per call with the 1.0, the
    64-bit table entry as two lw, RV32's stack round trips for asuint64 and asdouble in a
    frame of its own, the double conversions in and out), one fdiv.s per output."""
    m, n = 2, 9
    c = lower({**SOFTMAX, "M": m, "N": n}, "rvv", Core(vlen=64, library="snitch")).counts()
    e = m * n
    assert c.by_unit == {"scalar": c.total}  # no vector instruction at all
    assert c.by_mnemonic["fdiv.s"] == e
    assert "fmv.w.x" not in c.by_mnemonic  # RV32: no fmv.d.x, asdouble goes by memory
    assert c.by_mnemonic["fmv.x.w"] == e  # musl's top12(x) only
    assert c.by_mnemonic["lw"] == 3 * e  # asuint64(kd) and the entry's two words
    assert c.by_mnemonic["sw"] == 2 * e  # asdouble(t): both words
    assert c.by_mnemonic["fsw"] == 2 * e  # kd to the stack, each exponential stored
    assert c.by_mnemonic["jal"] == c.by_mnemonic["jalr"] == c.by_mnemonic["bgeu"] == e
    assert c.by_mnemonic["flt.s"] == c.by_mnemonic["fmax.s"] - e == e  # max loop; clamp
    # a back edge per trip of the 3 element loops and of the row loop, and one bne per
    # element guarding the max's move
    assert c.by_mnemonic["bne"] == 3 * e + m + e
    assert c.by_mnemonic["flh"] == 2 * e
    assert c.by_mnemonic["fmadd.s"] == 3 * e
    # 7 constant loads per expf, s back from the stack, the reload of each exponential;
    # -inf and 0.0 hoisted (the softmax's own constants)
    assert c.by_mnemonic["flw"] == 9 * e + 2
    # per element: 39 in expf, and the loops' own instructions as before (22)
    per_element = (c.total - m * 4) / e
    assert 39 + 20 <= per_element <= 39 + 23


def test_vexp_kernel_issues_few_instructions_per_element():
    """VEXP's kernel is vector code at SEW 16, LMUL 8 (32 BF16 per instruction at VLEN 64):
    one vfexp per strip and under one issued instruction per element (the paper: 1.5)."""
    m, n = 2, 512
    p = lower({**SOFTMAX, "M": m, "N": n}, "rvv+xattn:vfexp", Core(vlen=64, library="snitch"))
    c = p.counts()
    assert c.by_mnemonic["vfexp.v"] == m * n // 32
    assert c.total < m * n
    assert p.meta["library"] == "snitch"


def test_vexp_kernel_strips_are_frep_blocks_without_loop_code():
    """VEXP's kernel repeats its blocks with FREP: per row of 512 BF16 (16 strips of 32)
    exactly the 10 vector instructions of the three blocks per strip (max: vle, vfmax;
    exp: vle, vfsub, vfexp, vse, vfadd; norm: vle, vfmul, vse) and no integer-core loop
    code per strip: the only branch is the row loop's back edge."""
    m, n = 3, 512
    c = lower({**SOFTMAX, "M": m, "N": n}, "rvv+xattn:vfexp",
              Core(vlen=64, library="snitch")).counts()
    strips = m * n // 32
    assert c.by_mnemonic["bne"] == m
    assert c.by_mnemonic["vle16.v"] == 3 * strips
    assert c.by_mnemonic["vse16.v"] == 2 * strips
    for op in ("vfmax.vv", "vfsub.vf", "vfexp.v", "vfadd.vv", "vfmul.vf"):
        assert c.by_mnemonic[op] == strips
    assert c.by_mnemonic.get("addi", 0) <= 2 * m  # the row loop's pointer bumps only


def test_ideal_library_is_unchanged():
    p = lower({**SOFTMAX, "M": 2, "N": 20}, "rvv", Core(vlen=64))
    assert "library" not in p.meta and "(snitch" not in p.name


def test_unknown_library_names_the_valid_ones():
    with pytest.raises(IsaError, match="ideal, llamacpp, snitch"):
        Core(library="musl")


ATTN = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 2, "Hkv": 1, "D": 8}


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize(("row", "n_exp"), [
    # FA-2 prefill: one exp per score and one rescale factor per query and key block
    ({**ATTN, "Hkv": 2, "Sq": 16, "Skv": 16, "causal": False}, None),
    ({**ATTN, "Sq": 5, "Skv": 9, "causal": True}, None),
    ({**ATTN, "Sq": 1, "Skv": 20}, None),  # split-KV decode
    ({"kind": "activation", "op": "silu", "M": 2, "N": 20}, 40),  # one per element
])
def test_other_kernels_take_the_scalar_expf(dtype, row, n_exp):
    """Under the snitch library every exponential of the ideal kernels is the scalar expf,
    element by element: the kernels still match torch, with no polynomial exp left."""
    core = Core(vlen=64, dlen=64, dtype=dtype, library="snitch")
    r = check(row, "rvv", core)
    assert r.ok and r.counts_match, f"rel error {r.worst_rel} > {r.tolerance}"
    c = lower(row, "rvv", core).counts().by_mnemonic
    # per exponential one call, three lw (asuint64(kd), the entry's two words), two sw
    assert 3 * c["jal"] == c["lw"] and 2 * c["jal"] == c["sw"] and c["jal"] > 0
    assert "vfcvt.x.f.v" not in c  # the Cephes polynomial's rounding step is gone
    if n_exp is not None:
        assert c["jal"] == n_exp


def test_reserved_registers_stay_clear_of_constants_and_temporaries():
    from isa.kernels.common import Kc
    k = Kc("t", "rvv", Core(vlen=64, library="snitch"))
    top = k.reserve_f(5)
    assert [r.n for r in top] == [27, 28, 29, 30, 31]
    consts = [k.fconst(float(i)) for i in range(17)]  # f10..f26: all that is left
    assert max(r.n for r in consts) == 26
    with pytest.raises(IsaError, match="out of FP registers"):
        k.fconst(99.0)
    assert all(r.n < 27 for r in k.ftemps(9))


@pytest.mark.parametrize(("kind", "op"), CASES,
                         ids=[f"{k}-{o}" for k, o in CASES])
def test_every_kernel_lowers_under_the_library(kind, op):
    """Every (kind, op) still matches torch with the library's scalar exponentials (and
    its softmax), BF16, VLEN 128."""
    row = small_row(kind, op)
    r = check(row, "rvv", Core(vlen=128, library="snitch"))
    assert r.ok and r.counts_match, f"rel error {r.worst_rel} > {r.tolerance}"


FA2 = {"kind": "attention", "op": "sdpa", "causal": False}


@pytest.mark.parametrize("isa", ["rvv", "rvv+xattn:vfexp"])
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize("shape", [
    {"B": 1, "Hq": 2, "Hkv": 1, "Sq": 5, "Skv": 37, "D": 8},  # GQA, 2 key blocks + a tail
    {"B": 2, "Hq": 2, "Hkv": 2, "Sq": 3, "Skv": 9, "D": 40},  # 3 chunks of d: a pair + one
    {"B": 1, "Hq": 1, "Hkv": 1, "Sq": 2, "Skv": 16, "D": 1},
])
def test_fa2_matches_torch(isa, dtype, shape):
    """snitch_cluster's FA-2 (non-causal prefill) against torch's sdpa."""
    core = Core(vlen=64, dlen=64, dtype=dtype, library="snitch")
    row = {**FA2, **shape}
    r = check(row, isa, core, seed=shape["Skv"])
    assert r.ok and r.counts_match, f"rel error {r.worst_rel} > {r.tolerance}"
    assert lower(row, isa, core).meta["library"] == "snitch"


def test_fa2_gemms_are_frep_blocks_of_simd_fmas():
    """The GEMMs as FREP'd SIMD FMAs fed by SSR streams: per query row and key block, one
    widening FMA (VL <= 16 keys) per d for S and one per key and 16-wide chunk of d for
    P V, each with its one stream load (a unit-stride vle16) and no loop code of its own;
    K^T built once per key block and head (one strided load per d)."""
    b, hq, sq, skv, d = 1, 2, 3, 37, 40
    row = {**FA2, "B": b, "Hq": hq, "Hkv": 1, "Sq": sq, "Skv": skv, "D": d}
    c = lower(row, "rvv+xattn:vfexp", Core(vlen=64, dlen=64, library="snitch")).counts()
    bc = 16  # FP32 scores per LMUL-8 group at VLEN 64
    kblocks, dchunks = -(-skv // bc), -(-d // bc)
    rows = b * hq * sq
    fmas = rows * (kblocks * d + skv * dchunks)
    assert c.by_mnemonic["vfwmaccbf16.vf"] == fmas
    assert c.by_mnemonic["vle16.v"] == fmas  # one stream load per FMA
    assert c.by_mnemonic["vlse16.v"] == b * hq * kblocks * d
    assert c.by_mnemonic["vfexp.v"] == rows * kblocks * 2  # P and the rescale factor
    # loop control only outside the FMA blocks: far fewer back edges than FMAs
    assert c.by_mnemonic["bne"] < fmas / 4


@pytest.mark.parametrize("row", [
    {**ATTN, "Sq": 5, "Skv": 9, "causal": True},
    {**ATTN, "Sq": 1, "Skv": 20},
])
def test_fa2_covers_non_causal_prefill_only(row):
    """Causal prefill and decode keep the ideal kernels (with the library's expf)."""
    p = lower(row, "rvv", Core(vlen=64, library="snitch"))
    assert "(snitch FA-2)" not in p.name


def test_fa2_baseline_runs_the_c_row_loops():
    """Without vfexp the row softmax is flashattention_2's C: per score one compare and
    branch for the max and one called expf, plus one expf per row and key block for the
    rescale factor; no vector exponential or reduction."""
    b, hq, sq, skv, d = 1, 2, 3, 37, 8
    row = {**FA2, "B": b, "Hq": hq, "Hkv": 1, "Sq": sq, "Skv": skv, "D": d}
    c = lower(row, "rvv", Core(vlen=64, dlen=64, library="snitch")).counts().by_mnemonic
    rows, kblocks = b * hq * sq, -(-skv // 16)
    assert c["flt.s"] == rows * skv
    assert c["jal"] == c["lw"] // 3 == rows * (skv + kblocks)  # 3 lw per expf
    assert not {"vfredmax.vs", "vfredusum.vs", "vfexp.v"} & set(c)
