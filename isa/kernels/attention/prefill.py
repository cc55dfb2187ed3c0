"""Prefill (Sq > 1), FlashAttention-2 vectorised over queries: a block of Br = VLMAX(e32,m2)
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
A sliding window W (>= Br) keeps each query block in registers from start to end: the
band, the keys straddling the window's lower edge (masked with vmsgt.vx, Bc at a time) and
the W - Br keys between them (unmasked); the leading blocks whose causal range fits in the
window run the triangle schedule above, every later block shares one loop (static size
independent of Sq). Sinks start (m, l) at (sink, 1) instead of (-inf, 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isa.errors import IsaError
from isa.kernels.attention.schedule import Masking, heads, lower_triangle, window_blocks
from isa.kernels.common import Kc
from isa.program import Affine, F, Reg, V, X


@dataclass(frozen=True)
class PrefillRegs:
    """The register plan of the RVV prefill: Bc score registers (one per key), the row
    statistics (m, l), the new max, alpha, the Q^T / O^T row, the query positions of the
    causal mask, and the exp polynomial's temporaries (only without vfexp)."""

    s: tuple[Reg, ...]
    m: Reg
    lsum: Reg  # l, the softmax denominator
    mn: Reg
    al: Reg
    q: Reg
    qp: Reg
    tmps: tuple[int, ...]


@dataclass(frozen=True)
class KeyMask:
    """The mask of one key block: query lane r sits at relative position ``q`` + r, key c
    at ``k`` + c. Causal band (``window`` 0): keys after the query are masked; window edge
    (``window`` > 0): keys ``window`` or more positions before the query are masked."""

    q: int
    k: int
    window: int = 0


def register_plan(kc: Kc) -> PrefillRegs:
    """Bc = ``core.attn_bc`` (<= 8) when exp is one instruction; 4 with the polynomial exp,
    whose 5 temporaries come out of the 14 free m2 groups (v4..v30)."""
    poly = kc.exp_needs_poly(False)
    bc = 4 if poly else max(1, min(kc.core.attn_bc, 8))
    regs = [V(4 + 2 * i) for i in range(14)]
    m_r, l_r, mn_r, al_r, q_r = regs[bc:bc + 5]
    tmps = tuple(r.n for r in regs[bc + 5:bc + 10]) if poly else ()
    return PrefillRegs(tuple(regs[:bc]), m_r, l_r, mn_r, al_r, q_r, regs[bc + 5], tmps)


