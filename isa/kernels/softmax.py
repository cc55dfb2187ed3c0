"""softmax over the last dim of M rows of N (FP32 compute).

Plain RVV, per row, three passes (riscv.md 4.3 "3-pass: max, exp-and-sum, scale"):
max (vfmax.vv strip accumulate + one vfredmax), exp-and-sum (exp(x - max) into an FP32
row buffer, vfadd accumulate + one vfredusum), scale (one scalar fdiv, vfmul.vf).
Xattn: vfexpsub.vf fuses the subtract, vfexp replaces the ~23-instruction polynomial.
With ``segred`` and short power-of-two rows (N <= VLMAX/2, as router softmaxes), several
rows share a register group: vfsegredmax/vfsegredsum give the per-row max/sum as a vector,
vrgather spreads them back; no per-row scalar round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.instructions import Isa
from isa.kernels import snitch
from isa.kernels.common import Kc, is_pow2, op_of, positive
from isa.program import Affine, F, Program, V

ACC, XR, ER, RED = V(4), V(6), V(8), V(30)


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    if core is not None and core.library == "snitch":
        vexp = Kc("probe", isa, core).isa.has("vfexp.v")
        return (snitch.lower_softmax_vexp if vexp else snitch.lower_softmax)(row, isa, core)
    op_of(row, "softmax", ("softmax",))
    m, n = positive(row, "M", "N")
    k = Kc(f"softmax M={m} N={n}", isa, core)
    b = k.b
    b.buffer("x", k.core.dtype, m * n, "in", (m, n))
    b.buffer("y", k.core.dtype, m * n, "out", (m, n))
    segmented = (k.isa.has("vfsegredmax.vv") and k.isa.has("vfsegredsum.vv") and is_pow2(n)
                 and 2 * n <= k.vlmax and m * n > n)
    if segmented:
        _segmented(k, m, n)
    else:
        emit_rows(k, m, n, "x", "y")
    return k.program(kind="softmax")


def emit_rows(k: Kc, m: int, n: int, xbuf: str, ybuf: str, scale: float = 1.0) -> None:
    """Row-at-a-time softmax of ``scale * x`` (3 passes, FP32 row buffer ``e``)."""
    b = k.b
    ebuf = "e"
    if ebuf not in b.buffers:
        b.buffer(ebuf, "fp32", n, "scratch")
    fmax, fsum, finv = F(1), F(2), F(3)
    neg_inf = k.fconst(float("-inf"))
    zero = k.fconst(0.0)
    sc = k.fconst(scale) if scale != 1.0 else None
    k.set32(min(n, k.vlmax))
    k.exp_setup(sub=True)
    vfull = min(n, k.vlmax)
    with k.rep("i", m, ptrs=2) as i:
        base = i * n
        # pass 1: max
        k.set32(vfull)
        b.emit("vfmv.v.f", ACC, neg_inf)

        def p1(off: Affine, vl: int) -> None:
            k.load(XR, xbuf, base + off)
            b.emit("vfmax.vv", ACC, ACC, XR)
        k.strips(n, "j", p1)
        k.set32(vfull)
        b.emit("vfredmax.vs", RED, ACC, ACC)
        b.emit("vfmv.f.s", fmax, RED)
        if sc is not None:
            b.emit("fmul.s", fmax, fmax, sc)
        # pass 2: e = exp(scale*x - max), sum
        b.emit("vfmv.v.f", ACC, zero)

        def p2(off: Affine, vl: int) -> None:
            k.load(XR, xbuf, base + off)
            if sc is not None:
                b.emit("vfmul.vf", XR, XR, sc)
            k.exp(ER, XR, sub=fmax)
            b.emit("vfadd.vv", ACC, ACC, ER)
            b.emit("vse32.v", ER, b.mem(ebuf, off, 32))
        k.strips(n, "j", p2)
        k.set32(vfull)
        b.emit("vfmv.s.f", RED, zero)
        b.emit("vfredusum.vs", RED, ACC, RED)
        b.emit("vfmv.f.s", fsum, RED)
        b.emit("fdiv.s", finv, k.fconst(1.0), fsum)

        # pass 3: scale
        def p3(off: Affine, vl: int) -> None:
            b.emit("vle32.v", ER, b.mem(ebuf, off, 32))
            b.emit("vfmul.vf", ER, ER, finv)
            k.store(ER, ybuf, base + off)
        k.strips(n, "j", p3)


def _segmented(k: Kc, m: int, n: int) -> None:
    b = k.b
    g = n
    rows_per = k.vlmax // g
    vfull = rows_per * g
    idx, mx, mb, sm = V(24), V(26), V(28), V(26)
    k.set32(vfull)
    b.emit("vid.v", idx)
    b.emit("vsrl.vi", idx, idx, g.bit_length() - 1, comment="idx[i] = i // G: row of lane i")
    k.exp_setup(sub=False, regs=(14, 16, 18, 20, 22))
    main, tail_rows = divmod(m, rows_per)

    def block(off: Affine, vl: int) -> None:
        k.load(XR, "x", off)
        b.emit("vfsegredmax.vv", mx, XR, g, comment=f"max of each row of {g}")
        b.emit("vrgather.vv", mb, mx, idx)
        b.emit("vfsub.vv", XR, XR, mb)
        k.exp(ER, XR, tmps=(4, 10, 12, 28, 30))
        b.emit("vfsegredsum.vv", sm, ER, g)
        k.recip(sm, sm)
        b.emit("vrgather.vv", mb, sm, idx)
        b.emit("vfmul.vv", ER, ER, mb)
        k.store(ER, "y", off)

    if main:
        k.set32(vfull)
        with k.rep("i", main, ptrs=2) as i:
            block(i * vfull, vfull)
    if tail_rows:
        k.set32(tail_rows * g)
        block(Affine(main * vfull), tail_rows * g)
