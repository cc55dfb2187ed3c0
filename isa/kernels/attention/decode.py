"""Decode (Sq = 1), split-KV with the GQA group sharing K/V (FlashDecoding): the Skv keys
are cut into ``core.decode_splits`` partitions, each giving (m, l, o[D]) per query head that
a final step combines. The Hq/Hkv query heads of a group are served nh (<= 4, a divisor of
the group) at a time from one pass over the KV cache: each K chunk and V row is loaded once
for the nh heads (the cache is read Hq/Hkv times less than head by head; decode is bound by
it). Scores are dot products over D into 4 FP32 accumulators (one m2 group each, together
one m8 group), one per (head, key) slot: nh heads x 1 key, or 4 keys of one head. Plain RVV
reduces each with ``vfredusum`` (a scalar round trip per score), Xattn ``segred`` reduces
all 4 with one ``vfsegredsum.vv`` (G = VLEN/16). Softmax over the partition uses
``vfexpsub.vf`` (scalar max) when enabled; o is accumulated by ``vfwmaccbf16.vf`` with each
probability broadcast from a scalar, one accumulator per head.

"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

from isa.kernels.attention.schedule import Masking
from isa.kernels.common import Kc
from isa.program import Affine, F, Reg, V


def _group_chunk(grp: int) -> int:
    """Query heads of a GQA group served by one pass over K/V: the largest divisor of the
    group size that fits the 4 score accumulators."""
    return max(n for n in (4, 3, 2, 1) if grp % n == 0)


@dataclass(frozen=True)
class DecodePlan:
    """The register plan and partitioning of the split-KV decode kernel."""

    d: int
    skv: int  # keys visited (the last ``window`` with a sliding window)
    nh: int  # query heads sharing each K/V load
    nkk: int  # keys per score step (nh * nkk accumulators <= 4)
    g: int  # FP32 lanes of one m2 accumulator = segment size
    ch: int  # elements of a q/K chunk (e16 m1 or e32 m2)
    nch: int
    esz: int  # element width of Q/K/V in memory
    lm_in: int  # LMUL of q/K chunks at SEW=esz
    hoist_q: bool  # the q chunks of a single head stay in registers
    accs: tuple[Reg, ...]  # the 4 score accumulators (one m8 group)
    qtmps: tuple[Reg, ...]  # per-head q chunks (free during the score steps)
    qchunks: tuple[Reg, ...]
    nsp: int  # KV partitions
    part: int  # keys per partition (the last has ``last``)
    last: int
    olm: int  # LMUL of the o partial accumulators
    vo: int  # o columns per accumulator pass
    oaccs: tuple[Reg, ...]  # one FP32 o accumulator group per head of the chunk
    segred: bool


def plan(kc: Kc, grp: int, skv: int, d: int) -> DecodePlan:
    bf16 = kc.bf16
    nh = _group_chunk(grp)
    g = kc.core.vlen // 16
    ch = min(d, g)
    nch = math.ceil(d / ch)
    qregs_per = 1 if bf16 else 2
    hoist_q = nh == 1 and nch * qregs_per <= 8
    nsp = max(1, min(kc.core.decode_splits, skv))
    part = math.ceil(skv / nsp)
    nsp = math.ceil(skv / part)
    # o partials: one FP32 accumulator group per head of the chunk in v16..v31
    olm = 8 if nh <= 2 else 4
    return DecodePlan(
        d=d, skv=skv, nh=nh, nkk=4 if nh == 1 else 1, g=g, ch=ch, nch=nch,
        esz=16 if bf16 else 32, lm_in=1 if bf16 else 2, hoist_q=hoist_q,
        accs=tuple(V(16 + 2 * i) for i in range(4)), qtmps=(V(14), V(4), V(6), V(12)),
        qchunks=tuple(V(24 + qregs_per * i) for i in range(nch)) if hoist_q else (),
        nsp=nsp, part=part, last=skv - (nsp - 1) * part, olm=olm,
        vo=min(d, kc.core.vlmax(32, olm)), oaccs=tuple(V(16 + olm * j) for j in range(nh)),
        segred=kc.isa.has("vfsegredsum.vv"))


@dataclass
class HeadChunk:
    """The emitters of one pass over the KV cache of one KV head for ``nh`` query heads
    (the first is ``qh0``): scores into ``sc``, per-partition statistics into ``ml``, o
    partials into ``opart``, and the final combine into O."""

    kc: Kc
    p: DecodePlan
    qh0: Affine  # first query head of the chunk
    kbase: Affine
    fscale: Reg
    neg_inf: Reg
    fzero: Reg
    sink: Affine | None = None  # index of the chunk's first sink logit (sinks only)

    def set_in(self, vl: int) -> None:
        self.kc.b.vsetvli(vl, self.p.esz, self.p.lm_in)

    def load_q(self) -> None:
        """The q chunks of a single head, hoisted out of the KV loops."""
        p, b = self.p, self.kc.b
        if not p.hoist_q:
            return
        for c in range(p.nch):
            self.set_in(min(p.ch, p.d - c * p.ch))
            b.emit(f"vle{p.esz}.v", p.qchunks[c], b.mem("Q", self.qh0 * p.d + c * p.ch, p.esz))

    def scores(self, k0: Affine, nk: int) -> None:
        """sc[j*skv + k0 + i] = scale * q_j . K[k0 + i], i < nk, j < nh: each K chunk
        is loaded once for the nh query heads (slot = j*nk + i; nh*nk <= 4)."""
        p, b = self.p, self.kc.b
        b.vsetvli(p.nh * nk * p.g, 32, 8)
        b.emit("vmv.v.i", p.accs[0], 0, comment="score accumulators (m8 group)")
        for c in range(p.nch):
            self._score_chunk(k0, nk, c)
        if p.segred:
            self._reduce_segmented(k0, nk)
        else:
            self._reduce_each(k0, nk)

    def _score_chunk(self, k0: Affine, nk: int, c: int) -> None:
        p, b = self.p, self.kc.b
        self.set_in(min(p.ch, p.d - c * p.ch))
        if p.hoist_q:
            qs: tuple[Reg, ...] = (p.qchunks[c],)
        else:
            qs = p.qtmps[:p.nh]
            for j, q in enumerate(qs):
                b.emit(f"vle{p.esz}.v", q, b.mem("Q", (self.qh0 + j) * p.d + c * p.ch, p.esz))
        ktmp = V(8)
        for i in range(nk):
            b.emit(f"vle{p.esz}.v", ktmp,
                   b.mem("K", self.kbase + (k0 + i) * p.d + c * p.ch, p.esz))
            for j, q in enumerate(qs):
                b.emit("vfwmaccbf16.vv" if self.kc.bf16 else "vfmacc.vv", p.accs[j * nk + i],
                       q, ktmp)

    def _reduce_segmented(self, k0: Affine, nk: int) -> None:
        """Xattn: one vfsegredsum.vv reduces every slot."""
        p, b = self.p, self.kc.b
        slots = p.nh * nk
        b.vsetvli(slots * p.g, 32, 8)
        b.emit("vfsegredsum.vv", V(8), p.accs[0], p.g, comment="one dot product per slot")
        b.vsetvli(slots, 32, 1)
        b.emit("vfmul.vf", V(8), V(8), self.fscale)
        if p.nh == 1:
            b.emit("vse32.v", V(8), b.mem("sc", k0, 32))
        else:  # slot j = head j: one score per head row of sc
            b.emit("vsse32.v", V(8), b.mem("sc", k0, 32, "strided", p.skv))

    def _reduce_each(self, k0: Affine, nk: int) -> None:
        """Plain RVV: a vfredusum and a scalar round trip per score."""
        p, b = self.p, self.kc.b
        red, zero_r = V(10), V(12)
        b.vsetvli(p.g, 32, 2)
        for j in range(p.nh):
            for i in range(nk):
                b.emit("vfmv.s.f", zero_r, self.fzero)
                b.emit("vfredusum.vs", red, p.accs[j * nk + i], zero_r)
                b.emit("vfmv.f.s", F(1), red)
                b.emit("fmul.s", F(1), F(1), self.fscale)
                b.emit("fsw", F(1), b.mem("sc", j * p.skv + k0 + i, 32))

    def stats(self, s: Affine, k0: Affine, nk: int, j: Affine) -> None:
        """m, l of head j over the partition; p = exp(score - m) overwrites sc."""
        kc, b, p = self.kc, self.kc.b, self.p
        acc, xr, er, rr = V(4), V(6), V(8), V(20)
        row = j * p.skv + k0
        vfull = min(nk, kc.vlmax)
        kc.set32(vfull)
        b.emit("vfmv.v.f", acc, self.neg_inf)

        def p1(o: Affine, vl: int) -> None:
            b.emit("vle32.v", xr, b.mem("sc", row + o, 32))
            b.emit("vfmax.vv", acc, acc, xr)
        kc.strips(nk, "t", p1)
        kc.set32(vfull)
        b.emit("vfredmax.vs", rr, acc, acc)
        b.emit("vfmv.f.s", F(2), rr)
        b.emit("vfmv.v.f", acc, self.fzero)

        def p2(o: Affine, vl: int) -> None:
            b.emit("vle32.v", xr, b.mem("sc", row + o, 32))
            kc.exp(er, xr, sub=F(2))
            b.emit("vfadd.vv", acc, acc, er)
            b.emit("vse32.v", er, b.mem("sc", row + o, 32))
        kc.strips(nk, "t", p2)
        kc.set32(vfull)
        b.emit("vfmv.s.f", rr, self.fzero)
        b.emit("vfredusum.vs", rr, acc, rr)
        b.emit("vfmv.f.s", F(3), rr)
        b.emit("fsw", F(2), b.mem("ml", (j * p.nsp + s) * 2, 32))
        b.emit("fsw", F(3), b.mem("ml", (j * p.nsp + s) * 2 + 1, 32))

    def split(self, s: Affine, k0: Affine, nk: int) -> None:
        """Partition s (keys k0 .. k0+nk-1): scores, statistics, o partials."""
        kc, p = self.kc, self.p
        full, rem = divmod(nk, p.nkk)
        if full:
            with kc.rep("c", full, ptrs=2) as c:
                self.scores(k0 + c * p.nkk, p.nkk)
        if rem:
            self.scores(k0 + full * p.nkk, rem)
        with kc.rep("j", p.nh, ptrs=2) as j:
            self.stats(s, k0, nk, j)
        for c0 in range(0, p.d, p.vo):
            self._o_partials(s, k0, nk, c0)

    def _o_partials(self, s: Affine, k0: Affine, nk: int, c0: int) -> None:
        """o partials = sum_k p[j, k] V[k, :] for columns c0..: each V chunk loaded once
        for the nh heads."""
        kc, b, p = self.kc, self.kc.b, self.p
        w = min(p.vo, p.d - c0)
        b.vsetvli(w, 32, p.olm)
        for r in p.oaccs:
            b.emit("vmv.v.i", r, 0)
        if kc.bf16:
            b.vsetvli(w, 16, p.olm // 2)
        with kc.rep("k", nk, ptrs=3) as kk:
            b.emit(f"vle{p.esz}.v", V(8), b.mem("V", self.kbase + (k0 + kk) * p.d + c0, p.esz))
            for h, r in enumerate(p.oaccs):
                b.emit("flw", F(4 + h), b.mem("sc", h * p.skv + k0 + kk, 32))
                b.emit("vfwmaccbf16.vf" if kc.bf16 else "vfmacc.vf", r, F(4 + h), V(8))
        b.vsetvli(w, 32, p.olm)
        for h, r in enumerate(p.oaccs):
            b.emit("vse32.v", r, b.mem("opart", (h * p.nsp + s) * p.d + c0, 32))

    def combine(self, j: Affine) -> None:
        """Combine the partitions of head j: w_s = exp(m_s - M), L = sum w_s l_s,
        O = sum w_s o_s / L. With sinks M also covers the sink and L has one more term,
        exp(sink - M) (the reduction's initial value)."""
        kc, b, p = self.kc, self.kc.b, self.p
        mv, lv, wv = V(4), V(6), V(8)
        kc.set32(p.nsp)
        b.emit("vlse32.v", mv, b.mem("ml", j * (2 * p.nsp), 32, "strided", 2))
        if self.sink is not None:
            kc.sload(F(5), "sinks", self.sink + j)
            b.emit("vfmv.s.f", V(20), F(5))
            b.emit("vfredmax.vs", V(20), mv, V(20), comment="M = max(sink, m_s)")
        else:
            b.emit("vfredmax.vs", V(20), mv, mv)
        b.emit("vfmv.f.s", F(2), V(20))
        kc.exp(wv, mv, sub=F(2))
        b.emit("vse32.v", wv, b.mem("wv", 0, 32))
        b.emit("vlse32.v", lv, b.mem("ml", j * (2 * p.nsp) + 1, 32, "strided", 2))
        b.emit("vfmul.vv", lv, lv, wv)
        if self.sink is not None:
            b.emit("vfmv.v.f", V(22), F(5))
            kc.exp(V(20), V(22), sub=F(2))
        else:
            b.emit("vfmv.s.f", V(20), self.fzero)
        b.emit("vfredusum.vs", V(20), lv, V(20))
        b.emit("vfmv.f.s", F(3), V(20))
        b.emit("fdiv.s", F(3), kc.fconst(1.0), F(3))
        vc = min(p.d, kc.core.vlen // 4)
        for c0 in range(0, p.d, vc):
            self._weighted_sum(j, c0, min(vc, p.d - c0))

    def _weighted_sum(self, j: Affine, c0: int, w: int) -> None:
        """O[head j, c0:c0+w] = sum_s w_s o_s / L (1 / L in f3)."""
        kc, b, p = self.kc, self.kc.b, self.p
        b.vsetvli(w, 32, 8)
        b.emit("vmv.v.i", V(16), 0)
        with kc.rep("s", p.nsp, ptrs=2) as s:
            b.emit("flw", F(4), b.mem("wv", s, 32))
            b.emit("vle32.v", V(8), b.mem("opart", (j * p.nsp + s) * p.d + c0, 32))
            b.emit("vfmacc.vf", V(16), F(4), V(8))
        b.emit("vfmul.vf", V(16), V(16), F(3))
        obase = (self.qh0 + j) * p.d + c0
        if kc.bf16:
            b.vsetvli(w, 16, 4)
            b.emit("vfncvtbf16.f.f.w", V(8), V(16))
            b.emit("vse16.v", V(8), b.mem("O", obase, 16))
        else:
            b.emit("vse32.v", V(16), b.mem("O", obase, 32))


def decode(kc: Kc, bsz: int, hq: int, hkv: int, skv: int, d: int, mask: Masking) -> None:
    """One query per head against Skv keys; with a sliding window only the last
    ``window`` of them (the query is the last position)."""
    b = kc.b
    grp = hq // hkv
    first = skv - mask.window if mask.window else 0  # keys before the window: never read
    p = plan(kc, grp, skv - first, d)
    b.buffer("sc", "fp32", p.nh * p.skv, "scratch")
    b.buffer("ml", "fp32", 2 * p.nh * p.nsp, "scratch")
    b.buffer("wv", "fp32", p.nsp, "scratch")
    b.buffer("opart", "fp32", p.nh * p.nsp * d, "scratch")
    fscale = kc.fconst(1.0 / math.sqrt(d))
    neg_inf = kc.fconst(float("-inf"))
    fzero = kc.fconst(0.0)
    kc.set32(min(kc.vlmax, p.skv))
    kc.exp_setup(sub=True, regs=None)
    with ExitStack() as stack:
        bi = stack.enter_context(kc.rep("b", bsz))
        kh = stack.enter_context(kc.rep("h", hkv))
        hg = stack.enter_context(kc.rep("hg", grp // p.nh))
        hc = HeadChunk(kc, p, bi * hq + kh * grp + hg * p.nh,
                       (bi * hkv + kh) * (skv * d) + first * d, fscale, neg_inf, fzero,
                       kh * grp + hg * p.nh if mask.sinks else None)
        hc.load_q()
        if p.nsp - 1 > 0:
            with kc.rep("s", p.nsp - 1, ptrs=2) as s:
                hc.split(s, s * p.part, p.part)
        hc.split(Affine(p.nsp - 1), Affine((p.nsp - 1) * p.part), p.last)
        with kc.rep("j", p.nh, ptrs=2) as j:
            hc.combine(j)