@dataclass
class QueryBlocks:
    """What the RVV prefill emits for the query blocks of one (query head, KV head) pair:
    Q^T / O^T live in the scratch buffers ``qt_buf`` / ``oacc_buf`` at offset ``sb`` per
    block, (m, l) in registers (or in ``ml`` between the passes of the causal schedule)."""

    kc: Kc
    r: PrefillRegs
    d: int
    br: int
    off: int  # position of query 0 (Skv - Sq)
    qbase: Affine
    kbase: Affine
    fscale: Reg
    neg_inf: Reg
    qt_buf: str
    oacc_buf: str
    sink: Affine | None = None  # index of the query head's sink logit (sinks only)
    one: Reg | None = None  # 1.0 (sinks only)

    @property
    def bc(self) -> int:
        return len(self.r.s)

    def kblock(self, sb: Affine, c0: Affine, w: int, mask: KeyMask | None) -> None:
        _key_block(self.kc, self.kbase, sb, c0, w, mask, self.r, self.d, self.br,
                   self.neg_inf, self.qt_buf, self.oacc_buf)

    def run(self, sb: Affine, k0: Affine | int, n: int) -> None:
        """Unmasked keys k0 .. k0+n-1: a constant-trip loop of Bc-key blocks + tail."""
        full, rem = divmod(n, self.bc)
        if full:
            with self.kc.rep("kb", full, ptrs=2) as kb:
                self.kblock(sb, Affine.of(k0) + kb * self.bc, self.bc, None)
        if rem:
            self.kblock(sb, Affine.of(k0) + full * self.bc, rem, None)

    def init(self, q0: Affine | int, sb: Affine, nq: int) -> None:
        """Q^T (scaled) into scratch, O^T = 0, (m, l) = (-inf, 0); with sinks (sink, 1):
        the sink is a first key with score sink and value 0."""
        kc, b, r, d, br = self.kc, self.kc.b, self.r, self.d, self.br
        kc.set32(nq)
        b.emit("vmv.v.i", r.lsum, 0)
        with kc.rep("d", d, ptrs=3) as dd:
            kc.load(r.q, "Q", self.qbase + Affine.of(q0) * d + dd, stride=d)
            b.emit("vfmul.vf", r.q, r.q, self.fscale)
            b.emit("vse32.v", r.q, b.mem(self.qt_buf, sb + dd * br, 32))
            b.emit("vse32.v", r.lsum, b.mem(self.oacc_buf, sb + dd * br, 32))
        if self.sink is None or self.one is None:
            b.emit("vfmv.v.f", r.m, self.neg_inf)
            return
        kc.sload(F(1), "sinks", self.sink)
        b.emit("vfmv.v.f", r.m, F(1), comment="m = sink")
        b.emit("vfmv.v.f", r.lsum, self.one, comment="l = exp(sink - m)")

    def finish(self, q0: Affine | int, sb: Affine, nq: int) -> None:
        """O = O^T / l, stored with D strided stores."""
        kc, b, r, d, br = self.kc, self.kc.b, self.r, self.d, self.br
        kc.set32(nq)
        kc.recip(r.al, r.lsum)
        with kc.rep("d", d, ptrs=3) as dd:
            b.emit("vle32.v", r.q, b.mem(self.oacc_buf, sb + dd * br, 32))
            b.emit("vfmul.vv", r.q, r.q, r.al)
            kc.store(r.q, "O", self.qbase + Affine.of(q0) * d + dd, stride=d)

    def diagonal(self, q0: Affine | int, sb: Affine, nq: int) -> None:
        """Keys at the positions of the block's own queries (the diagonal band): the mask
        only depends on positions relative to the block, so it is the same code for every
        query block. Key 0 of the band is visible to every query of the block: the running
        max is finite after the first band block."""
        for c0 in range(0, nq, self.bc):
            self.kblock(sb, Affine.of(q0) + self.off + c0, min(self.bc, nq - c0),
                        KeyMask(0, c0))

    def ml_io(self, sb_ml: Affine, store: bool) -> None:
        """Save (or restore) the block's (m, l) between the passes of the causal schedule."""
        b, r = self.kc.b, self.r
        op = "vse32.v" if store else "vle32.v"
        b.emit(op, r.m, b.mem("ml", sb_ml, 32))
        b.emit(op, r.lsum, b.mem("ml", sb_ml + self.br, 32))

    def whole(self, q0: Affine | int, sb: Affine, nq: int, nkeys: int, causal: bool) -> None:
        """One query block from start to end with its statistics in registers: the band
        (causal) and the ``nkeys`` unmasked keys from key 0."""
        self.init(q0, sb, nq)
        if causal:
            self.diagonal(q0, sb, nq)
        self.run(sb, 0, nkeys)
        self.finish(q0, sb, nq)

    def windowed(self, q0: Affine | int, sb: Affine, nq: int, window: int, lo: int) -> None:
        """One query block (nq <= window rows) of a sliding window, from start to end:
        the band, the window's lower edge (keys lo .. nq - window - 1 relative to the first
        query, masked per row) and the keys fully inside every row's window (unmasked)."""
        pos = Affine.of(q0) + self.off
        self.init(q0, sb, nq)
        self.diagonal(q0, sb, nq)
        edge = nq - window
        for j0 in range(lo, edge, self.bc):
            self.kblock(sb, pos + j0, min(self.bc, edge - j0), KeyMask(0, j0, window))
        inside = max(lo, edge)
        if inside < 0:
            self.run(sb, pos + inside, -inside)
        self.finish(q0, sb, nq)


