"""Top-k selection: reduction ``topk`` and the MoE ``router`` (softmax, top-k, renormalise).

Top-k on RVV is k passes over the row (riscv.md 2.1: reductions write element 0, masks
from compares, ``vfirst.m``):

- a row that fits one register group (N <= VLMAX at e32/m8) stays in registers: per pass
  ``vfredmax`` -> scalar max, ``vmfeq.vf`` + ``vfirst.m`` -> its first index, record both,
  then ``vmseq.vx`` against ``vid`` + ``vfmerge`` -inf removes that one element;
- a longer row lives in an FP32 scratch copy: per pass a max sweep (vfmax + vfredmax),
  an index sweep (vmfeq + masked ``vminu`` of global element indices + ``vredminu``),
  and a scalar store of -inf at that index through a base-register address.

Router: the renormalised top-k softmax weights are p_i / sum_topk p_j = e^(x_i - x_max) /
sum_topk e^(x_j - x_max): the full softmax denominator cancels, so top-k runs on the
logits (exp is monotonic) and only the k selected logits are exponentiated (``vfexpsub``
with Xattn). Outputs: ``weights`` FP32 [M, k], ``idx`` int32 [M, k] (descending weight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa
from isa.kernels.common import Kc, op_of, positive
from isa.program import Affine, F, Program, V, X

ROW, T1, T2 = V(8), V(16), V(24)  # m8 groups (v0-v7: mask and BF16 staging)


def _k(row: Mapping[str, Any], n: int) -> int:
    k = int(row.get("topk") or row.get("K") or 1)
    if not 1 <= k <= n:
        raise IsaError(f"top-k needs 1 <= topk <= N, got topk={k}, N={n}")
    return k


def lower_router(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "router", ("softmax_topk",))
    m, n = positive(row, "M", "N")
    k = _k(row, n)
    kc = Kc(f"router softmax_topk M={m} N={n} topk={k}", isa, core, lmul=8)
    b = kc.b
    b.buffer("x", kc.core.dtype, m * n, "in", (m, n))
    b.buffer("weights", "fp32", m * k, "out", (m, k))
    b.buffer("idx", "int32", m * k, "out", (m, k))
    kc.set32(min(n, kc.vlmax))
    kc.lmul = 2  # the exp of the k weights runs at m2 (polynomial temporaries)
    kc.set32(min(k, kc.vlmax))
    kc.exp_setup(sub=True, regs=None)
    kc.lmul = 8
    fzero = kc.fconst(0.0)
    fone = kc.fconst(1.0)
    with kc.rep("r", m, ptrs=2) as r:
        _topk_row(kc, r, n, k, "x", "weights", "idx")
        # weights = e^(x_i - x_max) / sum over the k selected
        kc.lmul = 2
        e, acc = V(4), V(6)
        b.emit("flw", F(1), b.mem("weights", r * k, 32), comment="x_max (first selected)")
        kc.set32(min(k, kc.vlmax))
        b.emit("vmv.v.i", acc, 0)

        def num(off: Affine, vl: int) -> None:
            b.emit("vle32.v", e, b.mem("weights", r * k + off, 32))
            kc.exp(e, e, sub=F(1))
            b.emit("vfadd.vv", acc, acc, e)
            b.emit("vse32.v", e, b.mem("weights", r * k + off, 32))
        kc.strips(k, "p", num)
        kc.set32(min(k, kc.vlmax))
        b.emit("vfmv.s.f", V(20), fzero)
        b.emit("vfredusum.vs", V(20), acc, V(20))
        b.emit("vfmv.f.s", F(2), V(20))
        b.emit("fdiv.s", F(2), fone, F(2))

        def scale(off: Affine, vl: int) -> None:
            b.emit("vle32.v", e, b.mem("weights", r * k + off, 32))
            b.emit("vfmul.vf", e, e, F(2))
            b.emit("vse32.v", e, b.mem("weights", r * k + off, 32))
        kc.strips(k, "p", scale)
        kc.lmul = 8
    return kc.program(kind="router", op="softmax_topk")


def lower_topk(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    """reduction ``topk``: the k largest of each row (``y`` FP32 [M,k]) and their indices."""
    m, n = positive(row, "M", "N")
    k = _k(row, n)
    kc = Kc(f"reduction topk M={m} N={n} topk={k}", isa, core, lmul=8)
    b = kc.b
    b.buffer("x", kc.core.dtype, m * n, "in", (m, n))
    b.buffer("y", "fp32", m * k, "out", (m, k))
    b.buffer("idx", "int32", m * k, "out", (m, k))
    with kc.rep("r", m, ptrs=2) as r:
        _topk_row(kc, r, n, k, "x", "y", "idx")
    return kc.program(kind="reduction", op="topk")


def _topk_row(kc: Kc, r: Affine, n: int, k: int, xbuf: str, vbuf: str, ibuf: str) -> None:
    b = kc.b
    vm = kc.vlmax  # e32 / m8
    ninf = kc.fconst(float("-inf"))
    fmax = F(1)
    if n <= vm:
        kc.set32(n)
        kc.load(ROW, xbuf, r * n)
        b.emit("vid.v", T1)
        with kc.rep("p", k, ptrs=2) as p:
            b.emit("vfredmax.vs", T2, ROW, ROW)
            b.emit("vfmv.f.s", fmax, T2)
            b.emit("vmfeq.vf", V(0), ROW, fmax)
            b.emit("vfirst.m", X(6), V(0), comment="index of the (first) maximum")
            b.emit("fsw", fmax, b.mem(vbuf, r * k + p, 32))
            b.emit("sw", X(6), b.mem(ibuf, r * k + p, 32))
            b.emit("vmseq.vx", V(0), T1, X(6))
            b.emit("vfmerge.vfm", ROW, ROW, ninf, comment="remove it")
        return
    if "row" not in b.buffers:
        b.buffer("row", "fp32", n, "scratch")

    def copy(off: Affine, vl: int) -> None:
        kc.load(ROW, xbuf, r * n + off)
        b.emit("vse32.v", ROW, b.mem("row", off, 32))
    kc.strips(n, "j", copy)
    with kc.rep("p", k, ptrs=2) as p:
        kc.set32(vm)
        b.emit("vfmv.v.f", ROW, ninf)

        def mx(off: Affine, vl: int) -> None:
            b.emit("vle32.v", T1, b.mem("row", off, 32))
            b.emit("vfmax.vv", ROW, ROW, T1)
        kc.strips(n, "j", mx)
        kc.set32(vm)
        b.emit("vfredmax.vs", T2, ROW, ROW)
        b.emit("vfmv.f.s", fmax, T2)
        b.emit("vmv.v.i", ROW, -1, comment="candidate indices (unsigned max)")
        b.emit("addi", X(7), X(0), 0, comment="element index of the strip")

        def ix(off: Affine, vl: int) -> None:
            b.emit("vle32.v", T1, b.mem("row", off, 32))
            b.emit("vmfeq.vf", V(0), T1, fmax)
            b.emit("vid.v", T2)
            b.emit("vadd.vx", T2, T2, X(7))
            b.emit("vminu.vv", ROW, ROW, T2, masked=True)
            b.emit("addi", X(7), X(7), vl)
        kc.strips(n, "j", ix)
        kc.set32(vm)
        b.emit("vredminu.vs", T2, ROW, ROW)
        b.emit("vmv.x.s", X(6), T2, comment="first index of the maximum")
        b.emit("fsw", fmax, b.mem(vbuf, r * k + p, 32))
        b.emit("sw", X(6), b.mem(ibuf, r * k + p, 32))
        b.emit("slli", X(28), X(6), 2)
        b.emit("fsw", ninf, b.mem("row", 0, 32, base=X(28)), comment="remove it")
