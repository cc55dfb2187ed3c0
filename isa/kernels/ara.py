"""The ``ara`` kernel library: Ara's own matrix multiply as its published utilisation
figures ran it (``Core.library = "ara"``; every GEMM it cannot run, and every other op
kind, keeps the ideal library's kernels).

pulp-platform/ara ``apps/fmatmul/kernel/fmatmul.c`` (read at 826f57c9) computes
``C[M,P] = A[M,N] @ B[N,P]`` (our M, K, N) in FP64 with one of three register-blocked
kernels, chosen by the rows of C: ``fmatmul_4x4`` (4 rows of C, LMUL 4) for M <= 4 and
M > 128, ``fmatmul_8x8`` (8 rows, LMUL 2) for 4 < M <= 8 and 64 < M <= 128,
``fmatmul_16x16`` (16 rows, LMUL 1) for 8 < M <= 64 (:func:`block_of`). Each slices
the columns by VLMAX (``vsetvli`` with P, then per slice with its width) and, per
slice, walks the rows in blocks: the block's accumulators zeroed (``vmv.v.i``), then

* a prologue: the first B row loaded (``vle``), the block's first column of A loaded
  as scalars (``fld``, the A pointer bumped by the row pitch after each but the last);
* the k loop unrolled by two over two B registers, each half: ``a = a_ + ++n`` (the
  column pointer), then per row ``vfmacc.vf`` of the scalar loaded the half before with
  the current B register, followed by the scalar load of that row's next element (and its
  pointer bump); the load of the next B row into the other register (and its pointer
  bump) comes after the first row's ``vfmacc``; the first half ends in the ``n == N``
  break, the second in the loop's branch back;
* an epilogue: the last k step's ``vfmacc.vf`` of each row, each followed by the row's
  ``vse`` to C (and the C pointer bump).

The loop runs its halves in pairs and breaks after a first half, so it needs an even
inner dimension (odd N runs past the end of A and B); it steps the rows by the block size
with no remainder (M a multiple of the block rows). GEMMs outside those (and BF16 ones,
quantised weights, G > 1 groups are looped around it) take the ideal kernels. The model
has no FP64 GEMM: the cases run it in FP32 at half the widths (the same elements per
register and per cycle), so LMUL and the block structure are fmatmul's own.
"""

from __future__ import annotations

from isa.kernels import quant
from isa.kernels.common import Kc
from isa.program import Affine, Program, Reg, V, X

# fmatmul.c's choice of kernel by M: (largest M, rows of C per block, LMUL)
BLOCKS = ((4, 4, 4), (8, 8, 2), (64, 16, 1), (128, 8, 2))
LARGE = (4, 4)  # M > 128: fmatmul_4x4 ("vl of 256" at LMUL 4)
# Integer registers of the kernel's pointers and counter (clear of the builder's loop
# counters x9..x12 and vsetvli's x5): a, a_ (the block's A), n, b, c, and the row
# pitches of A (N) and of B and C (P) in bytes, and the end of n
PA, PA0, PN, PB, PC, PITCH_A, PITCH_B = X(20), X(21), X(22), X(24), X(25), X(26), X(27)
PEND = X(23)


def block_of(m: int) -> tuple[int, int]:
    """(rows of C per block, LMUL) fmatmul.c uses for M rows."""
    for top, rows, lmul in BLOCKS:
        if m <= top:
            return rows, lmul
    return LARGE


def registers(rows: int, lmul: int) -> tuple[list[Reg], tuple[Reg, Reg]]:
    """fmatmul's accumulators (v0 upwards, one group each) and its two B registers."""
    accs = [V(r * lmul) for r in range(rows)]
    if rows == 8:  # fmatmul_8x8: B in v18 / v20 (v16 unused)
        return accs, (V(18), V(20))
    return accs, (V(rows * lmul), V(rows * lmul + lmul))


def applies(kc: Kc, m: int, kk: int, fmt: quant.WeightFormat | None) -> bool:
    """Whether fmatmul runs this GEMM (else the ideal kernels do)."""
    rows, _ = block_of(m)
    return (fmt is None and kc.core.dtype == "fp32" and kk % 2 == 0
            and m % rows == 0)


