"""linear_attention: the gated delta rule of Qwen3.5's Gated DeltaNet (qwen.md 4.2).

Semantics follow transformers' ``torch_recurrent_gated_delta_rule`` (decode, ``chunk=0``)
and ``torch_chunk_gated_delta_rule`` (prefill, ``chunk`` > 0) with q and k already
l2-normalised (the trace emits those as separate ``norm/l2norm`` rows); the kernel applies
the 1/sqrt(Dk) query scaling. Per head, with state S [Dk, Dv] (FP32):

    S <- exp(g_t) S;  delta = beta_t (v_t - S^T k_t);  S <- S + k_t delta^T;
    o_t = S^T q_t / sqrt(Dk)

Layouts (token-major, as the projections produce them): q, k [B,T,H,Dk], v, o [B,T,H,Dv]
in the core dtype; g (log decay), beta [B,T,H] FP32; state [B,H,Dk,Dv] FP32, updated in
place (T = Sq new tokens, H = Hq value heads).

Everything is vectorised along Dv (strips of VLMAX at e32/m4); scalars of q, k and of the
small chunk matrices are broadcast by ``vfmacc.vf`` (the RVV outer-product GEMM style of
``isa.kernels.gemm``), so no operand is ever loaded transposed in the inner loops.

Decode (recurrent): per token and head, two passes over the Dk rows of each Dv strip of
S: pass 1 ``acc = sum_d k[d] S[d]``, then ``delta = beta (v - exp(g) acc)``; pass 2 updates
each row ``S[d] = exp(g) S[d] + k[d] delta`` (stored back) and accumulates
``o += q[d] S[d]``. exp(g) of all heads of a token is one vector exp.

Prefill (chunked, chunk C, the last chunk may be shorter: the reference's zero padding
contributes nothing, so the tail chunk simply has fewer rows). Per head and chunk of L rows:

1. decay vectors over the L positions: cum = cumsum(g) by a log-step scan (vslideup +
   vfadd, carry across strips), ecum = exp(cum), ecq = ecum / sqrt(Dk),
   edec = exp(cum_L - cum) (``vfexpsub.vf`` with Xattn), beta;
2. K^T of the chunk by Dk strided loads (once per chunk, amortised over the L x L x Dk
   Gram products); Gram rows ``KK[i,:] = k_i . K^T`` and ``QK[i,:] = q_i . K^T``
   (3 rows per block, vfmacc.vf); per row i the pairwise decay exp(cum_i - cum_j) is
   one vector exp, giving A[i,j] = beta_i KK[i,j] e^(cum_i-cum_j) (j < i) and
   P[i,j] = QK[i,j] e^(cum_i-cum_j) / sqrt(Dk) (j <= i), masks by compares against a
   position vector;
3. per Dv strip: ``KS = K S`` and ``QS = Q S`` (3 rows per block); the right-hand side
   ``r_i = beta_i (v_i - ecum_i KS_i)``; forward substitution ``x_i = r_i - sum_{j<i} A_ij
   x_j`` (the unit-lower solve of the reference, applied to ``v_beta - k_cumdecay S`` at
   once, which is the same by linearity and avoids solving for k_cumdecay), blocked by 6
   rows; ``o_i = ecq_i QS_i + sum_{j<=i} P_ij x_j`` (blocked by 6 rows); the state update
   ``S[d] = e^(cum_L) S[d] + sum_j edec_j k_j[d] x_j`` (6 rows of S per block, the scaled
   K^T as scalars).

The exponentials are the RVV polynomial (riscv.md 4.3) or Xattn ``vfexp``/``vfexpsub``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa
from isa.kernels import ggml
from isa.kernels.common import Kc, field, op_of, positive
from isa.program import Affine, F, Program, Reg, V

OPS = ("chunk_gated_delta_rule", "recurrent_gated_delta_rule")
LMUL = 4
GROUPS = tuple(V(4 * i) for i in range(1, 8))  # v4 .. v28 (m4); v0 is the mask
EXP_TMPS = (4, 6, 8, 10, 12)  # -> v8, v12, v16, v20, v24 at m4
EXP_SRC = V(28)
GEMM_ROWS = 3  # rows per block of the two-output GEMMs (2 x 3 accumulators + 1 operand)
SOLVE_ROWS = 6  # rows per block of the triangular solve / output / state update


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "linear_attention", OPS)
    bsz, h, t, dk, dv = positive(row, "B", "Hq", "Sq", "D", "Dv")
    chunk = field(row, "chunk", 0)
    if op == "chunk_gated_delta_rule" and chunk <= 0:
        raise IsaError("chunk_gated_delta_rule needs chunk > 0 (the chunk length, e.g. 64)")
    if op == "recurrent_gated_delta_rule" and chunk:
        raise IsaError("recurrent_gated_delta_rule needs chunk = 0")
    kc = Kc(f"linear_attention {op} B={bsz} H={h} T={t} Dk={dk} Dv={dv}"
            + (f" chunk={chunk}" if chunk else ""), isa, core, lmul=LMUL)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("q", dt, bsz * t * h * dk, "in", (bsz, t, h, dk))
    b.buffer("k", dt, bsz * t * h * dk, "in", (bsz, t, h, dk))
    b.buffer("v", dt, bsz * t * h * dv, "in", (bsz, t, h, dv))
    b.buffer("g", "fp32", bsz * t * h, "in", (bsz, t, h))
    b.buffer("beta", "fp32", bsz * t * h, "in", (bsz, t, h))
    b.buffer("o", dt, bsz * t * h * dv, "out", (bsz, t, h, dv))
    if kc.core.library == "llamacpp":  # ggml's fused op, the recurrence in both phases
        ggml.gated_delta_net(kc, bsz, h, t, dk, dv)
        return kc.program(kind="linear_attention", op=op, kernel="ggml gated_delta_net",
                          phase="prefill" if chunk else "decode")
    b.buffer("state", "fp32", bsz * h * dk * dv, "inout", (bsz, h, dk, dv))
    if chunk:
        _chunked(kc, bsz, h, t, dk, dv, chunk)
    else:
        _recurrent(kc, bsz, h, t, dk, dv)
    return kc.program(kind="linear_attention", op=op, phase="prefill" if chunk else "decode")


def _exp(kc: Kc, dst: Reg, src: Reg, sub: Reg | None = None) -> None:
    kc.exp(dst, src, sub=sub, tmps=EXP_TMPS)


# ---- decode: the recurrent step ----------------------------------------------------------
def _recurrent(kc: Kc, bsz: int, h: int, t: int, dk: int, dv: int) -> None:
    b = kc.b
    acc, dl, srow, o = V(8), V(12), V(16), V(20)
    feg, fbeta, fk, fq = F(1), F(2), F(3), F(4)
    b.buffer("eg", "fp32", h, "scratch")
    kc.set32(min(h, kc.vlmax))
    kc.exp_setup(sub=False, regs=None)
    fscale = kc.fconst(1.0 / math.sqrt(dk))
    with kc.rep("b", bsz) as bi, kc.rep("t", t) as ti:
        tok = bi * t + ti  # token row of the [B,T,H] tensors

        def decays(off: Affine, vl: int) -> None:
            b.emit("vle32.v", EXP_SRC, b.mem("g", tok * h + off, 32))
            _exp(kc, EXP_SRC, EXP_SRC)
            b.emit("vse32.v", EXP_SRC, b.mem("eg", off, 32))
        kc.strips(h, "e", decays)
        with kc.rep("h", h, ptrs=2) as hi:
            b.emit("flw", feg, b.mem("eg", hi, 32))
            b.emit("flw", fbeta, b.mem("beta", tok * h + hi, 32))
            sbase = (bi * h + hi) * (dk * dv)
            kbase = (tok * h + hi) * dk
            vbase = (tok * h + hi) * dv

            def strip(off: Affine, vl: int) -> None:
                b.emit("vmv.v.i", acc, 0)
                with kc.rep("d", dk, ptrs=3) as d:
                    b.emit("vle32.v", srow, b.mem("state", sbase + d * dv + off, 32))
                    kc.sload(fk, "k", kbase + d)
                    b.emit("vfmacc.vf", acc, fk, srow, comment="S^T k")
                kc.load(dl, "v", vbase + off)
                b.emit("vfnmsac.vf", dl, feg, acc, comment="v - exp(g) S^T k")
                b.emit("vfmul.vf", dl, dl, fbeta, comment="delta")
                b.emit("vmv.v.i", o, 0)
                with kc.rep("d", dk, ptrs=3) as d:
                    b.emit("vle32.v", srow, b.mem("state", sbase + d * dv + off, 32))
                    b.emit("vfmul.vf", srow, srow, feg)
                    kc.sload(fk, "k", kbase + d)
                    b.emit("vfmacc.vf", srow, fk, dl, comment="S[d] += k[d] delta")
                    b.emit("vse32.v", srow, b.mem("state", sbase + d * dv + off, 32))
                    kc.sload(fq, "q", kbase + d)
                    b.emit("vfmacc.vf", o, fq, srow, comment="o += q[d] S[d]")
                b.emit("vfmul.vf", o, o, fscale)
                kc.store(o, "o", vbase + off)
            kc.strips(dv, "j", strip)


# ---- prefill: the chunked algorithm ----------------------------------------------------
def _chunked(kc: Kc, bsz: int, h: int, t: int, dk: int, dv: int, c: int) -> None:
    b = kc.b
    vmax = kc.vlmax
    b.buffer("cum", "fp32", c, "scratch")  # -cum (negated: the vfexpsub operand)
    b.buffer("ecum", "fp32", c, "scratch")
    b.buffer("ecq", "fp32", c, "scratch")
    b.buffer("edec", "fp32", c, "scratch")
    b.buffer("bt", "fp32", c, "scratch")
    b.buffer("kt", "fp32", dk * c, "scratch")
    b.buffer("A", "fp32", c * c, "scratch")
    b.buffer("P", "fp32", c * c, "scratch")
    b.buffer("xs", "fp32", c * vmax, "scratch")
    b.buffer("oq", "fp32", c * vmax, "scratch")
    b.buffer("pos", "fp32", c, "const", (c,))
    b.consts["pos"] = np.arange(c, dtype=np.float32)
    kc.set32(min(c, vmax))
    kc.exp_setup(sub=False, regs=None)  # ecum needs a plain exp as well
    fscale = kc.fconst(1.0 / math.sqrt(dk))
    fzero = kc.fconst(0.0)
    fone = kc.fconst(1.0)
    nfull, tail = divmod(t, c)
    with kc.rep("b", bsz) as bi, kc.rep("h", h, ptrs=2) as hi:
        def one_chunk(t0: Affine, n: int) -> None:
            _Chunk(kc, bi, hi, t0, n, h, t, dk, dv, c, fscale, fzero, fone).emit()
        if nfull:
            with kc.rep("c", nfull, ptrs=2) as ci:
                one_chunk(ci * c, c)
        if tail:
            one_chunk(Affine(nfull * c), tail)


@dataclass
class _Chunk:
    """One chunk of ``n`` rows starting at token ``t0`` of sequence ``bi``, head ``hi``:
    where its rows live and the constants its stages share. The stages emit, in order, the
    decay vectors, K^T, the Gram rows, the pairwise decays, the scaled keys, then per Dv
    strip the KS/QS products, the triangular solve, the output and the state update."""

    kc: Kc
    bi: Affine
    hi: Affine
    t0: Affine
    n: int
    h: int
    t: int
    dk: int
    dv: int
    c: int
    fscale: Reg
    fzero: Reg
    fone: Reg

    @property
    def gidx(self) -> Affine:  # [B,T,H] index of the chunk's first row (stride h)
        return (self.bi * self.t + self.t0) * self.h + self.hi

    @property
    def qk0(self) -> Affine:  # [B,T,H,Dk] index of row 0 (row stride h*dk)
        return self.gidx * self.dk

    @property
    def v0(self) -> Affine:
        return self.gidx * self.dv

    @property
    def sbase(self) -> Affine:
        return (self.bi * self.h + self.hi) * (self.dk * self.dv)

    def emit(self) -> None:
        self.decays()
        self.keys_t()
        _blocks(self.kc, self.n, GEMM_ROWS, "ib", self.gram)
        self.pairwise()
        self.kscale()
        self.kc.b.emit("flw", F(3), self.kc.b.mem("ecum", self.n - 1, 32),
                       comment="chunk decay e^(cum_last)")
        self.kc.strips(self.dv, "vs", self.vstrip)

    # 1. decay vectors: cum (scan), ecum, ecq, edec, beta
    def decays(self) -> None:
        kc, b, h, gidx = self.kc, self.kc.b, self.h, self.gidx
        cur, tmp = V(4), V(8)
        fcarry, flast = F(1), F(2)
        b.emit("fmv.s", fcarry, self.fzero)

        def scan(off: Affine, vl: int) -> None:
            b.emit("vlse32.v", cur, b.mem("g", gidx + off * h, 32, "strided", h))
            kc.running_sum(cur, tmp, fcarry, vl, note="running cumsum carry")
            b.emit("vfsgnjn.vv", tmp, cur, cur)
            b.emit("vse32.v", tmp, b.mem("cum", off, 32), comment="-cum")
            _exp(kc, cur, cur)
            b.emit("vse32.v", cur, b.mem("ecum", off, 32))
            b.emit("vfmul.vf", cur, cur, self.fscale)
            b.emit("vse32.v", cur, b.mem("ecq", off, 32))
            b.emit("vlse32.v", cur, b.mem("beta", gidx + off * h, 32, "strided", h))
            b.emit("vse32.v", cur, b.mem("bt", off, 32))
        kc.strips(self.n, "s", scan)
        b.emit("fsub.s", flast, self.fzero, fcarry, comment="-cum_last")

        def edec(off: Affine, vl: int) -> None:
            b.emit("vle32.v", cur, b.mem("cum", off, 32))
            _exp(kc, cur, cur, sub=flast)  # e^(-cum_j + cum_last)
            b.emit("vse32.v", cur, b.mem("edec", off, 32))
        kc.strips(self.n, "s", edec)

    # 2. K^T of the chunk (strided loads, once per chunk)
    def keys_t(self) -> None:
        kc, b, stride = self.kc, self.kc.b, self.h * self.dk
        with kc.rep("d", self.dk, ptrs=2) as d:
            def kt(off: Affine, vl: int) -> None:
                kc.load(V(4), "k", self.qk0 + off * stride + d, stride=stride)
                b.emit("vse32.v", V(4), b.mem("kt", d * self.c + off, 32))
            kc.strips(self.n, "s", kt)

    # Gram rows KK[i,:] -> A, QK[i,:] -> P; GEMM_ROWS rows per block
    def gram(self, i0: Affine, rows: int) -> None:
        kc, b, c = self.kc, self.kc.b, self.c
        accs = GROUPS[:2 * rows]
        op_r = GROUPS[6]

        def strip(off: Affine, vl: int) -> None:
            for a in accs:
                b.emit("vmv.v.i", a, 0)
            self._k_q_rows(i0, rows, op_r, lambda d: b.mem("kt", d * c + off, 32),
                           ("k_i . k_j", "q_i . k_j"))
            for r in range(rows):
                b.emit("vse32.v", accs[2 * r], b.mem("A", (i0 + r) * c + off, 32))
                b.emit("vse32.v", accs[2 * r + 1], b.mem("P", (i0 + r) * c + off, 32))
        kc.strips(self.n, "s", strip)

    def _k_q_rows(self, i0: Affine, rows: int, operand: Reg, row_d: Callable[[Affine], Any],
                  notes: tuple[str, str]) -> None:
        """For rows i0..i0+rows-1: ``acc[2r] += k_i[d] * operand``, ``acc[2r+1] += q_i[d] *
        operand`` over d < Dk, where ``operand`` is loaded from ``row_d(d)`` (two products
        per row sharing one vector load)."""
        kc, b, stride, accs = self.kc, self.kc.b, self.h * self.dk, GROUPS[:2 * rows]
        with kc.rep("d", self.dk, ptrs=3) as d:
            b.emit("vle32.v", operand, row_d(d))
            for r in range(rows):
                for i, src in enumerate("kq"):
                    kc.sload(F(4 + 2 * r + i), src, self.qk0 + (i0 + r) * stride + d)
                    b.emit("vfmacc.vf", accs[2 * r + i], F(4 + 2 * r + i), operand,
                           comment=notes[i])

    # pairwise decays and masks, row by row (fn = float(i) for the position compares)
    def pairwise(self) -> None:
        kc, b, c, fzero, fn = self.kc, self.kc.b, self.c, self.fzero, F(3)
        dd, av, pv, posv = V(4), V(12), V(16), V(20)
        b.emit("fmv.s", fn, fzero)
        with kc.rep("i", self.n, ptrs=2) as i:
            b.emit("flw", F(4), b.mem("cum", i, 32))
            b.emit("flw", F(5), b.mem("bt", i, 32))

            def decay(off: Affine, vl: int) -> None:
                b.emit("vle32.v", EXP_SRC, b.mem("cum", off, 32))
                _exp(kc, dd, EXP_SRC, sub=F(4))  # e^(-cum_j + cum_i)
                b.emit("vle32.v", posv, b.mem("pos", off, 32))
                b.emit("vle32.v", av, b.mem("A", i * c + off, 32))
                b.emit("vfmul.vv", av, av, dd)
                b.emit("vfmul.vf", av, av, F(5))
                b.emit("vmfge.vf", V(0), posv, fn,
                       comment="j >= i: outside the strict lower part")
                b.emit("vfmerge.vfm", av, av, fzero)
                b.emit("vse32.v", av, b.mem("A", i * c + off, 32))
                b.emit("vle32.v", pv, b.mem("P", i * c + off, 32))
                b.emit("vfmul.vv", pv, pv, dd)
                b.emit("vfmul.vf", pv, pv, self.fscale)
                b.emit("vmfgt.vf", V(0), posv, fn, comment="j > i: future key")
                b.emit("vfmerge.vfm", pv, pv, fzero)
                b.emit("vse32.v", pv, b.mem("P", i * c + off, 32))
            kc.strips(self.n, "s", decay)
            b.emit("fadd.s", fn, fn, self.fone)

    # scaled keys for the state update: kt[d, j] *= edec[j]
    def kscale(self) -> None:
        kc, b, c = self.kc, self.kc.b, self.c
        cur, tmp = V(4), V(8)
        with kc.rep("d", self.dk, ptrs=2) as d:
            def body(off: Affine, vl: int) -> None:
                b.emit("vle32.v", cur, b.mem("kt", d * c + off, 32))
                b.emit("vle32.v", tmp, b.mem("edec", off, 32))
                b.emit("vfmul.vv", cur, cur, tmp)
                b.emit("vse32.v", cur, b.mem("kt", d * c + off, 32))
            kc.strips(self.n, "s", body)

    # 3. per Dv strip: KS, QS; solve; output; state update
    def vstrip(self, voff: Affine, vl: int) -> None:
        _blocks(self.kc, self.n, GEMM_ROWS, "ib", lambda i0, rows: self.ks_qs(voff, i0, rows))
        self.solve()
        self.output(voff)
        _blocks(self.kc, self.dk, SOLVE_ROWS, "db", lambda d0, rows: self.update(voff, d0, rows))

    def ks_qs(self, voff: Affine, i0: Affine, rows: int) -> None:
        kc, b = self.kc, self.kc.b
        accs = GROUPS[:2 * rows]
        srow = GROUPS[6]
        for a in accs:
            b.emit("vmv.v.i", a, 0)
        self._k_q_rows(i0, rows, srow,
                       lambda d: b.mem("state", self.sbase + d * self.dv + voff, 32),
                       ("k_i^T S", "q_i^T S"))
        for r in range(rows):
            i = i0 + r
            b.emit("flw", F(4), b.mem("ecum", i, 32))
            b.emit("flw", F(5), b.mem("bt", i, 32))
            kc.load(srow, "v", self.v0 + i * (self.h * self.dv) + voff)
            b.emit("vfnmsac.vf", srow, F(4), accs[2 * r], comment="v_i - ecum_i k_i^T S")
            b.emit("vfmul.vf", srow, srow, F(5))
            b.emit("vse32.v", srow, b.mem("xs", i * kc.vlmax, 32))
            b.emit("flw", F(6), b.mem("ecq", i, 32))
            b.emit("vfmul.vf", accs[2 * r + 1], accs[2 * r + 1], F(6))
            b.emit("vse32.v", accs[2 * r + 1], b.mem("oq", i * kc.vlmax, 32))

    def _sum_rows(self, count: int, row0: Affine | int, accs: tuple[Reg, ...], matrix: str,
                  op: str) -> None:
        """``accs[r] (op)= sum_{j < count} matrix[row0 + r, j] x_j`` as a loop over j."""
        kc, b, xj = self.kc, self.kc.b, GROUPS[6]
        with kc.rep("j", count, ptrs=2) as j:
            b.emit("vle32.v", xj, b.mem("xs", j * kc.vlmax, 32))
            for r in range(len(accs)):
                b.emit("flw", F(4 + r), b.mem(matrix, (row0 + r) * self.c + j, 32))
                b.emit(op, accs[r], F(4 + r), xj)

    # forward substitution x_i = r_i - sum_{j<i} A_ij x_j (static blocks: trip i0)
    def solve(self) -> None:
        b, vmax, c = self.kc.b, self.kc.vlmax, self.c
        for i0 in range(0, self.n, SOLVE_ROWS):
            accs = GROUPS[:min(SOLVE_ROWS, self.n - i0)]
            for r, acc in enumerate(accs):
                b.emit("vle32.v", acc, b.mem("xs", (i0 + r) * vmax, 32))
            if i0:
                self._sum_rows(i0, i0, accs, "A", "vfnmsac.vf")
            for r, acc in enumerate(accs):
                for s in range(r):
                    b.emit("flw", F(4), b.mem("A", (i0 + r) * c + i0 + s, 32))
                    b.emit("vfnmsac.vf", acc, F(4), accs[s])
                b.emit("vse32.v", acc, b.mem("xs", (i0 + r) * vmax, 32))

    # output o_i = ecq_i QS_i + sum_{j<=i} P_ij x_j
    def output(self, voff: Affine) -> None:
        kc, b, vmax, c, xj = self.kc, self.kc.b, self.kc.vlmax, self.c, GROUPS[6]
        for i0 in range(0, self.n, SOLVE_ROWS):
            rows = min(SOLVE_ROWS, self.n - i0)
            accs = GROUPS[:rows]
            for r, acc in enumerate(accs):
                b.emit("vle32.v", acc, b.mem("oq", (i0 + r) * vmax, 32))
            if i0:
                self._sum_rows(i0, i0, accs, "P", "vfmacc.vf")
            for s in range(rows):
                b.emit("vle32.v", xj, b.mem("xs", (i0 + s) * vmax, 32))
                for r in range(s, rows):
                    b.emit("flw", F(4 + r), b.mem("P", (i0 + r) * c + i0 + s, 32))
                    b.emit("vfmacc.vf", accs[r], F(4 + r), xj)
            for r, acc in enumerate(accs):
                kc.store(acc, "o", self.v0 + (i0 + r) * (self.h * self.dv) + voff)

    # state update S[d] = e^(cum_last) S[d] + sum_j (edec_j k_j[d]) x_j
    def update(self, voff: Affine, d0: Affine, rows: int) -> None:
        b = self.kc.b
        accs = GROUPS[:rows]
        for r, acc in enumerate(accs):
            b.emit("vle32.v", acc, b.mem("state", self.sbase + (d0 + r) * self.dv + voff, 32))
            b.emit("vfmul.vf", acc, acc, F(3))
        self._sum_rows(self.n, d0, accs, "kt", "vfmacc.vf")
        for r, acc in enumerate(accs):
            b.emit("vse32.v", acc, b.mem("state", self.sbase + (d0 + r) * self.dv + voff, 32))


def _blocks(kc: Kc, n: int, rows: int, var: str, body) -> None:
    """``body(first_row, rows)`` over ``n`` rows in blocks of ``rows`` (a loop) + a tail."""
    full, rest = divmod(n, rows)
    if full:
        with kc.rep(var, full, ptrs=2) as blk:
            body(blk * rows, rows)
    if rest:
        body(Affine(full * rows), rest)
