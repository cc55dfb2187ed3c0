"""Activations quantised to int8 blocks: llama.cpp's Q8_0 of the GEMM's A operand.

Integer dot-product kernels (the SpacemiT IME tiles of :mod:`isa.kernels.ime`, ggml's
block dot products of :mod:`isa.kernels.ggml`) multiply int8 weight codes with int8
activations, so A is quantised first, once per op: per row and per block of ``QK`` = 32
values along K (ggml ``QK8_0``), ``d = amax / 127`` and ``q = round(x / d)``.

The RVV sequence per block is ggml's ``quantize_row_q8_0`` (ggml-cpu/arch/riscv/quants.c):
``vfabs`` (here ``vfsgnjx.vv``), ``vfredmax`` to a scalar, the scalar scale, ``vfmul.vf``
by its reciprocal, ``vfncvt.x.f.w`` (FP32 -> int16, round to nearest even) and
``vncvt.x.x.w`` (``vnsrl.wi 0``: int16 -> int8). The scale is ``amax x (1/127)`` (a
multiply, as the IME path's ``quantize_a_row_i8``) and its reciprocal ``1 / max(d,
FLT_MIN)``: an all-zero block gives d = 0 and codes 0 without ggml's branch.

Layouts written (``Aq`` int8 codes, scales FP32 as the IME path keeps them, or 16-bit as a
``block_q8_0`` does):

- ``rows``: ``Aq[G, M, K]``, ``Ad[G, M, K/32]`` (16-bit), ggml's ``block_q8_0`` rows
  (the vec-dot GEMV reads them); with ``sums``, ggml's ``block_q8_1`` (the activations of
  a Q4_1 dot product, ``quantize_row_q8_1``): also ``As[G, M, K/32]`` (16-bit), each
  block's ``s = d x sum(q)`` (``vwredsum.vs`` of the codes to int16, ``vmv.x.s``, scalar
  convert and multiply by the FP32 d, stored 16-bit);
- ``tiles``: the IME's A tiles, ``Aq[G, MB, K/k_t, m_t, k_t]`` (MB = ceil(M / m_t) row blocks
  of the tile's m_t rows, k_t codes per row per tile: each tile one register) and
  ``Ad[G, MB, K/32, m_t]`` FP32, one scale per row and block (``fsw``), the m_t rows'
  scales of a block side by side: ggml's ``quantize_a_4row_i8`` (ime_kernels.cpp
  ``QuantizeAM4Row_CompInt8``: ``fsw f10, (a1)`` into a block header of 4 floats, 4 x
  (4 + 32) bytes per 4 rows and block), so A moves 1.125 bytes per element; rows past M
  of the last block are never written (their C rows are never stored). Each row's 32
  codes are stored as 32/k_t chunks of k_t bytes (``vslidedown`` + ``vse8``), ggml's
  ``quantize_a_4row_i8`` interleaving.
"""

from __future__ import annotations

from isa.errors import IsaError
from isa.instructions import ime_geometry
from isa.kernels.common import Kc
from isa.program import Affine, F, Reg, V, X

QK = 32  # ggml QK8_0
RMAX_RECIPROCAL = 1.0 / 127  # ggml ime1 quantize_a_row_i8: amax x (1 / ((1 << 7) - 1))
FLT_MIN = 1.1754943508222875e-38
LAYOUTS = ("rows", "tiles")
_SUM0, _SUM = V(28), V(29)  # Q8_1 sums: the int16 zero and the block's sum (free at VLEN >= 128)