def prefill(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int,
            mask: Masking, q0: int = 0) -> None:
    """All queries, or with ``q0`` > 0 only queries q0.. (fewer than a block: the remainder
    of the tile path, with scratch buffers of its own)."""
    b = kc.b
    br = kc.vlmax  # queries per block (e32, m2)
    if q0 and sq - q0 > br:
        raise IsaError(f"RVV prefill remainder of {sq - q0} queries exceeds a block of {br}")
    sfx = "_r" if q0 else ""
    regs = register_plan(kc)
    causal, window = mask.causal, mask.window
    # causal: per query block Q^T, O^T and (m, l) live in scratch between the passes
    nblk = (sq // br + (1 if sq % br else 0)) if causal and not q0 else 1
    b.buffer("qt" + sfx, "fp32", nblk * d * br, "scratch")
    b.buffer("oacc" + sfx, "fp32", nblk * d * br, "scratch")
    if causal and not q0:
        b.buffer("ml", "fp32", nblk * 2 * br, "scratch")
    fscale = kc.fconst(1.0 / math.sqrt(d))
    neg_inf = kc.fconst(float("-inf"))
    one = kc.fconst(1.0) if mask.sinks else None
    kc.set32(min(br, sq - q0))
    kc.exp_setup(regs=None)
    stack, qh, kvh, head = heads(kc, bsz, hq, hkv)
    with stack:
        qb = QueryBlocks(kc, regs, d, br, skv - sq, qh * (sq * d), kvh * (skv * d), fscale,
                         neg_inf, "qt" + sfx, "oacc" + sfx, head if mask.sinks else None, one)
        if q0 and window:  # the remainder of the tile path, windowed
            qb.windowed(q0, Affine(0), sq - q0, window, max(-(qb.off + q0), 1 - window))
        elif q0:  # the remainder of the tile path: one partial query block
            qb.whole(q0, Affine(0), sq - q0, qb.off + q0 if causal else skv, causal)
        elif window:
            _windowed(qb, sq, window)
        elif causal:
            _causal(qb, sq)
        else:
            _full(qb, sq, skv)


def _full(qb: QueryBlocks, sq: int, skv: int) -> None:
    """Without a mask every query block sees all Skv keys: one loop over the blocks."""
    br = qb.br
    nfull, tail = divmod(sq, br)
    if nfull:
        with qb.kc.rep("qb", nfull, ptrs=2) as i:
            qb.whole(i * br, Affine(0), br, skv, False)
    if tail:
        qb.whole(nfull * br, Affine(0), tail, skv, False)


def _causal(qb: QueryBlocks, sq: int) -> None:
    """Causal, as a loop nest whose size does not grow with Sq. Query block i (of N) sees
    the keys before the new tokens [0, off), the key blocks j < i of the new tokens
    (unmasked) and its diagonal band (masked). Pass 1 (loop over i): Q^T, the band and
    [0, off). The strictly lower triangle {(i, j): j < i} is split into squares (dyadic: i
    and j first differ in bit l; square size S = 2^l): level l is one loop over its
    squares x the S query blocks of a square x a constant S*Br keys, with (m, l) saved per
    query block between visits. Every (i, j) is visited once: the work is exactly causal.
    Last pass: O = O^T / l."""
    nfull, tail = divmod(sq, qb.br)
    if nfull:
        _causal_blocks(qb, nfull)
    if tail:
        qb.whole(nfull * qb.br, Affine(nfull * qb.d * qb.br), tail, qb.off + nfull * qb.br,
                 True)


def _causal_blocks(qb: QueryBlocks, nfull: int) -> None:
    """The first ``nfull`` whole query blocks of a causal prefill (see :func:`_causal`)."""
    kc, b, d, br, off = qb.kc, qb.kc.b, qb.d, qb.br, qb.off
    if nfull:
        with kc.rep("qb", nfull, ptrs=2) as i:
            sb = i * (d * br)
            qb.init(i * br, sb, br)
            qb.diagonal(i * br, sb, br)
            if off:
                qb.run(sb, 0, off)
            qb.ml_io(i * (2 * br), True)

        def visit(blk: Affine, k0: Affine, n: int) -> None:
            kc.set32(br)
            qb.ml_io(blk * (2 * br), False)
            qb.run(blk * (d * br), k0, n)
            qb.ml_io(blk * (2 * br), True)
        lower_triangle(kc, nfull, br, off, visit)
        with kc.rep("qb", nfull, ptrs=2) as i:
            kc.set32(br)
            b.emit("vle32.v", qb.r.lsum, b.mem("ml", i * (2 * br) + br, 32))
            qb.finish(i * br, i * (d * br), br)


def _windowed(qb: QueryBlocks, sq: int, window: int) -> None:
    """Sliding-window causal prefill visiting only the keys inside the window: the first
    query blocks, whose whole causal range fits in the window, as plain causal (the
    compact triangle schedule); blocks whose window reaches before key 0 each with their
    own clipped edge; then one loop over the blocks that all see the same window-relative
    keys (the band, the masked lower edge and window - Br unmasked keys in between); the
    last Sq mod Br queries as one block."""
    kc, br, off = qb.kc, qb.br, qb.off
    nfull, tail = divmod(sq, br)
    wb = window_blocks(nfull, br, off, window, 1 - window)
    _causal_blocks(qb, wb.plain)
    for n in range(wb.plain, wb.steady):
        qb.windowed(n * br, Affine(0), br, window, -(off + n * br))
    if wb.steady < nfull:
        with kc.rep("qb", nfull - wb.steady, ptrs=2) as i:
            qb.windowed((i + wb.steady) * br, Affine(0), br, window, 1 - window)
    if tail:
        qb.windowed(nfull * br, Affine(0), tail, window, max(-(off + nfull * br), 1 - window))


def _key_block(kc: Kc, kbase: Affine, sb: Affine, c0: Affine, w: int,
               mask: KeyMask | None, regs: PrefillRegs, d: int, br: int, neg_inf: Reg,
               qt_buf: str, oacc_buf: str) -> None:
    """One block of w keys c0.. for the query block whose Q^T / O^T scratch starts at sb.
    ``mask``: the block straddles the causal band or the window's lower edge
    (:class:`KeyMask`)."""
    b = kc.b
    s = regs.s[:w]
    m_r, l_r, mn_r, al_r = regs.m, regs.lsum, regs.mn, regs.al
    q_r, qp_r, tmps = regs.q, regs.qp, regs.tmps
    q2_r = kc.stage  # a second Q^T / O^T register: no BF16 staging in these d loops
    for r in s:
        b.emit("vmv.v.i", r, 0)

    def load_qt(dd: Affine, reg: Reg) -> None:
        b.emit("vle32.v", reg, b.mem(qt_buf, sb + dd * br, 32))

    def qk_step(dd: Affine, qreg: Reg, prefetch) -> None:
        # the w scalars of K first: an FMA right after its scalar load would stall the
        # in-order front end for the load-to-use latency once per key
        for c in range(w):
            kc.sload(F(1 + c), "K", kbase + (c0 + c) * d + dd)
        prefetch()
        for c, r in enumerate(s):
            b.emit("vfmacc.vf", r, F(1 + c), qreg, comment="S[:, c] += Q^T[d] * K[c, d]")

    kc.pipelined("d", d, (q_r, q2_r), load_qt, qk_step, ptrs=3)
    if mask is not None:
        _mask_scores(kc, s, mask, qp_r, neg_inf)
    b.emit("vfmax.vv", mn_r, m_r, s[0])
    for r in s[1:]:
        b.emit("vfmax.vv", mn_r, mn_r, r)
    b.emit("vfsub.vv", al_r, m_r, mn_r)

    def exp(r: Reg) -> None:
        if tmps:  # the polynomial's temporaries (vfexp needs none)
            kc.exp(r, r, tmps=tmps)
        else:
            kc.exp(r, r)
    exp(al_r)
    b.emit("vmv.v.v", m_r, mn_r)
    for r in s:
        b.emit("vfsub.vv", r, r, mn_r)
        exp(r)
    b.emit("vfmul.vv", l_r, l_r, al_r)
    for r in s:
        b.emit("vfadd.vv", l_r, l_r, r)
    # the exp temporaries are free again once P is computed: more O^T rows in flight
    q_regs = (q_r, q2_r, *(V(t) for t in tmps))
    _pv(kc, kbase, sb, c0, s, al_r, q_regs, d, br, oacc_buf)


def _mask_scores(kc: Kc, s: tuple[Reg, ...], mask: KeyMask, qp_r: Reg, neg_inf: Reg) -> None:
    """S[:, c] = -inf where query lane r may not see key c (``qp_r``: query positions)."""
    b = kc.b
    b.emit("vid.v", qp_r)
    if mask.q:
        b.emit("addi", X(21), X(0), mask.q)
        b.emit("vadd.vx", qp_r, qp_r, X(21), comment="query positions")
    for c, r in enumerate(s):
        if mask.window:
            b.emit("addi", X(22), X(0), mask.k + c + mask.window - 1)
            b.emit("vmsgt.vx", V(0), qp_r, X(22), comment="key before the window: masked")
        else:
            b.emit("addi", X(22), X(0), mask.k + c)
            b.emit("vmslt.vx", V(0), qp_r, X(22), comment="query before key: masked")
        b.emit("vfmerge.vfm", r, r, neg_inf)


def _pv(kc: Kc, kbase: Affine, sb: Affine, c0: Affine, s, al_r: Reg, q_regs: tuple[Reg, ...],
        d: int, br: int, oacc_buf: str) -> None:
    """O^T[d] = alpha * O^T[d] + sum_c P[:, c] * V[c, d] for every d. Each O^T row is a
    chain of dependent FMAs (one per key), so up to four rows are interleaved (as many as
    there are free vector registers and f registers for their w scalars each) to hide the
    FMA latency."""
    b = kc.b
    w = len(s)
    rows = max(1, min(4, len(q_regs), kc.ftemps_available() // w))
    fs = kc.ftemps(rows * w)
    steps, rest = divmod(d, rows)

    def rows_at(dds: list[Affine]) -> None:
        qs = q_regs[:len(dds)]
        for q, dd in zip(qs, dds, strict=True):
            b.emit("vle32.v", q, b.mem(oacc_buf, sb + dd * br, 32))
        for q in qs:
            b.emit("vfmul.vv", q, q, al_r)
        for j, dd in enumerate(dds):
            for c in range(w):
                kc.sload(fs[j * w + c], "V", kbase + (c0 + c) * d + dd)
        for c, r in enumerate(s):
            for j, q in enumerate(qs):
                b.emit("vfmacc.vf", q, fs[j * w + c], r,
                       comment="O^T[d] += P[:, c] * V[c, d]")
        for q, dd in zip(qs, dds, strict=True):
            b.emit("vse32.v", q, b.mem(oacc_buf, sb + dd * br, 32))

    if steps:
        with kc.rep("d", steps, ptrs=3) as dp:
            rows_at([dp * rows + j for j in range(rows)])
    for j in range(rest):
        rows_at([Affine(steps * rows + j)])

