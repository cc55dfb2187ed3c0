"""attention (SDPA with GQA and causal mask): FlashAttention-2 prefill, split-KV decode.

Layouts: Q [B,Hq,Sq,D], K/V [B,Hkv,Skv,D], O [B,Hq,Sq,D]; scale 1/sqrt(D); query r sits
at position Skv - Sq + r (the new tokens are the last Sq of the context).

Prefill (Sq > 1), FlashAttention-2 vectorised over queries: a block of Br = VLMAX(e32,m2)
queries is one vector. Q^T for the block is built once (D strided loads, amortised over
all Skv keys) into an FP32 scratch; K and V are only ever read row-major as *scalars*
broadcast by ``vfmacc.vf`` (no K^T strided loads: the riscv.md 4.2 trap). S for Bc keys
is Bc vector registers (one per key), so the online-softmax row statistics are plain
element-wise vfmax/vfadd across registers: no reductions at all. Per key block: S (D x
(vle + Bc x (flh + vfmacc.vf))), causal mask (vmslt.vx + vfmerge, diagonal blocks only),
new max, alpha = exp(m - m_new), P = exp(S - m_new), l = alpha*l + sum P,
O^T = alpha*O^T + P V (D x (vle + vfmul + Bc x (flh + vfmacc.vf) + vse)); O = O^T / l at
the end (vfrdiv.vf on RVV, vfrec.v with Xattn), stored with D strided stores.
Bc = ``core.attn_bc`` (8) when exp is one instruction; 4 on plain RVV, whose polynomial
exp needs 5 temporaries (register budget: 14 free m2 groups).
Causal query blocks have different numbers of key blocks, but loop trip counts are
constants, so the causal triangle is cut into constant-shape pieces: pass 1 (a loop over
query blocks) builds Q^T and does the diagonal band (the mask depends only on positions
relative to the block: same code for every block) and the keys before the new tokens; the
strictly lower triangle of block pairs (i, j < i) is split dyadically into squares (i and
j first differ in bit l: square size 2^l), one loop per level over its squares; a last
pass divides by l. Per query block Q^T, O^T and (m, l) live in scratch between passes.
The work is exactly causal and the static size grows with log2(Sq / Br) (~1.1k
instructions at Sq=2048, was ~37k with one code per query block).

Prefill with Xattn ``mmacc`` (BF16; :func:`mmacc_tile`):
FlashAttention-2 on vfwmmacc tiles, S = Q K^T and O += P V as tile multiplies, P rounded
to BF16 for PV (as FA2 on tensor cores), online softmax on the vector unit with
vfsegredmax/vfsegredsum row statistics and vfexp (:func:`_prefill_mmacc`); the same
causal schedule (band pass + dyadic squares). The whole Br = K_t query blocks run as tiles
and the last Sq mod Br queries (e.g. a 2001-token prefill) as one RVV query block (scratch
of its own); keys must still come in whole blocks (D, and Skv - Sq causal / Skv otherwise,
multiples of K_t) and Sq >= Br. Other shapes run the RVV kernel above. Without vfexp the
exp is the RVV polynomial one register at a time (LMUL=1: its 5 temporaries fit in the Q/K
tile registers, free during the softmax); without segred each row reduction is a
vslidedown tree inside the rows of a tile, stored and reloaded with stride N_t.

Decode (Sq = 1), split-KV with the GQA group sharing K/V (FlashDecoding): the Skv keys
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
from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa, TileGeometry, tile_geometry
from isa.kernels.common import Kc, op_of, positive
from isa.program import Affine, F, Program, V, X


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "attention", ("sdpa",))
    bsz, hq, hkv, sq, skv, d = positive(row, "B", "Hq", "Hkv", "Sq", "Skv", "D")
    causal = bool(row.get("causal", False))
    if hq % hkv:
        raise IsaError(f"attention needs Hq ({hq}) to be a multiple of Hkv ({hkv})")
    if sq > skv:
        raise IsaError(f"attention needs Sq ({sq}) <= Skv ({skv})")
    window = int(row.get("window", 0) or 0)
    if 0 < window < skv:  # with Skv <= window the window masks nothing: plain causal
        raise IsaError(f"sliding-window attention (window {window} < Skv {skv}) has no "
                       "kernel yet (issue #13)")
    kc = Kc(f"attention B={bsz} Hq={hq} Hkv={hkv} Sq={sq} Skv={skv} D={d}"
            f"{' causal' if causal else ''}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("Q", dt, bsz * hq * sq * d, "in", (bsz, hq, sq, d))
    b.buffer("K", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    b.buffer("V", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    b.buffer("O", dt, bsz * hq * sq * d, "out", (bsz, hq, sq, d))
    if sq == 1:
        _decode(kc, bsz, hq, hkv, skv, d)
        phase = "decode"
    else:
        t = mmacc_tile(kc, sq, skv, d, causal)
        if t is not None:
            _prefill_mmacc(kc, t, bsz, hq, hkv, sq, skv, d, causal)
            if sq % t.k:  # the last Sq mod Br queries: one RVV query block
                _prefill(kc, bsz, hq, hkv, sq, skv, d, causal, q0=sq - sq % t.k)
        else:
            _prefill(kc, bsz, hq, hkv, sq, skv, d, causal)
        phase = "prefill"
    return kc.program(kind="attention", phase=phase)


def _heads(kc: Kc, bsz: int, hq: int, hkv: int):
    """Yields (query head, kv head) as affine expressions inside nested head loops."""
    grp = hq // hkv
    from contextlib import ExitStack
    stack = ExitStack()
    bi = stack.enter_context(kc.rep("b", bsz))
    kh = stack.enter_context(kc.rep("h", hkv))
    gq = stack.enter_context(kc.rep("g", grp))
    return stack, bi * hq + kh * grp + gq, bi * hkv + kh


# ---- prefill -------------------------------------------------------------------------------
def _prefill(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int,
             causal: bool, q0: int = 0) -> None:
    """All queries, or with ``q0`` > 0 only queries q0.. (fewer than a block: the remainder
    of the tile path, with scratch buffers of its own)."""
    b = kc.b
    br = kc.vlmax  # queries per block (e32, m2)
    if q0 and sq - q0 > br:
        raise IsaError(f"RVV prefill remainder of {sq - q0} queries exceeds a block of {br}")
    sfx = "_r" if q0 else ""
    qt_buf, oacc_buf = "qt" + sfx, "oacc" + sfx
    poly = kc.exp_needs_poly(False)
    bc = 4 if poly else max(1, min(kc.core.attn_bc, 8))
    regs = [V(4 + 2 * i) for i in range(14)]
    s_regs = regs[:bc]
    m_r, l_r, mn_r, al_r, q_r = regs[bc:bc + 5]
    tmps = tuple(r.n for r in regs[bc + 5:bc + 10]) if poly else ()
    qp_r = regs[bc + 5]
    # causal: per query block Q^T, O^T and (m, l) live in scratch between the passes
    nblk = (sq // br + (1 if sq % br else 0)) if causal and not q0 else 1
    b.buffer(qt_buf, "fp32", nblk * d * br, "scratch")
    b.buffer(oacc_buf, "fp32", nblk * d * br, "scratch")
    if causal and not q0:
        b.buffer("ml", "fp32", nblk * 2 * br, "scratch")
    scale = 1.0 / math.sqrt(d)
    fscale = kc.fconst(scale)
    neg_inf = kc.fconst(float("-inf"))
    kc.set32(min(br, sq - q0))
    kc.exp_setup(regs=None)
    off = skv - sq  # position of query 0
    stack, qh, kvh = _heads(kc, bsz, hq, hkv)
    with stack:
        qbase = qh * (sq * d)
        kbase = kvh * (skv * d)

        def kblock(sb: Affine, c0: Affine, w: int, mask: tuple[int, int] | None) -> None:
            _key_block(kc, kbase, sb, c0, w, mask, s_regs, m_r, l_r, mn_r, al_r, q_r,
                       qp_r, tmps, d, br, neg_inf, qt_buf, oacc_buf)

        def run(sb: Affine, k0: Affine | int, n: int) -> None:
            """Unmasked keys k0 .. k0+n-1: a constant-trip loop of Bc-key blocks + tail."""
            full, rem = divmod(n, bc)
            if full:
                with kc.rep("kb", full, ptrs=2) as kb:
                    kblock(sb, Affine.of(k0) + kb * bc, bc, None)
            if rem:
                kblock(sb, Affine.of(k0) + full * bc, rem, None)

        def init(q0: Affine | int, sb: Affine, nq: int) -> None:
            kc.set32(nq)
            b.emit("vmv.v.i", l_r, 0)
            with kc.rep("d", d, ptrs=3) as dd:
                kc.load(q_r, "Q", qbase + Affine.of(q0) * d + dd, stride=d)
                b.emit("vfmul.vf", q_r, q_r, fscale)
                b.emit("vse32.v", q_r, b.mem(qt_buf, sb + dd * br, 32))
                b.emit("vse32.v", l_r, b.mem(oacc_buf, sb + dd * br, 32))
            b.emit("vfmv.v.f", m_r, neg_inf)

        def finish(q0: Affine | int, sb: Affine, nq: int) -> None:
            kc.set32(nq)
            kc.recip(al_r, l_r)
            with kc.rep("d", d, ptrs=3) as dd:
                b.emit("vle32.v", q_r, b.mem(oacc_buf, sb + dd * br, 32))
                b.emit("vfmul.vv", q_r, q_r, al_r)
                kc.store(q_r, "O", qbase + Affine.of(q0) * d + dd, stride=d)

        def diagonal(q0: Affine | int, sb: Affine, nq: int) -> None:
            """Keys at the positions of the block's own queries (the diagonal band): the
            mask only depends on positions relative to the block, so it is the same code
            for every query block. Key 0 of the band is visible to every query of the
            block: the running max is finite after the first band block."""
            for c0 in range(0, nq, bc):
                kblock(sb, Affine.of(q0) + off + c0, min(bc, nq - c0), (0, c0))

        if q0:  # the remainder of the tile path: one partial query block
            init(q0, Affine(0), sq - q0)
            if causal:
                diagonal(q0, Affine(0), sq - q0)
                run(Affine(0), 0, off + q0)
            else:
                run(Affine(0), 0, skv)
            finish(q0, Affine(0), sq - q0)
            return
        nfull, tail = divmod(sq, br)
        if not causal:
            if nfull:
                with kc.rep("qb", nfull, ptrs=2) as qb:
                    init(qb * br, Affine(0), br)
                    run(Affine(0), 0, skv)
                    finish(qb * br, Affine(0), br)
            if tail:
                init(nfull * br, Affine(0), tail)
                run(Affine(0), 0, skv)
                finish(nfull * br, Affine(0), tail)
            return

        # Causal, as a loop nest whose size does not grow with Sq. Query block i (of N)
        # sees the keys before the new tokens [0, off), the key blocks j < i of the new
        # tokens (unmasked) and its diagonal band (masked). Pass 1 (loop over i): Q^T, the
        # band and [0, off). The strictly lower triangle {(i, j): j < i} is split into
        # squares (dyadic: i and j first differ in bit l; square size S = 2^l): level l
        # is one loop over its squares x the S query blocks of a square x a constant S*Br
        # keys, with (m, l) saved per query block between visits. Every (i, j) is visited
        # once: the work is exactly causal. Last pass: O = O^T / l.
        def ml_io(sb_ml: Affine, store: bool) -> None:
            op = "vse32.v" if store else "vle32.v"
            b.emit(op, m_r, b.mem("ml", sb_ml, 32))
            b.emit(op, l_r, b.mem("ml", sb_ml + br, 32))

        if nfull:
            with kc.rep("qb", nfull, ptrs=2) as i:
                sb = i * (d * br)
                init(i * br, sb, br)
                diagonal(i * br, sb, br)
                if off:
                    run(sb, 0, off)
                ml_io(i * (2 * br), True)
            def visit(blk: Affine, k0: Affine, n: int) -> None:
                kc.set32(br)
                ml_io(blk * (2 * br), False)
                run(blk * (d * br), k0, n)
                ml_io(blk * (2 * br), True)
            _lower_triangle(kc, nfull, br, off, visit)
            with kc.rep("qb", nfull, ptrs=2) as i:
                kc.set32(br)
                b.emit("vle32.v", l_r, b.mem("ml", i * (2 * br) + br, 32))
                finish(i * br, i * (d * br), br)
        if tail:
            sb = Affine(nfull * d * br)
            init(nfull * br, sb, tail)
            diagonal(nfull * br, sb, tail)
            run(sb, 0, off + nfull * br)
            finish(nfull * br, sb, tail)


def _lower_triangle(kc: Kc, nblk: int, br: int, off: int, visit) -> None:
    """The block pairs (i, j < i) of ``nblk`` query blocks of ``br`` rows against the key
    blocks of the new tokens, as dyadic squares: i and j first differ in bit l, so the
    square of size S = 2^l holding (i, j) has query blocks [(2s+1)S, (2s+2)S) and key
    blocks [2sS, (2s+1)S). Level l is one loop over its full squares x their S query
    blocks (+ one loop for a clipped last square): ``visit(block, first key, keys)`` with
    a constant key count per level, every pair exactly once."""
    size = 1
    while size < nblk:
        size *= 2
    size //= 2
    while size >= 1:
        nsqr = nblk // (2 * size)
        groups = [(nsqr, size)] if nsqr else []
        r0 = (2 * nsqr + 1) * size
        if r0 < nblk:
            groups.append((1, nblk - r0))
        base = 0
        for count, rows in groups:
            with kc.rep("sqr", count, ptrs=2) as s, kc.rep("qi", rows, ptrs=2) as qi:
                blk = s * (2 * size) + qi + (base * 2 + 1) * size
                visit(blk, (s * (2 * size) + base * 2 * size) * br + off, size * br)
            base += count
        size //= 2


def _key_block(kc: Kc, kbase: Affine, sb: Affine, c0: Affine, w: int,
               mask: tuple[int, int] | None, s_regs, m_r, l_r, mn_r, al_r, q_r, qp_r, tmps,
               d: int, br: int, neg_inf, qt_buf: str = "qt", oacc_buf: str = "oacc"
               ) -> None:
    """One block of w keys c0.. for the query block whose Q^T / O^T scratch starts at sb.
    ``mask = (q, k)``: query lane r has relative position q + r, key c relative k + c;
    keys after the query are masked."""
    b = kc.b
    s = s_regs[:w]
    for r in s:
        b.emit("vmv.v.i", r, 0)
    with kc.rep("d", d, ptrs=3) as dd:
        b.emit("vle32.v", q_r, b.mem(qt_buf, sb + dd * br, 32))
        for c, r in enumerate(s):
            kc.sload(F(1 + c), "K", kbase + (c0 + c) * d + dd)
            b.emit("vfmacc.vf", r, F(1 + c), q_r, comment="S[:, c] += Q^T[d] * K[c, d]")
    if mask is not None:
        qrel, krel = mask
        b.emit("vid.v", qp_r)
        if qrel:
            b.emit("addi", X(21), X(0), qrel)
            b.emit("vadd.vx", qp_r, qp_r, X(21), comment="query positions")
        for c, r in enumerate(s):
            b.emit("addi", X(22), X(0), krel + c)
            b.emit("vmslt.vx", V(0), qp_r, X(22), comment="query before key: masked")
            b.emit("vfmerge.vfm", r, r, neg_inf)
    b.emit("vfmax.vv", mn_r, m_r, s[0])
    for r in s[1:]:
        b.emit("vfmax.vv", mn_r, mn_r, r)
    b.emit("vfsub.vv", al_r, m_r, mn_r)
    kw = {"tmps": tmps} if tmps else {}
    kc.exp(al_r, al_r, **kw)
    b.emit("vmv.v.v", m_r, mn_r)
    for r in s:
        b.emit("vfsub.vv", r, r, mn_r)
        kc.exp(r, r, **kw)
    b.emit("vfmul.vv", l_r, l_r, al_r)
    for r in s:
        b.emit("vfadd.vv", l_r, l_r, r)
    with kc.rep("d", d, ptrs=3) as dd:
        b.emit("vle32.v", q_r, b.mem(oacc_buf, sb + dd * br, 32))
        b.emit("vfmul.vv", q_r, q_r, al_r)
        for c, r in enumerate(s):
            kc.sload(F(1 + c), "V", kbase + (c0 + c) * d + dd)
            b.emit("vfmacc.vf", q_r, F(1 + c), r, comment="O^T[d] += P[:, c] * V[c, d]")
        b.emit("vse32.v", q_r, b.mem(oacc_buf, sb + dd * br, 32))


# ---- prefill with vfwmmacc tiles ------------------------------------------------------------
_MMACC_NEEDS = ("vfwmmacc.vv", "vmtl.v", "vmts.v")


def mmacc_tile(kc: Kc, sq: int, skv: int, d: int, causal: bool) -> TileGeometry | None:
    """The vfwmmacc tile of the tile-path prefill, or None when it does not apply.

    The S block is 2x2 C tiles (Br = Bc = K_t = 2*N_t queries/keys, C tiles of <= 4
    registers): with 4 S tiles (16 registers), 2 Q tiles and a K tile the register file
    is full. Without vfexp the RVV exp polynomial runs one register at a time (LMUL=1,
    5 temporaries in the free Q/K registers, coefficients in f registers); without segred
    the row reductions are a vslidedown tree within each row plus a strided reload."""
    if not all(kc.isa.has(m) for m in _MMACC_NEEDS) or not kc.bf16:
        return None
    for lm in (4, 2, 1):
        t = tile_geometry(kc.core.vlen, lm)
        if t.c_regs <= 4 and t.k == 2 * t.n and t.m == t.n and t.n <= 16:
            break
    else:
        return None
    bk = t.k
    if d % bk or sq < bk or (skv - sq if causal else skv) % bk:
        return None
    return t


def _prefill_mmacc(kc: Kc, t: TileGeometry, bsz: int, hq: int, hkv: int, sq: int, skv: int,
                   d: int, causal: bool) -> None:
    """FlashAttention-2 with S = Q K^T and O += P V as vfwmmacc tiles (BF16 in, FP32
    accumulate); P is rounded to BF16 for the PV product (as FA2 on tensor cores).
    Blocks of Br = Bc = K_t queries/keys; S is 2x2 C tiles in v16..v31. Q and K tiles come
    straight from the row-major [S, D] layouts (vmtl, pitch D); PV needs V^T (keys
    contiguous), built once per KV head into a BF16 scratch by strided loads and reused by
    all query blocks and the Hq/Hkv heads of the group. O (Br x D FP32) does not fit in
    registers: it lives in scratch per query block, rescaled by alpha tile by tile. Row
    statistics: vfsegredmax/vfsegredsum over the N_t columns of each S tile, per-row
    values broadcast to the tile layout by vrgather (index = element / N_t)."""
    b = kc.b
    lm = next(x for x in (4, 2, 1) if tile_geometry(kc.core.vlen, x) == t)
    cl = t.c_regs
    m, n, k = t.m, t.n, t.k
    br = k  # queries per block = keys per block
    full16 = kc.core.vlmax(16, lm)
    per_reg = kc.core.vlen // 32
    lg = int(math.log2(n))
    nblk = sq // br
    off = skv - sq
    s_t = [[V(16 + 4 * (2 * qt + kt)) for kt in range(2)] for qt in range(2)]
    kreg, qregs = V(4), (V(8), V(12))
    b.buffer("vt", "bf16", d * skv, "scratch")
    b.buffer("oacc", "fp32", nblk * br * d, "scratch")
    b.buffer("ml", "fp32", nblk * 2 * br, "scratch")
    b.buffer("pt", "bf16", br * br, "scratch")
    fscale = kc.fconst(1.0 / math.sqrt(d))
    neg_inf = kc.fconst(float("-inf"))
    fzero = kc.fconst(0.0)
    segred = kc.isa.has("vfsegredmax.vv") and kc.isa.has("vfsegredsum.vv")
    vfexp = kc.isa.has("vfexp.v")
    etmps = (8, 9, 10, 11, 12)  # m1 exp temporaries (RVV polynomial): free Q/K registers
    if not vfexp:
        kc.exp_setup(regs=None)
    if not segred:
        b.buffer("red", "fp32", m * n, "scratch")

    def tiles32() -> None:
        b.vsetvli(m * n, 32, cl)

    def tiles16() -> None:
        b.vsetvli(full16, 16, lm)

    def per_row() -> None:
        b.vsetvli(m, 32, 1)

    with kc.rep("b", bsz) as bi, kc.rep("h", hkv) as kh:
        kbase = (bi * hkv + kh) * (skv * d)
        # V^T of this KV head: vt[c, key] = V[key, c]
        vl16 = kc.core.vlmax(16, 8)
        with kc.rep("c", d, ptrs=3) as c:
            full, rem = divmod(skv, vl16)
            for cnt, w, base in ((full, vl16, 0), (1 if rem else 0, rem, full * vl16)):
                if not cnt:
                    continue
                b.vsetvli(w, 16, 8)
                with kc.rep("t", cnt, ptrs=3) as tt:
                    key = tt * vl16 + base
                    b.emit("vlse16.v", V(8), b.mem("V", kbase + key * d + c, 16, "strided", d))
                    b.emit("vse16.v", V(8), b.mem("vt", c * skv + key, 16))
        with kc.rep("g", hq // hkv) as gq:
            qbase = (bi * hq + kh * (hq // hkv) + gq) * (sq * d)

            def oacc(blk: Affine, qt: int, col: Affine) -> Affine:
                return blk * (br * d) + qt * m * d + col

            def init(blk: Affine) -> None:
                tiles32()
                b.emit("vmv.v.i", V(12), 0)
                with kc.rep("o", d // n, ptrs=2) as oo:
                    for qt in range(2):
                        b.emit("vmts.v", V(12), b.mem("oacc", oacc(blk, qt, oo * n), 32,
                                                      "strided", d), (m, n))
                kc.set32(br)
                b.emit("vfmv.v.f", V(4), neg_inf)
                b.emit("vse32.v", V(4), b.mem("ml", blk * (2 * br), 32))
                b.emit("vfmv.v.f", V(4), fzero)
                b.emit("vse32.v", V(4), b.mem("ml", blk * (2 * br) + br, 32))

            def kblock(blk: Affine, k0: Affine, masked: bool) -> None:
                q0 = blk * br
                tiles32()
                for row in s_t:
                    for r in row:
                        b.emit("vmv.v.i", r, 0)
                tiles16()
                with kc.rep("d", d // k, ptrs=3) as dd:
                    for qt in range(2):
                        b.emit("vmtl.v", qregs[qt], b.mem("Q", qbase + (q0 + qt * m) * d
                                                          + dd * k, 16, "strided", d), (m, k))
                    for kt in range(2):
                        b.emit("vmtl.v", kreg, b.mem("K", kbase + (k0 + kt * n) * d + dd * k,
                                                     16, "strided", d), (n, k))
                        for qt in range(2):
                            b.emit("vfwmmacc.vv", s_t[qt][kt], qregs[qt], kreg,
                                   comment="S += Q K^T")
                tiles32()
                for row in s_t:
                    for r in row:
                        b.emit("vfmul.vf", r, r, fscale)
                if masked:  # key kt*n + col after query qt*m + row: masked
                    b.emit("vid.v", V(4))
                    b.emit("vsrl.vi", V(8), V(4), lg, comment="row")
                    b.emit("vand.vi", V(4), V(4), n - 1, comment="column")
                    b.emit("vsub.vv", V(12), V(4), V(8), comment="column - row")
                    for qt in range(2):
                        for kt in range(2):
                            b.emit("addi", X(22), X(0), qt * m - kt * n)
                            b.emit("vmsgt.vx", V(0), V(12), X(22))
                            b.emit("vfmerge.vfm", s_t[qt][kt], s_t[qt][kt], neg_inf)
                b.emit("vid.v", V(4))
                b.emit("vsrl.vi", V(4), V(4), lg, comment="row of each element: gather index")

                def bcast(dst: int, src) -> None:
                    b.vsetvli(per_reg, 32, 1)
                    for j in range(cl):
                        b.emit("vrgather.vv", V(dst + j), src, V(4 + j))

                def segreduce(op: str, src) -> None:
                    """V(12)[:m] = per-row max/sum of the m x n tile ``src``."""
                    tiles32()
                    if segred:
                        b.emit(op, V(12), src, n)
                        return
                    # tree within each row (element r*n ends up with the row's result),
                    # then a strided reload of every n-th element
                    vop = "vfmax.vv" if "max" in op else "vfadd.vv"
                    prev = src
                    sh = 1
                    while sh < n:
                        b.emit("vslidedown.vi", V(8), prev, sh)
                        b.emit(vop, V(12), prev, V(8))
                        prev, sh = V(12), sh * 2
                    if prev is src:  # n == 1
                        b.emit("vmv.v.v", V(12), src)
                    b.emit("vse32.v", V(12), b.mem("red", 0, 32))
                    per_row()
                    b.emit("vlse32.v", V(12), b.mem("red", 0, 32, "strided", n))

                def rowred(op: str, dst, qt: int) -> None:
                    for kt in range(2):
                        segreduce(op, s_t[qt][kt])
                        per_row()
                        if kt == 0:
                            b.emit("vmv.v.v", dst, V(12))
                        else:
                            b.emit("vfmax.vv" if "max" in op else "vfadd.vv", dst, dst, V(12))

                mlb = blk * (2 * br)
                for qt in range(2):
                    rowred("vfsegredmax.vv", V(1), qt)
                    b.emit("vle32.v", V(2), b.mem("ml", mlb + qt * m, 32))
                    b.emit("vfmax.vv", V(1), V(1), V(2), comment="m_new")
                    b.emit("vse32.v", V(1), b.mem("ml", mlb + qt * m, 32))
                    b.emit("vfsub.vv", V(2), V(2), V(1))
                    kc.exp(V(2), V(2), tmps=etmps)  # alpha = exp(m - m_new)
                    bcast(8, V(1))
                    tiles32()
                    if vfexp:
                        for kt in range(2):
                            b.emit("vfsub.vv", s_t[qt][kt], s_t[qt][kt], V(8))
                            b.emit("vfexp.v", s_t[qt][kt], s_t[qt][kt], comment="P")
                    else:
                        for kt in range(2):
                            b.emit("vfsub.vv", s_t[qt][kt], s_t[qt][kt], V(8))
                        b.vsetvli(per_reg, 32, 1)
                        for kt in range(2):
                            for j in range(cl):
                                r = V(s_t[qt][kt].n + j)
                                kc.exp(r, r, tmps=etmps)  # P, one register at a time
                    rowred("vfsegredsum.vv", V(3), qt)
                    b.emit("vle32.v", V(12), b.mem("ml", mlb + br + qt * m, 32))
                    b.emit("vfmul.vv", V(12), V(12), V(2))
                    b.emit("vfadd.vv", V(12), V(12), V(3), comment="l = alpha l + rowsum P")
                    b.emit("vse32.v", V(12), b.mem("ml", mlb + br + qt * m, 32))
                    for kt in range(2):  # P to BF16 (A operand layout: m x k, pitch k)
                        b.vsetvli(m * n, 16, max(1, cl // 2))
                        b.emit("vfncvtbf16.f.f.w", V(12), s_t[qt][kt])
                        b.emit("vmts.v", V(12), b.mem("pt", qt * m * br + kt * n, 16,
                                                      "strided", br), (m, n))
                    bcast(s_t[qt][0].n, V(2))  # alpha broadcast, in the free S registers
                tiles16()
                for qt in range(2):
                    b.emit("vmtl.v", qregs[qt], b.mem("pt", qt * m * br, 16, "strided", br),
                           (m, k))
                with kc.rep("o", d // n, ptrs=3) as oo:
                    tiles32()
                    for qt in range(2):
                        o_r = s_t[qt][1]
                        b.emit("vmtl.v", o_r, b.mem("oacc", oacc(blk, qt, oo * n), 32,
                                                    "strided", d), (m, n))
                        b.emit("vfmul.vv", o_r, o_r, s_t[qt][0])
                    tiles16()
                    b.emit("vmtl.v", kreg, b.mem("vt", oo * n * skv + k0, 16, "strided", skv),
                           (n, k))
                    for qt in range(2):
                        b.emit("vfwmmacc.vv", s_t[qt][1], qregs[qt], kreg, comment="O += P V")
                    tiles32()
                    for qt in range(2):
                        b.emit("vmts.v", s_t[qt][1], b.mem("oacc", oacc(blk, qt, oo * n), 32,
                                                           "strided", d), (m, n))

            def run(blk: Affine, k0: Affine | int, nkeys: int) -> None:
                with kc.rep("kb", nkeys // br, ptrs=2) as kb:
                    kblock(blk, Affine.of(k0) + kb * br, False)

            def finish(blk: Affine) -> None:
                for qt in range(2):
                    per_row()
                    b.emit("vle32.v", V(2), b.mem("ml", blk * (2 * br) + br + qt * m, 32))
                    kc.recip(V(1), V(2))
                    tiles32()
                    b.emit("vid.v", V(4))
                    b.emit("vsrl.vi", V(4), V(4), lg)
                    b.vsetvli(per_reg, 32, 1)
                    for j in range(cl):
                        b.emit("vrgather.vv", V(8 + j), V(1), V(4 + j))
                    with kc.rep("o", d // n, ptrs=3) as oo:
                        tiles32()
                        b.emit("vmtl.v", V(16), b.mem("oacc", oacc(blk, qt, oo * n), 32,
                                                      "strided", d), (m, n))
                        b.emit("vfmul.vv", V(16), V(16), V(8))
                        b.vsetvli(m * n, 16, max(1, cl // 2))
                        b.emit("vfncvtbf16.f.f.w", V(12), V(16))
                        b.emit("vmts.v", V(12), b.mem("O", qbase + (blk * br + qt * m) * d
                                                      + oo * n, 16, "strided", d), (m, n))

            with kc.rep("qb", nblk, ptrs=2) as i:
                init(i)
                if causal:
                    kblock(i, i * br + off, True)
                    if off:
                        run(i, 0, off)
                else:
                    run(i, 0, skv)
            if causal:
                _lower_triangle(kc, nblk, br, off, run)
            with kc.rep("qb", nblk, ptrs=2) as i:
                finish(i)


# ---- decode -------------------------------------------------------------------------------
def _group_chunk(grp: int) -> int:
    """Query heads of a GQA group served by one pass over K/V: the largest divisor of the
    group size that fits the 4 score accumulators."""
    return max(n for n in (4, 3, 2, 1) if grp % n == 0)


def _decode(kc: Kc, bsz: int, hq: int, hkv: int, skv: int, d: int) -> None:
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
                    for j, r in enumerate(oaccs):
                        b.emit("flw", F(4 + j), b.mem("sc", j * skv + k0 + kk, 32))
                        b.emit("vfwmaccbf16.vf" if bf16 else "vfmacc.vf", r, F(4 + j), V(8))
                b.vsetvli(w, 32, olm)
                for j, r in enumerate(oaccs):
                    b.emit("vse32.v", r, b.mem("opart", (j * nsp + s) * d + c0, 32))

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