def declare(kc: Kc, g: int, m: int, kk: int, layout: str, sums: bool = False) -> None:
    """The scratch buffers ``Aq`` / ``Ad`` of ``layout`` (``rows`` with ``sums``: ``As``)."""
    b = kc.b
    if kk % QK:
        raise IsaError(f"K={kk} is not a multiple of the Q8_0 block ({QK})")
    if layout == "rows":
        b.buffer("Aq", "int8", g * m * kk, "scratch", (g, m, kk))
        b.buffer("Ad", "bf16", g * m * (kk // QK), "scratch", (g, m, kk // QK))
        if sums:
            b.buffer("As", "bf16", g * m * (kk // QK), "scratch", (g, m, kk // QK))
        return
    t = ime_geometry(kc.core.vlen)
    mb = -(-m // t.m)
    b.buffer("Aq", "int8", g * mb * kk * t.m, "scratch", (g, mb, kk // t.k, t.m, t.k))
    b.buffer("Ad", "fp32", g * mb * (kk // QK) * t.m, "scratch", (g, mb, kk // QK, t.m))


def _lmul(vlen: int, sew: int) -> int:
    """The LMUL that holds one block of 32 elements of ``sew`` bits (at least 1)."""
    return max(1, QK * sew // vlen)


def quantize(kc: Kc, g: int, m: int, kk: int, layout: str, a: str = "A",
             sums: bool = False) -> None:
    """Emit the quantisation of every row of ``a`` ([G, M, K], the core dtype) into the
    ``layout`` buffers (declared by :func:`declare`); ``sums``: Q8_1 rows (``As``)."""
    if layout not in LAYOUTS:
        raise IsaError(f"unknown Q8_0 layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    if sums and layout != "rows":
        raise IsaError("Q8_1 block sums are written in the rows layout only")
    b = kc.b
    vlen = kc.core.vlen
    zero = kc.fconst(0.0)
    kc.fconst(RMAX_RECIPROCAL)
    kc.fconst(FLT_MIN)
    kc.fconst(1.0)
    b.vsetvli(1, 32, 1)
    b.emit("vfmv.s.f", V(1), zero, comment="max(|x|) starts at 0")
    if sums:
        b.vsetvli(1, 16, 1)
        b.emit("vmv.v.i", _SUM0, 0, comment="int16 sum starts at 0")
    t = ime_geometry(vlen)
    mb = -(-m // t.m)
    with kc.rep("g", g) as gi:
        if layout == "rows":
            with kc.rep("r", m, ptrs=3) as r:
                _row(kc, gi, r, kk, layout, row_off=gi * (m * kk) + r * kk,
                     q_off=gi * (m * kk) + r * kk, d_off=gi * (m * kk // QK) + r * (kk // QK),
                     sums=sums)
            return
        full, rem = divmod(m, t.m)
        for count, rows, base in ((full, t.m, 0), (1, rem, full * t.m)):
            if not (count and rows):
                continue
            with kc.rep("rb", count, ptrs=3) as rb:
                blk = gi * mb + rb + (base // t.m)
                for rr in range(rows):
                    _row(kc, gi, rb, kk, layout,
                         row_off=gi * (m * kk) + (rb * t.m + base + rr) * kk,
                         q_off=blk * (kk * t.m) + rr * t.k,
                         d_off=blk * ((kk // QK) * t.m) + rr)


def _row(kc: Kc, gi: Affine, r: Affine, kk: int, layout: str, row_off: Affine,
         q_off: Affine, d_off: Affine, sums: bool = False) -> None:
    """The blocks of one row: codes to ``Aq[q_off + ...]``, scales to ``Ad[d_off + ...]``."""
    b, vlen = kc.b, kc.core.vlen
    l32, l16, l8 = _lmul(vlen, 32), _lmul(vlen, 16), _lmul(vlen, 8)
    x, ax, q16, q8, tmp = V(8), V(16), V(24), V(4), V(6)
    fa, fd, fdd, fid = F(1), F(2), F(3), F(4)
    t = ime_geometry(vlen)
    with kc.rep("q", kk // QK, ptrs=3) as q:
        b.vsetvli(QK, 32, l32)
        if b.buffers["A"].dtype == "bf16":
            b.vsetvli(QK, 16, l16)
            b.emit("vle16.v", q16, b.mem("A", row_off + q * QK, 16))
            b.emit("vfwcvtbf16.f.f.v", x, q16)
            b.vsetvli(QK, 32, l32)
        else:
            b.emit("vle32.v", x, b.mem("A", row_off + q * QK, 32))
        b.emit("vfsgnjx.vv", ax, x, x, comment="|x|")
        b.emit("vfredmax.vs", V(2), ax, V(1))
        b.emit("vfmv.f.s", fa, V(2), comment="amax")
        b.emit("fmul.s", fd, fa, kc.fconst(RMAX_RECIPROCAL), comment="d = amax / 127")
        b.emit("fmax.s", fdd, fd, kc.fconst(FLT_MIN))
        b.emit("fdiv.s", fid, kc.fconst(1.0), fdd, comment="1/d")
        b.emit("vfmul.vf", x, x, fid)
        if layout == "rows":
            b.emit("fsh", fd, b.mem("Ad", d_off + q, 16))
        else:
            b.emit("fsw", fd, b.mem("Ad", d_off + q * t.m, 32))
        b.vsetvli(QK, 16, l16)
        b.emit("vfncvt.x.f.w", q16, x, comment="round to nearest even")
        b.vsetvli(QK, 8, l8)
        b.emit("vnsrl.wi", q8, q16, 0, comment="vncvt.x.x.w: int16 -> int8")
        if layout == "rows":
            b.emit("vse8.v", q8, b.mem("Aq", q_off + q * QK, 8))
            if sums:
                _block_sum(kc, q8, fd, d_off + q, l8)
        else:
            _store_chunks(kc, q8, tmp, q_off + q * (QK * t.m), t.m, t.k, l8)


def _block_sum(kc: Kc, q8: Reg, fd: Reg, off: Affine, lmul: int) -> None:
    """quantize_row_q8_1's ``s``: the block's codes summed to int16 (``vwredsum.vs``),
    moved to a scalar, times the FP32 d, stored 16-bit at ``As[off]``."""
    b = kc.b
    b.emit("vwredsum.vs", _SUM, q8, _SUM0, comment="sum of the codes (int16)")
    b.vsetvli(1, 16, 1)
    b.emit("vmv.x.s", X(7), _SUM)
    b.emit("fcvt.s.w", F(6), X(7))
    b.emit("fmul.s", F(6), F(6), fd, comment="s = d sum(q)")
    b.emit("fsh", F(6), b.mem("As", off, 16))


def _store_chunks(kc: Kc, q8: Reg, tmp: Reg, off: Affine, rows: int, chunk: int,
                  lmul: int) -> None:
    """The block's 32 codes as 32/chunk chunks of ``chunk`` bytes, ``rows * chunk`` apart."""
    b = kc.b
    b.vsetvli(chunk, 8, lmul)
    for c in range(QK // chunk):
        src = q8
        if c:
            b.emit("vslidedown.vi", tmp, q8, c * chunk)
            src = tmp
        b.emit("vse8.v", src, b.mem("Aq", off + c * rows * chunk, 8))
