"""The ``llamacpp`` kernel library: llama.cpp's ggml-cpu GEMMs on RISC-V, as this package
expresses them (``Core.library = "llamacpp"``; every other op kind keeps the ideal
kernels, which ggml's element-wise code resembles).

Which kernel a ``GGML_OP_MUL_MAT`` runs (ggml-cpu/ggml-cpu.c ``ggml_compute_forward_mul_mat``,
the SpacemiT backend's ``ime.cpp``, llamafile's ``sgemm.cpp``):

- quantised weights on a core with the IME (SpacemiT backend, PR #15288): the int8 tile
  kernel in llama.cpp's loop order (:mod:`isa.kernels.ime`);
- Q4_0 / Q8_0 weights otherwise: ggml's **vec-dot** path. A is quantised to Q8_0 rows
  (``quantize_row_q8_0``, :mod:`isa.kernels.q8`), then every output is one
  ``ggml_vec_dot_q4_0_q8_0`` / ``ggml_vec_dot_q8_0_q8_0`` (ggml-cpu/arch/riscv/quants.c)
  of a weight row and an activation row: per block of 32, the codes loaded (``vle8``),
  4-bit ones unpacked (``vand`` / ``vsrl`` by 4, ``- 8``), int8 x int8 products widened
  to int16 (``vwmul.vv`` / ``vwmacc.vv``), reduced to an int32 (``vwredsum.vs``), moved to
  a scalar (``vmv.x.s``: the in-order front end waits for it) and accumulated as
  ``sumf += sumi x d_x x d_y`` in scalar FP (the two fp16 scales converted by
  ``fcvt.s.h``). Outputs are visited in ggml's blocks of 16 weight rows x 16 activation
  rows (``blck_0`` / ``blck_1``);
- 16-bit weights, one activation row (decode): ``ggml_vec_dot_f16`` per output (A
  converted to the weights' type first): widening FMAs into an FP32 vector over K, one
  ``vfredusum`` at the end;
- 16-bit weights, several rows (prefill): llamafile's tinyBLAS (``sgemm.cpp``, RVV since
  PR #18199) with its VLEN-256 tile of 2 x 2 outputs at LMUL 4: per step of VL along K,
  two A and two B vectors converted to FP32 and four ``vfmacc.vv`` into four FP32 vector
  accumulators, reduced (``vfredusum``) once per output;
- any other weight type (int4 / int8 / fp8 / mxfp4 have no ggml CPU type here): the ideal
  kernels.

ggml's threading splits each matmul's output rows (our N) over the threads in chunks
(16, or 64 for a single activation row), which the cluster replay's split of N over the
cores expresses; activations are quantised once per op by all threads (here: by each
shard, for the rows it needs: every row).

Activations are BF16 in this model (ggml keeps them FP32 and quantises or converts them
per matmul): the bytes of A are a small part of a GEMV's and are read once per op.
"""

from __future__ import annotations

from isa.kernels import ime, q8, quant
from isa.kernels.common import Kc
from isa.program import Affine, F, Program, V, X

VEC_DOT_FORMATS = ("q4_0", "q8_0")
BLOCK = 16  # ggml_compute_forward_mul_mat_one_chunk: blck_0 = blck_1 = 16
TINYBLAS_TILE = (2, 2)  # sgemm.cpp RVV, VLEN 256: the 2x2 tile at LMUL 4 (PR #18199)


def lower(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat | None
          ) -> Program | None:
    """ggml's kernel for this GEMM, or None where ggml has none here (the caller then
    emits the ideal library's)."""
    if ime.usable(kc.isa, kc.core, n, kk, fmt):
        assert fmt is not None
        return ime.lower(kc, g, m, n, kk, fmt)
    if kc.core.vlen < 128 or kc.core.dtype != "bf16":
        return None
    if fmt is not None:
        if fmt.name not in VEC_DOT_FORMATS or kk % q8.QK:
            return None
        return _vec_dot_quantised(kc, g, m, n, kk, fmt)
    if m == 1:
        return _vec_dot_f16(kc, g, n, kk)
    return _tinyblas(kc, g, m, n, kk)


def _blocks(total: int, size: int) -> list[tuple[int, int, int]]:
    """(count, size, first index) of whole blocks, then the remainder."""
    full, rem = divmod(total, size)
    out = [(full, size, 0)] if full else []
    if rem:
        out.append((1, rem, full * size))
    return out


