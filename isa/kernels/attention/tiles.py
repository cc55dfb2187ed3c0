"""Prefill with Xattn ``mmacc`` (BF16; :func:`mmacc_tile`):
FlashAttention-2 on vfwmmacc tiles, S = Q K^T and O += P V as tile multiplies, P rounded
to BF16 for PV (as FA2 on tensor cores), online softmax on the vector unit with
vfsegredmax/vfsegredsum row statistics and vfexp (:func:`prefill_mmacc`); the same
causal schedule (band pass + dyadic squares). The whole Br = K_t query blocks run as tiles
and the last Sq mod Br queries (e.g. a 2001-token prefill) as one RVV query block (scratch
of its own); keys must still come in whole blocks (D, and Skv - Sq causal / Skv otherwise,
multiples of K_t) and Sq >= Br. Other shapes run the RVV kernel (:mod:`.prefill`). Without vfexp the
exp is the RVV polynomial one register at a time (LMUL=1: its 5 temporaries fit in the Q/K
tile registers, free during the softmax); without segred each row reduction is a
vslidedown tree inside the rows of a tile, stored and reloaded with stride N_t.
"""

from __future__ import annotations

import math

from isa.instructions import TileGeometry, tile_geometry
from isa.kernels.attention.schedule import lower_triangle
from isa.kernels.common import Kc
from isa.program import Affine, V, X

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


def prefill_mmacc(kc: Kc, t: TileGeometry, bsz: int, hq: int, hkv: int, sq: int, skv: int,  # noqa: C901, PLR0915  (over the size ceiling: to split)
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

            def kblock(blk: Affine, k0: Affine, masked: bool) -> None:  # noqa: C901, PLR0915  (over the size ceiling: to split)
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
                lower_triangle(kc, nblk, br, off, run)
            with kc.rep("qb", nblk, ptrs=2) as i:
                finish(i)


# ---- decode -------------------------------------------------------------------------------