def lower(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat | None
          ) -> Program | None:
    """fmatmul's program for this GEMM, or None where it does not apply (the caller
    then emits the ideal library's)."""
    if not applies(kc, m, kk, fmt):
        return None
    b = kc.b
    rows, lmul = block_of(m)
    accs, vbs = registers(rows, lmul)
    ts = kc.ftemps(rows)
    b.buffer("A", "fp32", g * m * kk, "in", (g, m, kk))
    b.buffer("B", "fp32", g * kk * n, "in", (g, kk, n))
    b.buffer("C", "fp32", g * m * n, "out", (g, m, n))
    b.emit("addi", PITCH_A, X(0), kk * 4, comment="N * sizeof(elem)")
    b.emit("addi", PITCH_B, X(0), n * 4, comment="P * sizeof(elem)")
    b.emit("addi", PEND, X(0), kk, comment="N")
    vlmax = b.vsetvli(n, 32, lmul)  # block_size_p = vsetvli(P)
    full, tail = divmod(n, vlmax)
    slices = [(full, vlmax, 0)] if full else []
    if tail:
        slices.append((1, tail, full * vlmax))

    def block(gi: Affine, i: Affine, col: Affine) -> None:
        row0 = i * rows

        def a_mem(r: int, k: Affine | int):
            return b.mem("A", gi * (m * kk) + (row0 + r) * kk + k, 32)

        def b_row(vb: Reg, k: Affine | int) -> None:
            b.emit("vle32.v", vb, b.mem("B", gi * (kk * n) + Affine.of(k) * n + col, 32))
            b.emit("add", PB, PB, PITCH_B, comment="b += P")

        def scalars(k: Affine | int) -> None:
            for r in range(rows):
                b.emit("flw", ts[r], a_mem(r, k))
                if r < rows - 1:
                    b.emit("add", PA, PA, PITCH_A, comment="a += N")

        def half(k: Affine, cur: Reg, nxt: Reg) -> None:
            """k step ``k`` from ``cur``; loads A[:, k+1] and B row k+1 into ``nxt``."""
            b.emit("addi", PN, PN, 1, comment="++n")
            b.emit("add", PA, PA0, PN, comment="a = a_ + n")
            b.emit("vfmacc.vf", accs[0], ts[0], cur)
            b.emit("flw", ts[0], a_mem(0, k + 1))
            b.emit("add", PA, PA, PITCH_A, comment="a += N")
            b_row(nxt, k + 1)
            for r in range(1, rows):
                b.emit("vfmacc.vf", accs[r], ts[r], cur)
                b.emit("flw", ts[r], a_mem(r, k + 1))
                if r < rows - 1:
                    b.emit("add", PA, PA, PITCH_A, comment="a += N")

        for r in range(rows):  # fmatmul_vec_*_slice_init
            b.emit("vmv.v.i", accs[r], 0)
        b_row(vbs[0], 0)  # prefetch one row of B, one column of A
        scalars(0)
        pairs = kk // 2 - 1  # whole loop trips; the last trip breaks after its first half
        if pairs:
            with kc.rep("k", pairs, ptrs=0) as k:
                half(k * 2, vbs[0], vbs[1])
                b.emit("bne", PN, PEND, "k", comment="if (n == N) break")
                half(k * 2 + 1, vbs[1], vbs[0])
        half(Affine(kk - 2), vbs[0], vbs[1])
        b.emit("bne", PN, PEND, "k", comment="if (n == N) break")
        for r in range(rows):  # the last step, each row stored after its FMA
            b.emit("vfmacc.vf", accs[r], ts[r], vbs[1])
            b.emit("vse32.v", accs[r], b.mem("C", gi * (m * n) + (row0 + r) * n + col, 32))
            if r < rows - 1:
                b.emit("add", PC, PC, PITCH_B, comment="c += P")

    with kc.rep("g", g) as gi:
        for count, vl, base in slices:
            with kc.rep("p", count, ptrs=2) as p:
                b.vsetvli(vl, 32, lmul)
                with kc.rep("i", m // rows, ptrs=2) as i:
                    block(gi, i, base + p * vlmax)
    return kc.program(kind="gemm", b_layout="B", library="ara",
                      kernel=f"ara fmatmul_{rows}x{rows}")
