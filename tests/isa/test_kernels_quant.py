"""GEMMs with quantised B (isa.kernels.quant): packed codes + scales unpacked by RVV
sequences, executed against torch; every code of every format decoded exactly; the bytes a
kernel moves are the format's."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from isa import Core
from isa.errors import IsaError
from isa.executor import execute
from isa.kernels import check, lower
from isa.kernels.gemm import mmacc_plan
from isa.kernels.quant import FORMATS, IDEAL_FORMATS, weight_format
from isa.kernels.reference import dequantise
from workloads.schema import DTYPE_BYTES, WEIGHT_DTYPES

FMTS = sorted(IDEAL_FORMATS)  # q4_1 runs llama.cpp's kernels (tests/isa/test_kernels_ggml.py)


def _k(fmt: str, groups: int, group: int) -> int:
    """A K of ``groups`` groups (per-channel formats: any K, here a multiple of 4)."""
    f = FORMATS[fmt]
    return groups * (group if fmt == "int4" else (f.group or 4))


@settings(max_examples=24, deadline=None)
@given(fmt=st.sampled_from(FMTS), g=st.integers(1, 2), m=st.integers(1, 9),
       n=st.integers(1, 150), groups=st.integers(1, 3), group=st.sampled_from([2, 8, 32]),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 256, 512, 1024]))
# three outputs that cancel: B dequantised to BF16 (as the kernel's FMAs read it) moves
# them 1.3% of their largest; the reference rounds it too (meta b_rounded), 0.2% remains
@example(fmt="q8_0", g=1, m=3, n=1, groups=3, group=2, isa="rvv", vlen=128)
def test_quantised_gemm_matches_torch(fmt, g, m, n, groups, group, isa, vlen):
    row = {"kind": "gemm", "M": m, "N": n, "K": _k(fmt, groups, group), "G": g,
           "weight_dtype": fmt}
    r = check(row, isa, Core(vlen=vlen, weight_group=group))
    assert r.ok and r.counts_match, (row, r)


@settings(max_examples=10, deadline=None)
@given(fmt=st.sampled_from(FMTS), m=st.integers(8, 30), n=st.integers(1, 150),
       groups=st.integers(2, 6), kc=st.sampled_from([32, 64]), nc=st.sampled_from([16, 64]),
       vlen=st.sampled_from([128, 512]))
def test_cache_blocked_quantised_gemm_matches_torch(fmt, m, n, groups, kc, nc, vlen):
    """Several M blocks, N panels and K blocks (FP32 partial sums in Cacc; a per-channel
    or end scale is applied once, after the last K block)."""
    row = {"kind": "gemm", "M": m, "N": n, "K": _k(fmt, groups, 32), "weight_dtype": fmt}
    core = Core(vlen=vlen, gemm_kc=kc, gemm_nc=nc, weight_group=32)
    r = check(row, "rvv", core)
    assert r.ok and r.counts_match, (row, r)
    if row["K"] > kc:
        assert "Cacc" in lower(row, "rvv", core).buffers


@settings(max_examples=14, deadline=None)
@given(fmt=st.sampled_from(FMTS), g=st.integers(1, 2), mb=st.integers(1, 3),
       mx=st.integers(0, 9), n=st.integers(8, 140), groups=st.integers(1, 4),
       blocked=st.booleans(), vlen=st.sampled_from([128, 256, 512, 1024]))
def test_quantised_tiles_match_torch(fmt, g, mb, mx, n, groups, blocked, vlen):
    """Xattn: each (N panel, K block) of B^T is unpacked once into a BF16 scratch panel
    that the vfwmmacc tiles (and the RVV tail columns, N mod N_t) read; with cache
    blocking, several panels and K blocks (FP32 partial sums in Cacc)."""
    core = Core(vlen=vlen, weight_group=32)
    plan = mmacc_plan(core, 256, 256, 256)
    m = plan.rows * mb + mx
    k = groups * max(32, plan.tile.k)
    if blocked:
        core = core.with_(gemm_kc=max(32, plan.tile.k), gemm_nc=2 * plan.cols)
    row = {"kind": "gemm", "M": m, "N": max(n, plan.cols), "K": k, "G": g,
           "weight_dtype": fmt}
    prog = lower(row, "rvv+xattn", core)
    assert prog.meta["b_layout"] == "Bqt" and "Bp" in prog.buffers
    assert prog.counts().by_mnemonic["vfwmmacc.vv"] > 0
    # every code is read once, however many M blocks; the scales once per K block
    moved, f = _bytes_moved(prog), weight_format(fmt, core)
    codes = g * row["N"] * k * f.bits // 8
    assert moved["Bqt"] == codes
    kblocks = -(-k // core.gemm_kc) if blocked else 1
    assert g * f.nbytes(row["N"], k) - codes <= moved["Bst"] <= \
        kblocks * (g * f.nbytes(row["N"], k) - codes)
    r = check(row, "rvv+xattn", core)
    assert r.ok and r.counts_match, (row, r)


@pytest.mark.parametrize("fmt", FMTS)
def test_every_code_decodes_exactly(fmt):
    """A GEMV with A = e_k reads back row k of B: with the 256 byte values across the
    columns and unit scales, C is exactly the format's value of each code (E4M3 against
    torch.float8_e4m3fn, E2M1 against the OCP MX table; both are BF16-exact)."""
    f = FORMATS[fmt]
    group = f.group or 2
    row = {"kind": "gemm", "M": 1, "N": 256, "K": group, "weight_dtype": fmt}
    prog = lower(row, "rvv", Core(weight_group=group))
    codes = np.arange(256)
    if f.code == "e4m3":  # the two NaN codes are no weights
        codes = np.where((codes & 0x7F) == 0x7F, 0, codes)
    bq = np.tile(codes, (group // f.per_byte, 1)).astype(np.uint8).view(np.int8)[None]
    bs = (np.full((1, 1, 256), 127, np.uint8).view(np.int8) if f.scale == "e8m0"
          else np.ones((1, 1, 256)))
    want = dequantise(fmt, bq, bs)
    for k in (0, group - 1):  # low and (4-bit) high codes
        a = np.zeros((1, 1, group))
        a[0, 0, k] = 1.0
        got = execute(prog, {"A": a, "Bq": bq, "Bs": bs}).buffers["C"][0, 0]
        np.testing.assert_array_equal(got, want[0, k])
    assert len(set(want[0, 0].tolist())) >= (15 if f.bits == 4 else 250)


def _bytes_moved(prog) -> dict[str, int]:
    """Bytes the loads and stores (vector, tile and scalar) move, per buffer."""
    tp = Core(vlen=prog.vlen).timing()
    moved: dict[str, int] = {}
    for ins, count in prog.walk():
        if ins.mem is not None:
            moved[ins.mem.buf] = moved.get(ins.mem.buf, 0) + count * ins.timing(tp).mem_bytes
    return moved


@pytest.mark.parametrize("fmt", FMTS)
def test_the_kernel_moves_the_formats_bytes(fmt):
    """The B operand's loads move the packed codes plus the scales, each byte once (a
    GEMV: nothing is re-read), and nothing of a BF16 B; for the block formats exactly the
    trace's bytes per weight, for int4 its 0.5 plus one 16-bit scale per 128 weights."""
    n, k = 320, 1024
    prog = lower({"kind": "gemm", "M": 1, "N": n, "K": k, "weight_dtype": fmt}, "rvv", Core())
    moved = _bytes_moved(prog)
    weight = moved["Bq"] + moved["Bs"]
    assert weight == FORMATS[fmt].nbytes(n, k) == weight_format(fmt, Core()).nbytes(n, k)
    assert "B" not in moved and "Bt" not in moved
    scale_bytes = {"int8": 2 * n, "fp8": 2 * n, "int4": 2 * n * k // 128}.get(fmt, 0)
    assert weight == n * k * DTYPE_BYTES[fmt] + scale_bytes


def test_every_trace_weight_dtype_has_a_kernel():
    """In the ideal library, or for a format with mins (q4_1) in llama.cpp's; the ideal
    library refuses q4_1 with one line naming the formats it takes."""
    for wd in WEIGHT_DTYPES:
        row = {"kind": "gemm", "M": 1, "N": 64, "K": 128, "weight_dtype": wd}
        if wd in FORMATS and FORMATS[wd].has_min:
            with pytest.raises(IsaError, match=rf"'{wd}'.*llamacpp.*take bf16, fp16, int8"):
                lower(row, "rvv", Core())
            prog = lower(row, "rvv", Core(library="llamacpp"))
            assert "Bqt" in prog.buffers and "Bmt" in prog.buffers
            continue
        prog = lower(row, "rvv", Core())
        assert ("Bq" in prog.buffers) == (wd not in ("bf16", "fp16"))


def test_q4_1_bytes_count_the_min():
    """block_q4_1: 16 bytes of nibbles, an fp16 d and an fp16 m per 32 weights."""
    f = FORMATS["q4_1"]
    assert f.has_min and f.nbytes(64, 256) == 64 * 256 * 20 // 32
    assert f.nbytes(64, 256) == 64 * 256 * DTYPE_BYTES["q4_1"]


def test_refusals_name_the_bad_value():
    with pytest.raises(IsaError, match="K=96 is not a multiple of the int4 group of 64"):
        lower({"kind": "gemm", "M": 1, "N": 64, "K": 96, "weight_dtype": "int4"}, "rvv",
              Core(weight_group=64))
    with pytest.raises(IsaError, match=r"'int3'.*valid: bf16, fp16, .*mxfp4"):
        lower({"kind": "gemm", "M": 1, "N": 64, "K": 64, "weight_dtype": "int3"}, "rvv")
    with pytest.raises(IsaError, match="q4_0 weights need BF16 activations, got fp32"):
        lower({"kind": "gemm", "M": 1, "N": 64, "K": 64, "weight_dtype": "q4_0"}, "rvv",
              Core(dtype="fp32"))
    with pytest.raises(IsaError, match="weight_group must be an even number"):
        Core(weight_group=33)


@pytest.mark.parametrize("m", [1, 5])
def test_unpacking_work_follows_the_format(m):
    """Per 64 columns x 2 k (one byte row of 4-bit codes, two of 8-bit codes), the vector
    instructions that turn codes into BF16 rows (the RVV sequences of quant's doc), once
    for all rows of A; a GEMM (m > 1) also multiplies each unpacked row by its group's
    scales, a GEMV folds them into its partial sums once per group."""
    per_2k = {"int8": 2 * 1, "q8_0": 2 * 1, "fp8": 2 * 3, "int4": 4, "q4_0": 5, "mxfp4": 7}
    for fmt, want in per_2k.items():
        f, k = FORMATS[fmt], 1024
        prog = lower({"kind": "gemm", "M": m, "N": 64, "K": k, "weight_dtype": fmt}, "rvv",
                     Core())
        c = prog.counts().by_mnemonic
        unpack = sum(c.get(op, 0) for op in (
            "vfwcvt.f.x.v", "vsll.vi", "vsra.vi", "vxor.vx", "vsext.vf2", "vzext.vf2",
            "vand.vx", "vand.vi", "vwmul.vx"))
        scales = k // f.group if f.group else 0
        decode_scales = 2 * scales if f.scale == "e8m0" else 0  # vzext + vsll per group
        assert unpack - decode_scales == want * k // 2, fmt
        scale_rows = c.get("vfmul.vv", 0) - (m if f.per_channel else 0)
        assert scale_rows == (k // f.per_byte * f.per_byte if m > 1 and scales else 0), fmt
        assert c["vfwmaccbf16.vf"] == k * m
