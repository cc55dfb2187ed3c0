"""The ``ara`` kernel library (Ara's apps/fmatmul): its GEMMs match torch in every block
fmatmul.c chooses, one shape's instruction mix is counted by hand, and every GEMM it
cannot run (and every other kind) is the ideal library's program."""

import pytest
from op_cases import CASES, small_row

from isa import Core
from isa.errors import IsaError
from isa.kernels import ara, check, lower

GEMM = {"kind": "gemm", "op": "matmul"}


def _core(**kw) -> Core:
    return Core(**{"vlen": 128, "dlen": 64, "dtype": "fp32", "library": "ara", **kw})


@pytest.mark.parametrize(("m", "want"), [
    # fmatmul.c: M <= 4: 4x4; <= 8: 8x8; <= 64: 16x16; <= 128: 8x8; else 4x4
    (1, (4, 4)), (4, (4, 4)), (5, (8, 2)), (8, (8, 2)), (9, (16, 1)), (64, (16, 1)),
    (65, (8, 2)), (128, (8, 2)), (129, (4, 4)), (256, (4, 4))])
def test_block_is_fmatmuls_choice_by_rows(m, want):
    assert ara.block_of(m) == want


@pytest.mark.parametrize(("g", "m", "n", "k", "kernel"), [
    (1, 4, 9, 2, "fmatmul_4x4"),      # one k pair: no loop, the column tail only
    (1, 8, 20, 6, "fmatmul_8x8"),     # two whole column slices and a tail of 4
    (1, 16, 4, 8, "fmatmul_16x16"),
    (2, 32, 12, 10, "fmatmul_16x16"),  # groups, two row blocks
    (1, 72, 8, 4, "fmatmul_8x8"),     # 64 < M <= 128
    (1, 132, 5, 4, "fmatmul_4x4"),    # M > 128
])
def test_fmatmul_matches_torch(g, m, n, k, kernel):
    row = {**GEMM, "G": g, "M": m, "N": n, "K": k}
    core = _core()
    prog = lower(row, "rvv", core)
    assert prog.meta["library"] == "ara" and prog.meta["kernel"] == f"ara {kernel}"
    r = check(row, "rvv", core, seed=m + n + k)
    assert r.ok, f"rel error {r.worst_rel} > {r.tolerance}"
    assert r.counts_match


def test_instruction_counts_by_hand():
    """M=8, N=20, K=6 at VLEN 128: fmatmul_8x8, LMUL 2, VLMAX 8: three column slices
    (8, 8, 4) of one 8-row block each. Per block: 8 vmv.v.i; K vle (one ahead, one per
    half-step); 8K vfmacc.vf and 8K flw (one A scalar per row and step); 8 vse;
    adds: prologue 1 (b) + 7 (a += N), per half-step (K - 1 of them) 1 (a = a_ + n)
    + 1 (b) + 7 (a += N), epilogue 7 (c += P); addi: one ++n per half-step; bne: one per
    half-step (the break check or the branch back). Around the blocks: 3 addi setting the
    pitches and N, 2 vsetvli (the tail slice's VL), the slice loop's 2 addi + bne per
    trip over the 2 whole slices."""
    row = {**GEMM, "M": 8, "N": 20, "K": 6}
    c = lower(row, "rvv", _core()).counts().by_mnemonic
    blocks, rows, k = 3, 8, 6
    halves = k - 1
    assert c == {
        "vsetvli": 2,
        "vmv.v.i": blocks * rows,
        "vle32.v": blocks * k,
        "vfmacc.vf": blocks * rows * k,
        "flw": blocks * rows * k,
        "vse32.v": blocks * rows,
        "add": blocks * ((1 + rows - 1) + halves * (2 + rows - 1) + (rows - 1)),
        "addi": 3 + blocks * halves + 2 * 2,
        "bne": blocks * halves + 2,
    }
    assert c["add"] == 180 and sum(c.values()) == 575


def test_each_vfmacc_covers_the_slice():
    """vfmacc.vf per column slice and row: K of them, at the slice's VL (LMUL 2 at VLEN
    128: 8 FP32 columns)."""
    prog = lower({**GEMM, "M": 8, "N": 20, "K": 6}, "rvv", _core())
    vls = sorted({ins.vl for ins, n in prog.walk() if n and ins.op == "vfmacc.vf"})
    assert vls == [4, 8]
    assert all(ins.vtype.lmul == 2 for ins, n in prog.walk() if n and ins.op == "vfmacc.vf")


@pytest.mark.parametrize(("row", "core"), [
    ({**GEMM, "M": 8, "N": 16, "K": 5}, _core()),    # odd K: fmatmul's loop needs it even
    ({**GEMM, "M": 6, "N": 16, "K": 4}, _core()),    # M not a multiple of the 8-row block
    ({**GEMM, "M": 8, "N": 16, "K": 4}, _core(dtype="bf16")),  # fmatmul is FP64 (FP32 here)
    ({**GEMM, "M": 8, "N": 16, "K": 128, "weight_dtype": "int8"}, _core(dtype="bf16")),
    ({"kind": "softmax", "op": "softmax", "M": 2, "N": 20}, _core()),
])
def test_what_fmatmul_cannot_run_is_the_ideal_program(row, core):
    prog = lower(row, "rvv", core)
    ideal = lower(row, "rvv", core.with_(library="ideal"))
    assert "library" not in prog.meta
    assert prog.asm() == ideal.asm()
    r = check(row, "rvv", core)
    assert r.ok and r.counts_match


def test_quantised_fp32_gemm_is_the_ideal_librarys_error():
    """fmatmul takes no quantised weights: an FP32 GEMM with int8 weights is not run as an
    FP32 fmatmul, it stops with the ideal library's error."""
    row = {**GEMM, "M": 8, "N": 16, "K": 128, "weight_dtype": "int8"}
    with pytest.raises(IsaError, match="int8 weights need BF16 activations"):
        lower(row, "rvv", _core())


def test_ideal_library_gemm_is_unchanged():
    row = {**GEMM, "M": 8, "N": 16, "K": 4}
    prog = lower(row, "rvv", _core(library="ideal"))
    assert "library" not in prog.meta and "kernel" not in prog.meta
    assert "add" not in prog.counts().by_mnemonic  # fmatmul's pointer bumps
    assert prog.asm() != lower(row, "rvv", _core()).asm()


def test_unknown_library_names_ara_among_the_valid_ones():
    with pytest.raises(IsaError, match="ideal, llamacpp, snitch, ara"):
        Core(library="blis")


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
@pytest.mark.parametrize(("kind", "op"), [c for c in CASES if c[0] != "gemm"],
                         ids=[f"{k}-{o}" for k, o in CASES if k != "gemm"])
def test_every_other_kind_is_the_ideal_program(kind, op, dtype):
    row = small_row(kind, op)
    core = _core(dtype=dtype)
    assert lower(row, "rvv", core).asm() == lower(row, "rvv", core.with_(library="ideal")).asm()
