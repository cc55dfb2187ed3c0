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

from isa.kernels.common import Kc
from isa.program import Affine, F, V


def _group_chunk(grp: int) -> int:
    """Query heads of a GQA group served by one pass over K/V: the largest divisor of the
    group size that fits the 4 score accumulators."""
    return max(n for n in (4, 3, 2, 1) if grp % n == 0)


def decode(kc: Kc, bsz: int, hq: int, hkv: int, skv: int, d: int) -> None:  # noqa: C901, PLR0915  (over the size ceiling: to split)
    b = kc.b
    bf16 = kc.bf16
    vlen = kc.core.vlen
    grp = hq // hkv
    nh = _group_chunk(grp)  # query heads sharing each K/V load
    nkk = 4 if nh == 1 else 1  # keys per score step (nh * nkk accumulators <= 4)
    g = vlen // 16  # FP32 lanes of one m2 accumulator = segment size
    ch = min(d, g)  # elements of a q/K chunk (e16 m1 or e32 m2)
    nch = math.ceil(d / ch)
    qregs_per = 1 if bf16 else 2
    hoist_q = nh == 1 and nch * qregs_per <= 8
    accs = [V(16 + 2 * i) for i in range(4)]
    ktmp, red, zero_r = V(8), V(10), V(12)
    qtmps = [V(14), V(4), V(6), V(12)]  # per-head q chunks (free during the score steps)
    qchunks = [V(24 + qregs_per * i) for i in range(nch)] if hoist_q else []
    nsp = max(1, min(kc.core.decode_splits, skv))
    part = math.ceil(skv / nsp)
    nsp = math.ceil(skv / part)
    last = skv - (nsp - 1) * part
    # o partials: one FP32 accumulator group per head of the chunk in v16..v31
    olm = 8 if nh <= 2 else 4
    vo = min(d, kc.core.vlmax(32, olm))
    oaccs = [V(16 + olm * j) for j in range(nh)]
    segred = kc.isa.has("vfsegredsum.vv")
    b.buffer("sc", "fp32", nh * skv, "scratch")
    b.buffer("ml", "fp32", 2 * nh * nsp, "scratch")
    b.buffer("wv", "fp32", nsp, "scratch")
    b.buffer("opart", "fp32", nh * nsp * d, "scratch")
    fscale = kc.fconst(1.0 / math.sqrt(d))
    neg_inf = kc.fconst(float("-inf"))
    fzero = kc.fconst(0.0)
    kc.set32(min(kc.vlmax, skv))
    kc.exp_setup(sub=True, regs=None)
    esz = 16 if bf16 else 32
    lm_in = 1 if bf16 else 2  # LMUL of q/K chunks at SEW=esz

    def set_in(vl: int) -> None:
        b.vsetvli(vl, esz, lm_in)

    from contextlib import ExitStack
    with ExitStack() as stack:
        bi = stack.enter_context(kc.rep("b", bsz))
        kh = stack.enter_context(kc.rep("h", hkv))
        hg = stack.enter_context(kc.rep("hg", grp // nh))
        qh0 = bi * hq + kh * grp + hg * nh  # first query head of the chunk
        kbase = (bi * hkv + kh) * (skv * d)
        if hoist_q:
            for c in range(nch):
                set_in(min(ch, d - c * ch))
                b.emit(f"vle{esz}.v", qchunks[c], b.mem("Q", qh0 * d + c * ch, esz))

        def scores(k0: Affine, nk: int) -> None:
            """sc[j*skv + k0 + i] = scale * q_j . K[k0 + i], i < nk, j < nh: each K chunk
            is loaded once for the nh query heads (slot = j*nk + i; nh*nk <= 4)."""
            slots = nh * nk
            b.vsetvli(slots * g, 32, 8)
            b.emit("vmv.v.i", accs[0], 0, comment="score accumulators (m8 group)")
            for c in range(nch):
                set_in(min(ch, d - c * ch))
                if hoist_q:
                    qs = [qchunks[c]]
                else:
                    qs = qtmps[:nh]
                    for j, q in enumerate(qs):
                        b.emit(f"vle{esz}.v", q, b.mem("Q", (qh0 + j) * d + c * ch, esz))
                for i in range(nk):
                    b.emit(f"vle{esz}.v", ktmp, b.mem("K", kbase + (k0 + i) * d + c * ch, esz))
                    for j, q in enumerate(qs):
                        b.emit("vfwmaccbf16.vv" if bf16 else "vfmacc.vv", accs[j * nk + i],
                               q, ktmp)
            if segred:
                b.vsetvli(slots * g, 32, 8)
                b.emit("vfsegredsum.vv", V(8), accs[0], g, comment="one dot product per slot")
                b.vsetvli(slots, 32, 1)
                b.emit("vfmul.vf", V(8), V(8), fscale)
                if nh == 1:
                    b.emit("vse32.v", V(8), b.mem("sc", k0, 32))
                else:  # slot j = head j: one score per head row of sc
                    b.emit("vsse32.v", V(8), b.mem("sc", k0, 32, "strided", skv))
            else:
                b.vsetvli(g, 32, 2)
                for j in range(nh):
                    for i in range(nk):
                        b.emit("vfmv.s.f", zero_r, fzero)
                        b.emit("vfredusum.vs", red, accs[j * nk + i], zero_r)
                        b.emit("vfmv.f.s", F(1), red)
                        b.emit("fmul.s", F(1), F(1), fscale)
                        b.emit("fsw", F(1), b.mem("sc", j * skv + k0 + i, 32))

        def stats(s: Affine, k0: Affine, nk: int, j: Affine) -> None:
            """m, l of head j over the partition; p = exp(score - m) overwrites sc."""
            acc, xr, er, rr = V(4), V(6), V(8), V(20)
            row = j * skv + k0
            vfull = min(nk, kc.vlmax)
            kc.set32(vfull)
            b.emit("vfmv.v.f", acc, neg_inf)

            def p1(o: Affine, vl: int) -> None:
                b.emit("vle32.v", xr, b.mem("sc", row + o, 32))
                b.emit("vfmax.vv", acc, acc, xr)
            kc.strips(nk, "t", p1)
            kc.set32(vfull)
            b.emit("vfredmax.vs", rr, acc, acc)
            b.emit("vfmv.f.s", F(2), rr)
            b.emit("vfmv.v.f", acc, fzero)

            def p2(o: Affine, vl: int) -> None:
                b.emit("vle32.v", xr, b.mem("sc", row + o, 32))
                kc.exp(er, xr, sub=F(2))
                b.emit("vfadd.vv", acc, acc, er)
                b.emit("vse32.v", er, b.mem("sc", row + o, 32))
            kc.strips(nk, "t", p2)
            kc.set32(vfull)
            b.emit("vfmv.s.f", rr, fzero)
            b.emit("vfredusum.vs", rr, acc, rr)
            b.emit("vfmv.f.s", F(3), rr)
            b.emit("fsw", F(2), b.mem("ml", (j * nsp + s) * 2, 32))
            b.emit("fsw", F(3), b.mem("ml", (j * nsp + s) * 2 + 1, 32))

        def split(s: Affine, k0: Affine, nk: int) -> None:
            full, rem = divmod(nk, nkk)
            if full:
                with kc.rep("c", full, ptrs=2) as c:
                    scores(k0 + c * nkk, nkk)
            if rem:
                scores(k0 + full * nkk, rem)
            with kc.rep("j", nh, ptrs=2) as j:
                stats(s, k0, nk, j)
            # o partials = sum_k p[j, k] V[k, :]: each V chunk loaded once for nh heads
            for c0 in range(0, d, vo):
                w = min(vo, d - c0)
                b.vsetvli(w, 32, olm)
                for r in oaccs:
                    b.emit("vmv.v.i", r, 0)
                if bf16:
                    b.vsetvli(w, 16, olm // 2)
                with kc.rep("k", nk, ptrs=3) as kk:
                    b.emit(f"vle{esz}.v", V(8), b.mem("V", kbase + (k0 + kk) * d + c0, esz))
                    for h, r in enumerate(oaccs):
                        b.emit("flw", F(4 + h), b.mem("sc", h * skv + k0 + kk, 32))
                        b.emit("vfwmaccbf16.vf" if bf16 else "vfmacc.vf", r, F(4 + h), V(8))
                b.vsetvli(w, 32, olm)
                for h, r in enumerate(oaccs):
                    b.emit("vse32.v", r, b.mem("opart", (h * nsp + s) * d + c0, 32))

        if nsp - 1 > 0:
            with kc.rep("s", nsp - 1, ptrs=2) as s:
                split(s, s * part, part)
        split(Affine(nsp - 1), Affine((nsp - 1) * part), last)
        # combine the partitions of each head: w_s = exp(m_s - M), L = sum w_s l_s,
        # O = sum w_s o_s / L
        with kc.rep("j", nh, ptrs=2) as j:
            mv, lv, wv = V(4), V(6), V(8)
            kc.set32(nsp)
            b.emit("vlse32.v", mv, b.mem("ml", j * (2 * nsp), 32, "strided", 2))
            b.emit("vfredmax.vs", V(20), mv, mv)
            b.emit("vfmv.f.s", F(2), V(20))
            kc.exp(wv, mv, sub=F(2))
            b.emit("vse32.v", wv, b.mem("wv", 0, 32))
            b.emit("vlse32.v", lv, b.mem("ml", j * (2 * nsp) + 1, 32, "strided", 2))
            b.emit("vfmul.vv", lv, lv, wv)
            b.emit("vfmv.s.f", V(20), fzero)
            b.emit("vfredusum.vs", V(20), lv, V(20))
            b.emit("vfmv.f.s", F(3), V(20))
            b.emit("fdiv.s", F(3), kc.fconst(1.0), F(3))
            vc = min(d, vlen // 4)
            for c0 in range(0, d, vc):
                w = min(vc, d - c0)
                b.vsetvli(w, 32, 8)
                b.emit("vmv.v.i", V(16), 0)
                with kc.rep("s", nsp, ptrs=2) as s:
                    b.emit("flw", F(4), b.mem("wv", s, 32))
                    b.emit("vle32.v", V(8), b.mem("opart", (j * nsp + s) * d + c0, 32))
                    b.emit("vfmacc.vf", V(16), F(4), V(8))
                b.emit("vfmul.vf", V(16), V(16), F(3))
                obase = (qh0 + j) * d + c0
                if bf16:
                    b.vsetvli(w, 16, 4)
                    b.emit("vfncvtbf16.f.f.w", V(8), V(16))
                    b.emit("vse16.v", V(8), b.mem("O", obase, 16))
                else:
                    b.emit("vse32.v", V(16), b.mem("O", obase, 32))
