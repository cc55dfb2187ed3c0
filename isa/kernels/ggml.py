"""The ``llamacpp`` kernel library: llama.cpp's ggml-cpu GEMMs on RISC-V, as this package
expresses them (``Core.library = "llamacpp"``; attention is ggml's FLASH_ATTN_EXT,
:mod:`isa.kernels.ggml_attention`, with ``Core.flash_attn``, or its KQ / soft_max / KQV graph
without it, :mod:`isa.kernels.ggml_kq`; every other op kind keeps the
ideal kernels, which ggml's element-wise code resembles).

Which kernel a ``GGML_OP_MUL_MAT`` runs (ggml-cpu/ggml-cpu.c ``ggml_compute_forward_mul_mat``,
the SpacemiT backend's ``ime.cpp``, llamafile's ``sgemm.cpp``):

- Q4_0 / Q4_1 weights on a core with the IME (SpacemiT backend, PR #15288; its IME1
  kernels take Q4_x only, :data:`IME_FORMATS`): the int8 tile kernel in llama.cpp's loop
  order (:mod:`isa.kernels.ime`);
- Q4_0 / Q4_1 / Q8_0 weights otherwise: ggml's **vec-dot** path. A is quantised to Q8_0
  rows (``quantize_row_q8_0``, :mod:`isa.kernels.q8`; Q8_1 rows for Q4_1, each block's
  ``s = d sum(q)`` too: ``quantize_row_q8_1``), then every output is one
  ``ggml_vec_dot_q4_0_q8_0`` / ``_q4_1_q8_1`` / ``_q8_0_q8_0`` (ggml-cpu/arch/riscv/quants.c)
  of a weight row and an activation row: per block of 32, the codes loaded (``vle8``),
  4-bit ones unpacked (``vand`` / ``vsrl`` by 4, ``- 8``), int8 x int8 products widened
  to int16 (``vwmul.vv`` / ``vwmacc.vv``), reduced to an int32 (``vwredsum.vs``), moved to
  a scalar (``vmv.x.s``: the in-order front end waits for it) and accumulated as
  ``sumf += sumi x d_x x d_y`` in scalar FP (the two fp16 scales converted by
  ``fcvt.s.h``; Q4_1: unsigned codes, no ``- 8``, and ``+ m_x x s_y`` per block, the
  weight block's min times the activation block's sum). Outputs are visited in ggml's
  blocks of 16 weight rows x 16 activation rows (``blck_0`` / ``blck_1``);
- 16-bit weights, one activation row (decode): ``ggml_vec_dot_f16`` per output (A
  converted to the weights' type first): widening FMAs into an FP32 vector over K, one
  ``vfredusum`` at the end;
- 16-bit weights, several rows (prefill): llamafile's tinyBLAS (``sgemm.cpp``, RVV since
  PR #18199) with its VLEN-256 tile of 2 x 2 outputs at LMUL 4: per step of VL along K,
  two weight and two token vectors and four widening FMAs into four FP32 vector
  accumulators, reduced (``vfredusum``) once per output; jobs of 16 weight rows x a
  block of token tiles, the threads splitting the weight rows (:func:`_tinyblas`);
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

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from isa.kernels import ime, q8, quant
from isa.kernels.common import Kc
from isa.program import Affine, F, Program, Reg, V, X

VEC_DOT_FORMATS = ("q4_0", "q4_1", "q8_0")  # and q6_k: isa.kernels.kquant
BLOCK = 16  # ggml_compute_forward_mul_mat_one_chunk: blck_0 = blck_1 = 16
TINYBLAS_TILE = (2, 2)  # sgemm.cpp RVV, VLEN 256: the 2x2 tile at LMUL 4 (PR #18199)
# sgemm.cpp tinyBLAS_RVV::matmul (LMUL 4): mnpack<2, 2, BM> with BM 8 / 4 / 2 for weight
# rows that are multiples of 16 / 8 / 4, and BN = 36 token tiles per block
TINYBLAS_BM = (8, 4, 2)
TINYBLAS_BN = 36


# The weight types the SpacemiT backend runs on the X60's IME (IME1): Q4_0, Q4_1 and Q4_K
# (PR #15288: "The SpacemiT IME extended instructions are used to accelerate matrix
# calculations for Q4_0/Q4_1/Q4_K"; docs/build-riscv64-spacemit.md "Quantization Support
# For Matrix", X60 column). Q8_0 and Q6_K take ggml's generic vec-dot path.
IME_FORMATS = ("q4_0", "q4_1")


def lower(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat | None,
          ime_task_rows: int = 0) -> Program | None:
    """ggml's kernel for this GEMM, or None where ggml has none here (the caller then
    emits the ideal library's); ``ime_task_rows``: :func:`isa.kernels.ime.lower`'s
    ``task_rows``."""
    if fmt is not None and fmt.name in IME_FORMATS and ime.usable(kc.isa, kc.core, n, kk, fmt):
        assert fmt is not None
        return ime.lower(kc, g, m, n, kk, fmt, ime_task_rows)
    if kc.core.vlen < 128 or kc.core.dtype != "bf16":
        return None
    if fmt is not None:
        if fmt.name not in VEC_DOT_FORMATS or kk % q8.QK:
            return None
        return _vec_dot_quantised(kc, g, m, n, kk, fmt)
    if m > 1:
        prog = _tinyblas(kc, g, m, n, kk)
        if prog is not None:
            return prog
    return _vec_dot_f16(kc, g, m, n, kk)


def splits_weight_rows_only(op_row: Mapping[str, Any], vlen: int) -> bool:
    """Whether ggml's threads split this GEMM over its weight rows (our N) only:
    tinyBLAS's jobs (:func:`_tinyblas`) hand the threads consecutive weight blocks of one
    token block, never different token blocks at once."""
    m, n, kk = (int(op_row.get(f) or 0) for f in ("M", "N", "K"))
    return (op_row.get("kind") == "gemm" and m > 1
            and str(op_row.get("weight_dtype") or "") in ("", "bf16", "fp16")
            and tinyblas_blocking(m, n, kk, vlen // 8) is not None)


def _blocks(total: int, size: int) -> list[tuple[int, int, int]]:
    """(count, size, first index) of whole blocks, then the remainder."""
    full, rem = divmod(total, size)
    out = [(full, size, 0)] if full else []
    if rem:
        out.append((1, rem, full * size))
    return out


def output_blocks(kc: Kc, g: int, m: int, n: int, body) -> None:
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
    quant.declare(b, fmt, g, n, kk, transposed=True)  # block_q4_0 rows: Bqt, Bst (, Bmt)
    q8.declare(kc, g, m, kk, "rows", sums=fmt.has_min)  # Q4_1 dots take Q8_1 rows
    q8.quantize(kc, g, m, kk, "rows", sums=fmt.has_min)
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
                _q4_block(kc, arow, brow, offset=not fmt.has_min)
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
            if fmt.has_min:  # ggml_vec_dot_q4_1_q8_1: + m_x s_y
                b.emit("flh", F(6), b.mem("Bmt", (gi * n + c) * nb + q, 16))
                b.emit("fcvt.s.h", F(6), F(6))
                b.emit("flh", F(7), b.mem("As", (gi * m + r) * nb + q, 16))
                b.emit("fcvt.s.h", F(7), F(7))
                b.emit("fmadd.s", sumf, F(6), F(7), sumf, comment="sumf += mx sy")
        b.emit("fsh", sumf, b.mem("C", (gi * m + r) * n + c, 16))

    output_blocks(kc, g, m, n, dot)
    return kc.program(kind="gemm", b_layout="Bqt", weight_format=fmt.name,
                      weight_group=fmt.group_of(kk), kernel="ggml vec_dot",
                      activations="q8_1" if fmt.has_min else "q8_0")


def _q4_block(kc: Kc, arow: Affine, brow: Affine, offset: bool = True) -> None:
    """One Q4_0 x Q8_0 block (``offset``: codes q - 8) or Q4_1 x Q8_1 block (unsigned
    codes q; the min is added per block by the caller): 16 code bytes (k = j low nibble,
    j + 16 high), the 32 activation codes as two halves; the int32 sum in v9[0]."""
    b = kc.b
    half = q8.QK // 2
    b.vsetvli(half, 8, 1)
    b.emit("vle8.v", V(1), b.mem("Bqt", brow, 8))
    b.emit("vle8.v", V(2), b.mem("Aq", arow, 8))
    b.emit("vle8.v", V(3), b.mem("Aq", arow + half, 8))
    b.emit("vand.vi", V(4), V(1), 15)
    b.emit("vsrl.vi", V(5), V(1), 4)
    if offset:
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
def _vec_dot_f16(kc: Kc, g: int, m: int, n: int, kk: int) -> Program:
    """ggml_vec_dot_f16 per output (every row of A with every weight row, in ggml's
    16 x 16 blocks): FP32 partial sums at LMUL 4 over K (widening FMAs of 16-bit
    operands), one reduction per output."""
    b = kc.b
    b.name += " ggml vec_dot_f16"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("Bt", "bf16", g * n * kk, "in", (g, n, kk))  # ggml weights: one row per output
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    zero = kc.fconst(0.0)
    vl = kc.core.vlmax(16, 2)  # 16-bit operands at m2, FP32 sums at m4

    def dot(gi: Affine, r: Affine, c: Affine) -> None:
        b.vsetvli(vl, 32, 4)
        b.emit("vmv.v.i", V(8), 0)

        def step(off: Affine, width: int) -> None:
            b.vsetvli(width, 16, 2)
            b.emit("vle16.v", V(2), b.mem("A", (gi * m + r) * kk + off, 16))
            b.emit("vle16.v", V(4), b.mem("Bt", (gi * n + c) * kk + off, 16))
            b.emit("vfwmaccbf16.vv", V(8), V(2), V(4))

        for count, width, base in _blocks(kk, vl):
            with kc.rep("k", count, ptrs=3) as k:
                step(k * width + base, width)
        b.vsetvli(vl, 32, 4)
        b.emit("vfmv.s.f", V(16), zero)
        b.emit("vfredusum.vs", V(16), V(8), V(16))
        b.emit("vfmv.f.s", F(5), V(16))
        b.emit("fsh", F(5), b.mem("C", (gi * m + r) * n + c, 16))

    output_blocks(kc, g, m, n, dot)
    return kc.program(kind="gemm", b_layout="Bt", kernel="ggml vec_dot_f16")


def tinyblas_blocking(m: int, n: int, kk: int, vl: int
                      ) -> tuple[int, int, list[tuple[int, int]]] | None:
    """llamafile's job layout of a GEMM with ``m`` tokens (llamafile's n: its B) and ``n``
    weight rows (its m: its A): (weight rows per job ``RM x BM``, tokens per tile,
    [(token blocks, tiles per block)]), or None where ``tinyBLAS_RVV::matmul`` declines
    (weight rows not a multiple of 4, K not of the vector length ``vl``). sgemm.cpp (RVV,
    LMUL 4): ``BM`` 8 when the rows are a multiple of 16 (and one job of them per thread:
    a shard's rows here), 4 when of 8, 2 when of 4; tiles of ``RN`` = 2 tokens (1 for a
    single token); the token tiles cut into ``NB_BN = (xtiles + BN/2) / BN`` blocks
    (``BN`` = 36; one block below 36 tiles), the first ``jj_BN`` of ``SIZE_BN`` tiles, the
    rest of one fewer."""
    rm, rn = TINYBLAS_TILE
    bm = next((b for b in TINYBLAS_BM if n % (rm * b) == 0), 0)
    if not bm or kk % vl:
        return None
    rn = min(rn, m)
    xtiles = -(-m // rn)
    nb = 1 if xtiles < TINYBLAS_BN else (xtiles + TINYBLAS_BN // 2) // TINYBLAS_BN
    size = -(-xtiles // nb)
    first = nb - (nb * size - xtiles)
    blocks = [(first, size)] + ([(nb - first, size - 1)] if nb > first else [])
    return rm * bm, rn, blocks


def _tinyblas(kc: Kc, g: int, m: int, n: int, kk: int) -> Program | None:
    """llamafile tinyBLAS ``gemm<RM, RN, BM>`` (RVV, PR #18199; sgemm.cpp
    ``tinyBLAS_RVV``): A is the weights (our ``Bt``, N rows), B the tokens (our A, M
    rows). Jobs of ``RM x BM`` weight rows x one token block (:func:`tinyblas_blocking`),
    the weight blocks innermost (``ii = job % ytiles``): threads take jobs in order, so at
    any time they share one token block (held in the cluster's L2) and each works its own
    weight rows, an N split. Per job, each pair of weight rows (in L1) meets every token
    tile of the block; per tile (``gemm_bloc``) RM x RN FP32 vector accumulators (LMUL 4)
    along K: per step of VL, the tile's rows loaded as 16-bit vectors and one widening FMA
    per pair (``vfwmacc``: Zvfh's FP16 form, BF16's here), each accumulator reduced to its
    output at the end. None where tinyBLAS declines (ggml then runs its vec-dot)."""
    vl = kc.core.vlmax(32, 4)
    plan = tinyblas_blocking(m, n, kk, vl)
    if plan is None:
        return None
    rows_per_job, tok, blocks = plan
    b = kc.b
    rm, rn = TINYBLAS_TILE
    b.name += f" ggml tinyBLAS {rm}x{rn}"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("Bt", "bf16", g * n * kk, "in", (g, n, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    zero = kc.fconst(0.0)
    acc = [[V(16 + 4 * (i * rn + j)) for j in range(rn)] for i in range(rm)]
    wv = [V(2 * i) for i in range(rm)]
    tv = [V(2 * (rm + j)) for j in range(rn)]

    def tile(gi: Affine, w0: Affine, t0: Affine, tokens: int) -> None:
        b.vsetvli(vl, 32, 4)
        for i in range(rm):
            for j in range(tokens):
                b.emit("vmv.v.i", acc[i][j], 0)

        def step(off: Affine, width: int) -> None:
            b.vsetvli(width, 16, 2)
            for i in range(rm):
                b.emit("vle16.v", wv[i], b.mem("Bt", (gi * n + w0 + i) * kk + off, 16))
            for j in range(tokens):
                b.emit("vle16.v", tv[j], b.mem("A", (gi * m + t0 + j) * kk + off, 16))
                for i in range(rm):
                    b.emit("vfwmaccbf16.vv", acc[i][j], wv[i], tv[j])

        with kc.rep("k", kk // vl, ptrs=3) as k:
            step(k * vl, vl)
        b.vsetvli(vl, 32, 4)
        for i in range(rm):
            for j in range(tokens):
                b.emit("vfmv.s.f", V(12), zero)
                b.emit("vfredusum.vs", V(12), acc[i][j], V(12))
                b.emit("vfmv.f.s", F(5), V(12))
                b.emit("fsh", F(5), b.mem("C", (gi * m + t0 + j) * n + w0 + i, 16))

    runs = [(count, tiles, False) for count, tiles in blocks]
    if m % tok:  # the odd last token: the last block's last tile has RN - 1 tokens
        count, tiles, _ = runs.pop()
        runs += [(count - 1, tiles, False)] if count > 1 else []
        runs.append((1, tiles, True))
    with kc.rep("g", g) as gi:
        first_tile = 0
        for count, tiles, partial in runs:
            with kc.rep("jb", count, ptrs=2) as jb, \
                    kc.rep("ii", n // rows_per_job, ptrs=2) as ii, \
                    kc.rep("bi", rows_per_job // rm, ptrs=2) as bi:
                w0 = ii * rows_per_job + bi * rm
                t_base = (jb * tiles + first_tile) * tok
                full = tiles - 1 if partial else tiles
                if full:
                    with kc.rep("jj", full, ptrs=2) as jj:
                        tile(gi, w0, t_base + jj * tok, tok)
                if partial:
                    tile(gi, w0, t_base + full * tok, m % tok)
            first_tile += count * tiles
    return kc.program(kind="gemm", b_layout="Bt", kernel=f"ggml tinyBLAS {rm}x{rn}")


# ---- GGML_OP_GATED_DELTA_NET: the fused Gated DeltaNet of Qwen3.5 --------------------------
def gated_delta_net(kc: Kc, bsz: int, h: int, t: int, dk: int, dv: int) -> None:
    """ggml-cpu ``ggml_compute_forward_gated_delta_net_one_chunk`` (ops.cpp), which
    llama.cpp runs for Qwen3.5's linear attention in prefill and decode alike
    (delta-net-base.cpp ``build_delta_net``: ``cparams.fused_gdn_ch`` / ``fused_gdn_ar``,
    on by default): the recurrence token by token, no chunked algorithm. Per head (the
    threads split heads x sequences) and token, four passes over the head's FP32 state,
    stored transposed (``state_t[j, i] = S[i, j]``: row j is column j of S), each a loop of
    ggml's RVV vector helpers at LMUL 8 (vec.h / vec.cpp):

    1. ``ggml_vec_scale_f32`` of the whole state by exp(g) (``vle32``, ``vfmul.vf``,
       ``vse32``);
    2. per row j, ``ggml_vec_dot_f32(row j, k)``: ``vfmacc.vv`` over the row, one
       ``vfredusum.vs`` and ``vfmv.f.s``, then in scalar FP ``delta[j] = (v[j] - sum) beta``;
    3. per row j, ``ggml_vec_mad_f32``: ``row j += k delta[j]`` (``vfmadd.vf``, stored);
    4. per row j, ``ggml_vec_dot_f32(row j, q)`` times 1/sqrt(Dk): the output.

    q and k are FP32 in ggml (its activations); here they are converted once per token
    into FP32 scratch rows that the passes read, as ggml's read its FP32 tensors. The
    caller declares q, k, v, g, beta and o (:mod:`isa.kernels.linear_attention`)."""
    b = kc.b
    b.buffer("state_t", "fp32", bsz * h * dv * dk, "inout", (bsz, h, dv, dk))
    b.buffer("k32", "fp32", dk, "scratch")
    b.buffer("q32", "fp32", dk, "scratch")
    b.buffer("delta", "fp32", dv, "scratch")
    g = _Gdn(kc, dk, dv, kc.core.vlmax(32, 8), kc.fconst(0.0), kc.fconst(1.0 / math.sqrt(dk)))
    kc.set32(1)
    kc.exp_setup(sub=False, regs=None)
    with kc.rep("b", bsz) as bi, kc.rep("h", h, ptrs=2) as hi, kc.rep("t", t, ptrs=3) as ti:
        g.token((bi * t + ti) * h + hi, (bi * h + hi) * (dv * dk))


class _Gdn:
    """The passes of one token of one head (:func:`gated_delta_net`)."""

    FEG, FBETA, FSUM, FX = F(1), F(2), F(5), F(6)
    ROW, VEC, ACC, SRC = V(8), V(24), V(16), V(28)  # m8 groups; SRC: the exp's (m4)

    def __init__(self, kc: Kc, dk: int, dv: int, vm: int, zero: Reg, scale: Reg) -> None:
        self.kc, self.b = kc, kc.b
        self.dk, self.dv, self.vm = dk, dv, vm
        self.zero, self.scale = zero, scale

    def strips8(self, n: int, var: str, body: Callable[[Affine, int], None]) -> None:
        for count, width, base in _blocks(n, self.vm):
            self.b.vsetvli(width, 32, 8)
            with self.kc.rep(var, count, ptrs=3) as i:
                body(i * width + base, width)

    def token(self, tok: Affine, sbase: Affine) -> None:
        """Token ``tok`` ([B,T,H] index) of the head whose state starts at ``sbase``."""
        b, dk, dv = self.b, self.dk, self.dv
        for x, buf in (("k32", "k"), ("q32", "q")):
            self.strips8(dk, "c", functools.partial(self.convert, x, buf, tok))
        self.kc.set32(1)
        b.emit("vle32.v", self.SRC, b.mem("g", tok, 32))
        self.kc.exp(self.SRC, self.SRC, tmps=(4, 6, 8, 10, 12))  # m4 groups v8 .. v24
        b.emit("vfmv.f.s", self.FEG, self.SRC, comment="exp(g)")
        b.emit("flw", self.FBETA, b.mem("beta", tok, 32))
        self.strips8(dk * dv, "s", lambda off, vl: self.scaled(sbase + off))
        with self.kc.rep("j", dv, ptrs=3) as j:  # delta[j] = (v[j] - S[:, j] . k) beta
            self.dot(sbase + j * dk, "k32")
            self.kc.sload(self.FX, "v", tok * dv + j)
            b.emit("fsub.s", self.FX, self.FX, self.FSUM)
            b.emit("fmul.s", self.FX, self.FX, self.FBETA)
            b.emit("fsw", self.FX, b.mem("delta", j, 32))
        with self.kc.rep("j", dv, ptrs=3) as j:  # S[:, j] += k delta[j]
            b.emit("flw", self.FX, b.mem("delta", j, 32))
            self.strips8(dk, "i", functools.partial(self.mad, sbase + j * dk))
        with self.kc.rep("j", dv, ptrs=3) as j:  # o[j] = S[:, j] . q / sqrt(Dk)
            self.dot(sbase + j * dk, "q32")
            b.emit("fmul.s", self.FSUM, self.FSUM, self.scale)
            if b.buffers["o"].dtype == "bf16":
                b.emit("fsh", self.FSUM, b.mem("o", tok * dv + j, 16))
            else:
                b.emit("fsw", self.FSUM, b.mem("o", tok * dv + j, 32))

    def convert(self, x: str, buf: str, tok: Affine, off: Affine, vl: int) -> None:
        """The token's row of ``buf`` as FP32 in scratch ``x``."""
        b = self.b
        if b.buffers[buf].dtype == "bf16":
            b.vsetvli(vl, 16, 4)
            b.emit("vle16.v", V(4), b.mem(buf, tok * self.dk + off, 16))
            b.emit("vfwcvtbf16.f.f.v", self.VEC, V(4))
            b.vsetvli(vl, 32, 8)
        else:
            b.emit("vle32.v", self.VEC, b.mem(buf, tok * self.dk + off, 32))
        b.emit("vse32.v", self.VEC, b.mem(x, off, 32))

    def scaled(self, at: Affine) -> None:
        """ggml_vec_scale_f32: one strip of the state times exp(g)."""
        b = self.b
        b.emit("vle32.v", self.ROW, b.mem("state_t", at, 32))
        b.emit("vfmul.vf", self.ROW, self.ROW, self.FEG)
        b.emit("vse32.v", self.ROW, b.mem("state_t", at, 32))

    def dot(self, row: Affine, x: str) -> None:
        """FSUM = state_t[row ..] . x (ggml_vec_dot_f32)."""
        b = self.b
        b.vsetvli(self.vm, 32, 8)
        b.emit("vmv.v.i", self.ACC, 0)

        def step(off: Affine, vl: int) -> None:
            b.emit("vle32.v", self.ROW, b.mem("state_t", row + off, 32))
            b.emit("vle32.v", self.VEC, b.mem(x, off, 32))
            b.emit("vfmacc.vv", self.ACC, self.ROW, self.VEC)
        self.strips8(self.dk, "i", step)
        b.vsetvli(self.vm, 32, 8)
        b.emit("vfmv.s.f", V(0), self.zero)
        b.emit("vfredusum.vs", V(1), self.ACC, V(0))
        b.emit("vfmv.f.s", self.FSUM, V(1))

    def mad(self, row: Affine, off: Affine, vl: int) -> None:
        """ggml_vec_mad_f32: one strip of ``state_t[row ..] += k32 x FX``."""
        b = self.b
        b.emit("vle32.v", self.VEC, b.mem("k32", off, 32))
        b.emit("vle32.v", self.ROW, b.mem("state_t", row + off, 32))
        b.emit("vfmadd.vf", self.VEC, self.FX, self.ROW, comment="k delta + row")
        b.emit("vse32.v", self.VEC, b.mem("state_t", row + off, 32))
