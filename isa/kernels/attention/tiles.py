"""Prefill with Xattn ``mmacc`` (BF16; :func:`mmacc_tile`):
FlashAttention-2 on vfwmmacc tiles, S = Q K^T and O += P V as tile multiplies, P rounded
to BF16 for PV (as FA2 on tensor cores), online softmax on the vector unit with
vfsegredmax/vfsegredsum row statistics and vfexp (:func:`prefill_mmacc`); the same
causal schedule (band pass + dyadic squares). The whole Br = K_t query blocks run as tiles
and the last Sq mod Br queries (e.g. a 2001-token prefill) as one RVV query block (scratch
of its own); keys must still come in whole blocks (D, and Skv - Sq causal / Skv otherwise,
multiples of K_t) and Sq >= Br. Other shapes run the RVV kernel (:mod:`.prefill`).
Without vfexp the exp is the RVV polynomial one register at a time (LMUL=1: its 5
temporaries fit in the Q/K tile registers, free during the softmax); without segred each
row reduction is a vslidedown tree inside the rows of a tile, stored and reloaded with
stride N_t.
A sliding window visits per query block its diagonal block, the key blocks straddling the
window's lower edge (masked: vmslt.vx on column - row) and the blocks inside the window;
sinks start each block's (m, l) at (sink, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isa.instructions import TileGeometry, tile_geometry
from isa.kernels.attention.schedule import Masking, lower_triangle, window_blocks
from isa.kernels.common import Kc
from isa.program import Affine, F, Reg, V, X

_MMACC_NEEDS = ("vfwmmacc.vv", "vmtl.v", "vmts.v")


def mmacc_tile(kc: Kc, sq: int, skv: int, d: int, causal: bool, window: int = 0
               ) -> TileGeometry | None:
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
    if d % bk or sq < bk or (skv - sq if causal else skv) % bk or 0 < window < bk:
        return None
    return t


@dataclass(frozen=True)
class TilePlan:
    """The register plan of the tile-path prefill: S is 2x2 C tiles in v16..v31 (``s_t[qt][kt]``,
    query tile qt, key tile kt), the K (or V^T) tile in v4, the two Q (or P) tiles in v8
    and v12; ``lm`` is the LMUL of a BF16 A/B tile, ``cl`` the registers of a C tile."""

    t: TileGeometry
    lm: int
    d: int
    skv: int
    segred: bool  # vfsegredmax / vfsegredsum row statistics
    vfexp: bool
    fscale: Reg
    neg_inf: Reg
    fzero: Reg
    window: int = 0  # sliding window (0: none)
    one: Reg | None = None  # 1.0 (sinks only)
    s_t: tuple[tuple[Reg, Reg], tuple[Reg, Reg]] = (
        (V(16), V(20)), (V(24), V(28)))
    kreg: Reg = V(4)
    qregs: tuple[Reg, Reg] = (V(8), V(12))
    etmps: tuple[int, ...] = (8, 9, 10, 11, 12)  # m1 exp temporaries: free Q/K registers

    @property
    def br(self) -> int:
        """Queries per block = keys per block."""
        return self.t.k

    @property
    def cl(self) -> int:
        return self.t.c_regs

    @property
    def lg(self) -> int:
        return int(math.log2(self.t.n))


@dataclass
class TileBlocks:
    """What the tile path emits for the query blocks of one query head: O^T in ``oacc`` and
    (m, l) in ``ml`` per block, S and P in the tile registers of :class:`TilePlan`."""

    kc: Kc
    p: TilePlan
    qbase: Affine
    kbase: Affine
    sink: Affine | None = None  # index of the query head's sink logit (sinks only)

    def tiles32(self) -> None:
        self.kc.b.vsetvli(self.p.t.m * self.p.t.n, 32, self.p.cl)

    def tiles16(self) -> None:
        self.kc.b.vsetvli(self.kc.core.vlmax(16, self.p.lm), 16, self.p.lm)

    def per_row(self) -> None:
        self.kc.b.vsetvli(self.p.t.m, 32, 1)

    def oacc(self, blk: Affine, qt: int, col: Affine) -> Affine:
        return blk * (self.p.br * self.p.d) + qt * self.p.t.m * self.p.d + col

    def init(self, blk: Affine) -> None:
        """O^T = 0, (m, l) = (-inf, 0) for query block ``blk``; with sinks (sink, 1)."""
        kc, b, p = self.kc, self.kc.b, self.p
        m, n, br = p.t.m, p.t.n, p.br
        self.tiles32()
        b.emit("vmv.v.i", V(12), 0)
        with kc.rep("o", p.d // n, ptrs=2) as oo:
            for qt in range(2):
                b.emit("vmts.v", V(12), b.mem("oacc", self.oacc(blk, qt, oo * n), 32,
                                              "strided", p.d), (m, n))
        kc.set32(br)
        if self.sink is not None and p.one is not None:
            kc.sload(F(1), "sinks", self.sink)
            m0, l0 = F(1), p.one
        else:
            m0, l0 = p.neg_inf, p.fzero
        b.emit("vfmv.v.f", V(4), m0)
        b.emit("vse32.v", V(4), b.mem("ml", blk * (2 * br), 32))
        b.emit("vfmv.v.f", V(4), l0)
        b.emit("vse32.v", V(4), b.mem("ml", blk * (2 * br) + br, 32))

    def kblock(self, blk: Affine, k0: Affine, masked: bool, edge: int | None = None) -> None:
        """One Br x Bc block: S = Q K^T (scaled, causal mask when ``masked``, the sliding
        window's lower edge when the block starts ``edge`` keys from the query block), the
        online softmax per query tile, O = alpha O + P V."""
        self._qk(blk, k0)
        if masked:
            self._causal_mask()
        if edge is not None:
            self._window_mask(edge)
        b = self.kc.b
        b.emit("vid.v", V(4))
        b.emit("vsrl.vi", V(4), V(4), self.p.lg, comment="row of each element: gather index")
        for qt in range(2):
            self._softmax_rows(blk, qt)
        self._pv(blk, k0)

    def _qk(self, blk: Affine, k0: Affine) -> None:
        """S = scale * Q K^T over D in K_t steps: Q and K tiles straight from [S, D]."""
        kc, b, p = self.kc, self.kc.b, self.p
        m, n, k = p.t.m, p.t.n, p.t.k
        q0 = blk * p.br
        self.tiles32()
        for row in p.s_t:
            for r in row:
                b.emit("vmv.v.i", r, 0)
        self.tiles16()
        with kc.rep("d", p.d // k, ptrs=3) as dd:
            for qt in range(2):
                b.emit("vmtl.v", p.qregs[qt], b.mem("Q", self.qbase + (q0 + qt * m) * p.d
                                                    + dd * k, 16, "strided", p.d), (m, k))
            for kt in range(2):
                b.emit("vmtl.v", p.kreg, b.mem("K", self.kbase + (k0 + kt * n) * p.d + dd * k,
                                               16, "strided", p.d), (n, k))
                for qt in range(2):
                    b.emit("vfwmmacc.vv", p.s_t[qt][kt], p.qregs[qt], p.kreg,
                           comment="S += Q K^T")
        self.tiles32()
        for row in p.s_t:
            for r in row:
                b.emit("vfmul.vf", r, r, p.fscale)

    def _col_minus_row(self) -> None:
        """V(12) = column - row of each element of a tile."""
        b = self.kc.b
        b.emit("vid.v", V(4))
        b.emit("vsrl.vi", V(8), V(4), self.p.lg, comment="row")
        b.emit("vand.vi", V(4), V(4), self.p.t.n - 1, comment="column")
        b.emit("vsub.vv", V(12), V(4), V(8), comment="column - row")

    def _window_mask(self, edge: int) -> None:
        """Key edge + kt*n + col at least ``window`` before query qt*m + row: masked."""
        b, p = self.kc.b, self.p
        self._col_minus_row()
        for qt in range(2):
            for kt in range(2):
                b.emit("addi", X(22), X(0), qt * p.t.m - kt * p.t.n - edge - p.window + 1)
                b.emit("vmslt.vx", V(0), V(12), X(22), comment="key before the window")
                b.emit("vfmerge.vfm", p.s_t[qt][kt], p.s_t[qt][kt], p.neg_inf)

    def _causal_mask(self) -> None:
        """Key kt*n + col after query qt*m + row: masked."""
        b, p = self.kc.b, self.p
        self._col_minus_row()
        for qt in range(2):
            for kt in range(2):
                b.emit("addi", X(22), X(0), qt * p.t.m - kt * p.t.n)
                b.emit("vmsgt.vx", V(0), V(12), X(22))
                b.emit("vfmerge.vfm", p.s_t[qt][kt], p.s_t[qt][kt], p.neg_inf)

    def bcast(self, dst: int, src: Reg) -> None:
        """Per-row values of ``src`` broadcast to the tile layout (index = element / N_t,
        in v4..)."""
        b = self.kc.b
        b.vsetvli(self.kc.core.vlen // 32, 32, 1)
        for j in range(self.p.cl):
            b.emit("vrgather.vv", V(dst + j), src, V(4 + j))

    def segreduce(self, op: str, src: Reg) -> None:
        """V(12)[:m] = per-row max/sum of the m x n tile ``src``."""
        b, p = self.kc.b, self.p
        self.tiles32()
        if p.segred:
            b.emit(op, V(12), src, p.t.n)
            return
        # tree within each row (element r*n ends up with the row's result), then a
        # strided reload of every n-th element
        vop = "vfmax.vv" if "max" in op else "vfadd.vv"
        prev = src
        sh = 1
        while sh < p.t.n:
            b.emit("vslidedown.vi", V(8), prev, sh)
            b.emit(vop, V(12), prev, V(8))
            prev, sh = V(12), sh * 2
        if prev is src:  # n == 1
            b.emit("vmv.v.v", V(12), src)
        b.emit("vse32.v", V(12), b.mem("red", 0, 32))
        self.per_row()
        b.emit("vlse32.v", V(12), b.mem("red", 0, 32, "strided", p.t.n))

    def rowred(self, op: str, dst: Reg, qt: int) -> None:
        """dst = per-row max/sum over both key tiles of query tile qt."""
        b = self.kc.b
        for kt in range(2):
            self.segreduce(op, self.p.s_t[qt][kt])
            self.per_row()
            if kt == 0:
                b.emit("vmv.v.v", dst, V(12))
            else:
                b.emit("vfmax.vv" if "max" in op else "vfadd.vv", dst, dst, V(12))

    def _softmax_rows(self, blk: Affine, qt: int) -> None:
        """Query tile qt: m_new, alpha, P = exp(S - m_new), l = alpha l + rowsum P, P to
        BF16 in ``pt``, alpha broadcast into the free S registers of the tile."""
        kc, b, p = self.kc, self.kc.b, self.p
        m, n, br = p.t.m, p.t.n, p.br
        mlb = blk * (2 * br)
        s_t = p.s_t
        self.rowred("vfsegredmax.vv", V(1), qt)
        b.emit("vle32.v", V(2), b.mem("ml", mlb + qt * m, 32))
        b.emit("vfmax.vv", V(1), V(1), V(2), comment="m_new")
        b.emit("vse32.v", V(1), b.mem("ml", mlb + qt * m, 32))
        b.emit("vfsub.vv", V(2), V(2), V(1))
        kc.exp(V(2), V(2), tmps=p.etmps)  # alpha = exp(m - m_new)
        self.bcast(8, V(1))
        self.tiles32()
        for kt in range(2):
            b.emit("vfsub.vv", s_t[qt][kt], s_t[qt][kt], V(8))
            if p.vfexp:
                b.emit("vfexp.v", s_t[qt][kt], s_t[qt][kt], comment="P")
        if not p.vfexp:
            b.vsetvli(kc.core.vlen // 32, 32, 1)
            for kt in range(2):
                for j in range(p.cl):
                    r = V(s_t[qt][kt].n + j)
                    kc.exp(r, r, tmps=p.etmps)  # P, one register at a time
        self.rowred("vfsegredsum.vv", V(3), qt)
        b.emit("vle32.v", V(12), b.mem("ml", mlb + br + qt * m, 32))
        b.emit("vfmul.vv", V(12), V(12), V(2))
        b.emit("vfadd.vv", V(12), V(12), V(3), comment="l = alpha l + rowsum P")
        b.emit("vse32.v", V(12), b.mem("ml", mlb + br + qt * m, 32))
        for kt in range(2):  # P to BF16 (A operand layout: m x k, pitch k)
            b.vsetvli(m * n, 16, max(1, p.cl // 2))
            b.emit("vfncvtbf16.f.f.w", V(12), s_t[qt][kt])
            b.emit("vmts.v", V(12), b.mem("pt", qt * m * br + kt * n, 16, "strided", br),
                   (m, n))
        self.bcast(s_t[qt][0].n, V(2))  # alpha broadcast, in the free S registers

    def _pv(self, blk: Affine, k0: Affine) -> None:
        """O^T = alpha O^T + P V, O tile by O tile (V^T tiles from ``vt``)."""
        kc, b, p = self.kc, self.kc.b, self.p
        m, n, k, br = p.t.m, p.t.n, p.t.k, p.br
        s_t = p.s_t
        self.tiles16()
        for qt in range(2):
            b.emit("vmtl.v", p.qregs[qt], b.mem("pt", qt * m * br, 16, "strided", br), (m, k))
        with kc.rep("o", p.d // n, ptrs=3) as oo:
            self.tiles32()
            for qt in range(2):
                o_r = s_t[qt][1]
                b.emit("vmtl.v", o_r, b.mem("oacc", self.oacc(blk, qt, oo * n), 32,
                                            "strided", p.d), (m, n))
                b.emit("vfmul.vv", o_r, o_r, s_t[qt][0])
            self.tiles16()
            b.emit("vmtl.v", p.kreg, b.mem("vt", oo * n * p.skv + k0, 16, "strided", p.skv),
                   (n, k))
            for qt in range(2):
                b.emit("vfwmmacc.vv", s_t[qt][1], p.qregs[qt], p.kreg, comment="O += P V")
            self.tiles32()
            for qt in range(2):
                b.emit("vmts.v", s_t[qt][1], b.mem("oacc", self.oacc(blk, qt, oo * n), 32,
                                                   "strided", p.d), (m, n))

    def run(self, blk: Affine, k0: Affine | int, nkeys: int) -> None:
        """Unmasked keys k0 .. k0+nkeys-1, whole blocks."""
        br = self.p.br
        with self.kc.rep("kb", nkeys // br, ptrs=2) as kb:
            self.kblock(blk, Affine.of(k0) + kb * br, False)

    def finish(self, blk: Affine) -> None:
        """O = O^T / l, rounded to BF16."""
        kc, b, p = self.kc, self.kc.b, self.p
        m, n, br = p.t.m, p.t.n, p.br
        for qt in range(2):
            self.per_row()
            b.emit("vle32.v", V(2), b.mem("ml", blk * (2 * br) + br + qt * m, 32))
            kc.recip(V(1), V(2))
            self.tiles32()
            b.emit("vid.v", V(4))
            b.emit("vsrl.vi", V(4), V(4), p.lg)
            self.bcast(8, V(1))
            with kc.rep("o", p.d // n, ptrs=3) as oo:
                self.tiles32()
                b.emit("vmtl.v", V(16), b.mem("oacc", self.oacc(blk, qt, oo * n), 32,
                                              "strided", p.d), (m, n))
                b.emit("vfmul.vv", V(16), V(16), V(8))
                b.vsetvli(m * n, 16, max(1, p.cl // 2))
                b.emit("vfncvtbf16.f.f.w", V(12), V(16))
                b.emit("vmts.v", V(12), b.mem("O", self.qbase + (blk * br + qt * m) * p.d
                                              + oo * n, 16, "strided", p.d), (m, n))


def _transpose_v(kc: Kc, kbase: Affine, skv: int, d: int) -> None:
    """V^T of one KV head: vt[c, key] = V[key, c] (strided loads, BF16)."""
    b = kc.b
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


def prefill_mmacc(kc: Kc, t: TileGeometry, bsz: int, hq: int, hkv: int, sq: int, skv: int,
                  d: int, mask: Masking) -> None:
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
    br = t.k
    nblk = sq // br
    off = skv - sq
    b.buffer("vt", "bf16", d * skv, "scratch")
    b.buffer("oacc", "fp32", nblk * br * d, "scratch")
    b.buffer("ml", "fp32", nblk * 2 * br, "scratch")
    b.buffer("pt", "bf16", br * br, "scratch")
    fscale = kc.fconst(1.0 / math.sqrt(d))
    neg_inf = kc.fconst(float("-inf"))
    fzero = kc.fconst(0.0)
    p = TilePlan(t, lm, d, skv, kc.isa.has("vfsegredmax.vv") and kc.isa.has("vfsegredsum.vv"),
                 kc.isa.has("vfexp.v"), fscale, neg_inf, fzero, mask.window,
                 kc.fconst(1.0) if mask.sinks else None)
    if not p.vfexp:
        kc.exp_setup(regs=None)
    if not p.segred:
        b.buffer("red", "fp32", t.m * t.n, "scratch")
    grp = hq // hkv
    with kc.rep("b", bsz) as bi, kc.rep("h", hkv) as kh:
        kbase = (bi * hkv + kh) * (skv * d)
        _transpose_v(kc, kbase, skv, d)
        with kc.rep("g", grp) as gq:
            tb = TileBlocks(kc, p, (bi * hq + kh * grp + gq) * (sq * d), kbase,
                            kh * grp + gq if mask.sinks else None)
            if mask.window:
                _windowed(tb, nblk, off)
            elif mask.causal:
                _causal(tb, nblk, off)
            else:
                with kc.rep("qb", nblk, ptrs=2) as i:
                    tb.init(i)
                    tb.run(i, 0, skv)
                with kc.rep("qb", nblk, ptrs=2) as i:
                    tb.finish(i)


def _causal(tb: TileBlocks, nblk: int, off: int) -> None:
    """Query blocks 0..nblk-1 of a causal prefill: the band and the keys before the new
    tokens per block, then the strictly lower triangle as dyadic squares."""
    kc, br = tb.kc, tb.p.br
    with kc.rep("qb", nblk, ptrs=2) as i:
        tb.init(i)
        tb.kblock(i, i * br + off, True)
        if off:
            tb.run(i, 0, off)
    lower_triangle(kc, nblk, br, off, tb.run)
    with kc.rep("qb", nblk, ptrs=2) as i:
        tb.finish(i)


def _windowed(tb: TileBlocks, nblk: int, off: int) -> None:
    """Sliding-window causal prefill on key blocks inside the window only: the leading
    blocks whose causal range fits in the window as plain causal; then per block the band,
    the key blocks straddling the window's lower edge (masked) and the blocks fully inside
    it; blocks whose window reaches before key 0 each have their own code, the rest share
    one loop."""
    kc, br, window = tb.kc, tb.p.br, tb.p.window
    lowest = -((window - 1 + br - 1) // br)  # first key block, relative to the query block
    edges = [jb * br for jb in range(lowest, 0) if br - 1 - jb * br >= window]
    inner = (lowest + len(edges)) * br  # first key fully inside every row's window
    wb = window_blocks(nblk, br, off, window, lowest * br)
    if wb.plain:
        _causal(tb, wb.plain, off)

    def block(blk: Affine, pos: Affine, clip: int | None) -> None:
        """``clip``: the block's first query position where the window reaches before key
        0 (its own code), None for a steady block."""
        tb.init(blk)
        tb.kblock(blk, pos, True)
        for e in edges:
            if clip is None or clip + e >= 0:
                tb.kblock(blk, pos + e, False, e)
        first = inner if clip is None else max(inner, -clip)
        if first < 0:
            tb.run(blk, pos + first, -first)
        tb.finish(blk)
    for n in range(wb.plain, wb.steady):
        block(Affine(n), Affine(off + n * br), off + n * br)
    if wb.steady < nblk:
        with kc.rep("qb", nblk - wb.steady, ptrs=2) as i:
            block(i + wb.steady, (i + wb.steady) * br + off, None)