def _output_blocks(kc: Kc, g: int, m: int, n: int, body) -> None:
    """ggml's traversal of the outputs: blocks of 16 weight rows (N) x 16 activation rows
    (M), inside each every row of A, inside that every row of B: ``body(gi, r, c)``."""
    with kc.rep("g", g) as gi:
        for ncount, nsize, nbase in _blocks(n, BLOCK):
            with kc.rep("nb", ncount, ptrs=2) as nb:
                for mcount, msize, mbase in _blocks(m, BLOCK):
                    with kc.rep("mb", mcount, ptrs=2) as mb, \
                            kc.rep("r", msize, ptrs=2) as r, \
                            kc.rep("c", nsize, ptrs=3) as c:
                        body(gi, mb * BLOCK + mbase + r, nb * BLOCK + nbase + c)


# ---- quantised weights: ggml_vec_dot_q4_0_q8_0 / ggml_vec_dot_q8_0_q8_0 -----------------
def _vec_dot_quantised(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat
                       ) -> Program:
    b = kc.b
    b.name += f" B={fmt.name} ggml vec_dot"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    quant.declare(b, fmt, g, n, kk, transposed=True)  # block_q4_0 rows: Bqt, Bst
    q8.declare(kc, g, m, kk, "rows")
    q8.quantize(kc, g, m, kk, "rows")
    zero = kc.fconst(0.0)
    nb = kk // q8.QK
    lmul = max(1, q8.QK * 8 // kc.core.vlen)  # 32 int8 in one register group

    def dot(gi: Affine, r: Affine, c: Affine) -> None:
        sumf = F(5)
        b.emit("fmv.s", sumf, zero, comment="sumf = 0")
        with kc.rep("q", nb, ptrs=3) as q:
            arow = (gi * m + r) * kk + q * q8.QK
            brow = (gi * n + c) * (kk // fmt.per_byte) + q * (q8.QK // fmt.per_byte)
            if fmt.bits == 4:
                _q4_block(kc, arow, brow)
            else:
                _q8_block(kc, arow, brow, lmul)
            b.vsetvli(1, 32, 1)
            b.emit("vmv.x.s", X(6), V(9), comment="sumi (int32)")
            b.emit("flh", F(6), b.mem("Bst", (gi * n + c) * nb + q, 16))
            b.emit("fcvt.s.h", F(6), F(6))
            b.emit("flh", F(7), b.mem("Ad", (gi * m + r) * nb + q, 16))
            b.emit("fcvt.s.h", F(7), F(7))
            b.emit("fcvt.s.w", F(8), X(6))
            b.emit("fmul.s", F(6), F(6), F(7))
            b.emit("fmadd.s", sumf, F(8), F(6), sumf, comment="sumf += sumi dx dy")
        b.emit("fsh", sumf, b.mem("C", (gi * m + r) * n + c, 16))

    _output_blocks(kc, g, m, n, dot)
    return kc.program(kind="gemm", b_layout="Bqt", weight_format=fmt.name,
                      weight_group=fmt.group_of(kk), kernel="ggml vec_dot",
                      activations="q8_0")


def _q4_block(kc: Kc, arow: Affine, brow: Affine) -> None:
    """One Q4_0 x Q8_0 block: 16 code bytes (k = j low nibble, j + 16 high), the 32
    activation codes as two halves; the int32 sum in v9[0]."""
    b = kc.b
    half = q8.QK // 2
    b.vsetvli(half, 8, 1)
    b.emit("vle8.v", V(1), b.mem("Bqt", brow, 8))
    b.emit("vle8.v", V(2), b.mem("Aq", arow, 8))
    b.emit("vle8.v", V(3), b.mem("Aq", arow + half, 8))
    b.emit("vand.vi", V(4), V(1), 15)
    b.emit("vsrl.vi", V(5), V(1), 4)
    b.emit("vadd.vi", V(4), V(4), -8, comment="q - 8")
    b.emit("vadd.vi", V(5), V(5), -8)
    b.emit("vwmul.vv", V(6), V(4), V(2))
    b.emit("vwmacc.vv", V(6), V(5), V(3))
    b.vsetvli(half, 32, 1)
    b.emit("vmv.v.i", V(8), 0)
    b.vsetvli(half, 16, 2)
    b.emit("vwredsum.vs", V(9), V(6), V(8))


def _q8_block(kc: Kc, arow: Affine, brow: Affine, lmul: int) -> None:
    """One Q8_0 x Q8_0 block: 32 weight codes and 32 activation codes."""
    b = kc.b
    qk = q8.QK
    b.vsetvli(qk, 8, lmul)
    b.emit("vle8.v", V(4), b.mem("Bqt", brow, 8))
    b.emit("vle8.v", V(12), b.mem("Aq", arow, 8))
    b.emit("vwmul.vv", V(16), V(4), V(12))
    b.vsetvli(qk, 32, 1)
    b.emit("vmv.v.i", V(8), 0)
    b.vsetvli(qk, 16, 2 * lmul)
    b.emit("vwredsum.vs", V(9), V(16), V(8))


# ---- 16-bit weights -----------------------------------------------------------------------
def _vec_dot_f16(kc: Kc, g: int, n: int, kk: int) -> Program:
    """ggml_vec_dot_f16 per output: FP32 partial sums at LMUL 4 over K (widening FMAs of
    16-bit operands), one reduction per output."""
    b = kc.b
    b.name += " ggml vec_dot_f16"
    b.buffer("A", "bf16", g * kk, "in", (g, 1, kk))
    b.buffer("Bt", "bf16", g * n * kk, "in", (g, n, kk))  # ggml weights: one row per output
    b.buffer("C", "bf16", g * n, "out", (g, 1, n))
    zero = kc.fconst(0.0)
    vl = kc.core.vlmax(16, 2)  # 16-bit operands at m2, FP32 sums at m4

    def dot(gi: Affine, r: Affine, c: Affine) -> None:
        b.vsetvli(vl, 32, 4)
        b.emit("vmv.v.i", V(8), 0)

        def step(off: Affine, width: int) -> None:
            b.vsetvli(width, 16, 2)
            b.emit("vle16.v", V(2), b.mem("A", gi * kk + off, 16))
            b.emit("vle16.v", V(4), b.mem("Bt", (gi * n + c) * kk + off, 16))
            b.emit("vfwmaccbf16.vv", V(8), V(2), V(4))

        for count, width, base in _blocks(kk, vl):
            with kc.rep("k", count, ptrs=3) as k:
                step(k * width + base, width)
        b.vsetvli(vl, 32, 4)
        b.emit("vfmv.s.f", V(16), zero)
        b.emit("vfredusum.vs", V(16), V(8), V(16))
        b.emit("vfmv.f.s", F(5), V(16))
        b.emit("fsh", F(5), b.mem("C", gi * n + c, 16))

    _output_blocks(kc, g, 1, n, dot)
    return kc.program(kind="gemm", b_layout="Bt", kernel="ggml vec_dot_f16")


def _tinyblas(kc: Kc, g: int, m: int, n: int, kk: int) -> Program:
    """llamafile tinyBLAS ``gemm<RM, RN>`` (RVV, PR #18199): for each RM x RN tile of C,
    RM x RN FP32 vector accumulators (LMUL 4) along K; per step of VL, the tile's A and B
    rows loaded as 16-bit vectors and one widening FMA per pair (``vfwmacc``: Zvfh's FP16
    form, BF16's here); each accumulator reduced to its output at the end. Edge tiles:
    fewer rows / columns."""
    b = kc.b
    rm, rn = TINYBLAS_TILE
    b.name += f" ggml tinyBLAS {rm}x{rn}"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("Bt", "bf16", g * n * kk, "in", (g, n, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    zero = kc.fconst(0.0)
    vl = kc.core.vlmax(32, 4)
    acc = [[V(16 + 4 * (i * rn + j)) for j in range(rn)] for i in range(rm)]
    av = [V(2 * i) for i in range(rm)]
    bv = [V(2 * (rm + j)) for j in range(rn)]

    def tile(gi: Affine, i0: Affine, j0: Affine, rows: int, cols: int) -> None:
        b.vsetvli(vl, 32, 4)
        for i in range(rows):
            for j in range(cols):
                b.emit("vmv.v.i", acc[i][j], 0)

        def step(off: Affine, width: int) -> None:
            b.vsetvli(width, 16, 2)
            for i in range(rows):
                b.emit("vle16.v", av[i], b.mem("A", (gi * m + i0 + i) * kk + off, 16))
            for j in range(cols):
                b.emit("vle16.v", bv[j], b.mem("Bt", (gi * n + j0 + j) * kk + off, 16))
            for i in range(rows):
                for j in range(cols):
                    b.emit("vfwmaccbf16.vv", acc[i][j], av[i], bv[j])

        for count, width, base in _blocks(kk, vl):
            with kc.rep("k", count, ptrs=3) as k:
                step(k * width + base, width)
        b.vsetvli(vl, 32, 4)
        for i in range(rows):
            for j in range(cols):
                b.emit("vfmv.s.f", V(12), zero)
                b.emit("vfredusum.vs", V(12), acc[i][j], V(12))
                b.emit("vfmv.f.s", F(5), V(12))
                b.emit("fsh", F(5), b.mem("C", (gi * m + i0 + i) * n + j0 + j, 16))

    with kc.rep("g", g) as gi:
        for mcount, rows, mbase in _blocks(m, rm):
            for ncount, cols, nbase in _blocks(n, rn):
                with kc.rep("ti", mcount, ptrs=2) as ti, kc.rep("tj", ncount, ptrs=2) as tj:
                    tile(gi, ti * rm + mbase, tj * rn + nbase, rows, cols)
    return kc.program(kind="gemm", b_layout="Bt", kernel=f"ggml tinyBLAS {rm}x{rn}")
