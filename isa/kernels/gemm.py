"""gemm: G independent ``C[M,N] = A[M,K] @ B[K,N]`` (GEMV when M=1, grouped MoE when G>1).

Plain RVV (the OpenBLAS-style RVV micro-kernel): C is register-blocked as ``gemm_mr``
rows x one vector of N; for every k, one unit-stride load of B[k, j:j+VL] and, per row,
a scalar load of A[r, k] broadcast by ``vfwmaccbf16.vf`` (Zvfbfwma, FP32 accumulators at
EMUL=2*LMUL) or ``vfmacc.vf`` (FP32). VLEN=512: 7 accumulators of 64 FP32 (m4) + B (m2).

Xattn ``mmacc`` (BF16 only): ``vfwmmacc.vv`` tiles (isa.instructions.tile_geometry;
4x4x8 at VLEN=512) in a 2x2 block of C tiles; A and B^T tiles come from ``vmtl.v`` tile
loads with a row pitch. B is then stored transposed (``Bt[N,K]``, the torch
``nn.Linear.weight`` layout: weights are packed once, offline). Used when M, N are
multiples of two tiles and K of the tile depth; otherwise the RVV kernel runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.instructions import Isa, tile_geometry
from isa.kernels.common import Kc, field, op_of, positive
from isa.program import F, Program, V


def uses_mmacc(isa: Isa, core: Core, m: int, n: int, k: int) -> bool:
    if not (isa.has("vfwmmacc.vv") and isa.has("vmtl.v") and isa.has("vmts.v")):
        return False
    if core.dtype != "bf16":
        return False
    g = tile_geometry(core.vlen, 1)
    return m % (2 * g.m) == 0 and n % (2 * g.n) == 0 and k % g.k == 0


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "gemm", ("matmul",))
    m, n, kk = positive(row, "M", "N", "K")
    g = max(1, field(row, "G", 1))
    kc = Kc(f"gemm G={g} M={m} N={n} K={kk}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("A", dt, g * m * kk, "in", (g, m, kk))
    b.buffer("C", dt, g * m * n, "out", (g, m, n))
    if uses_mmacc(kc.isa, kc.core, m, n, kk):
        b.buffer("Bt", dt, g * n * kk, "in", (g, n, kk))
        _mmacc(kc, g, m, n, kk)
        layout = "Bt"
    else:
        b.buffer("B", dt, g * kk * n, "in", (g, kk, n))
        emit_rvv_gemm(kc, g, m, n, kk, "A", "B", "C")
        layout = "B"
    return kc.program(kind="gemm", b_layout=layout)


def emit_rvv_gemm(kc: Kc, g: int, m: int, n: int, kk: int, a: str, bb: str, c: str) -> None:
    b = kc.b
    bf16 = b.buffers[bb].dtype == "bf16"
    mr = max(1, min(kc.core.gemm_mr, 7, m))
    vn = kc.core.vlen // 8  # = VLMAX at e16/m2 and at e32/m4
    accs = [V(4 + 4 * r) for r in range(7)]
    vb = V(0)
    m_blocks = [(m // mr, mr, 0), (1, m % mr, (m // mr) * mr)]
    n_blocks = [(n // vn, vn, 0), (1, n % vn, (n // vn) * vn)]
    with kc.rep("g", g) as gi:
        for mcount, rows, mbase in m_blocks:
            if not (mcount and rows):
                continue
            with kc.rep("i", mcount, ptrs=2) as i:
                for ncount, vl, nbase in n_blocks:
                    if not (ncount and vl):
                        continue
                    with kc.rep("j", ncount, ptrs=2) as j:
                        b.vsetvli(vl, 32, 4)
                        for r in range(rows):
                            b.emit("vmv.v.i", accs[r], 0)
                        if bf16:
                            b.vsetvli(vl, 16, 2)
                        col = nbase + j * vn
                        with kc.rep("k", kk, ptrs=2) as k:
                            boff = gi * (kk * n) + k * n + col
                            if bf16:
                                b.emit("vle16.v", vb, b.mem(bb, boff, 16))
                            else:
                                b.emit("vle32.v", vb, b.mem(bb, boff, 32))
                            for r in range(rows):
                                aoff = gi * (m * kk) + (i * mr + mbase + r) * kk + k
                                fr = F(1 + r)
                                kc.sload(fr, a, aoff)
                                b.emit("vfwmaccbf16.vf" if bf16 else "vfmacc.vf", accs[r], fr, vb)
                        for r in range(rows):
                            coff = gi * (m * n) + (i * mr + mbase + r) * n + col
                            if bf16:
                                b.emit("vfncvtbf16.f.f.w", vb, accs[r])
                                b.emit("vse16.v", vb, b.mem(c, coff, 16))
                            else:
                                b.emit("vse32.v", accs[r], b.mem(c, coff, 32))


def _mmacc(kc: Kc, g: int, m: int, n: int, kk: int) -> None:
    b = kc.b
    t = tile_geometry(kc.core.vlen, 1)
    tm, tn, tk = t.m, t.n, t.k
    full = kc.core.vlmax(16, 1)
    cstep = max(2, t.c_regs)
    ctiles = [[V(8 + cstep * (2 * r + c)) for c in range(2)] for r in range(2)]
    va = [V(1), V(2)]
    vbt = [V(3), V(4)]
    out = V(24)
    with kc.rep("g", g) as gi, kc.rep("i", m // (2 * tm), ptrs=2) as i, \
            kc.rep("j", n // (2 * tn), ptrs=2) as j:
        b.vsetvli(tm * tn, 32, t.c_regs)
        for rr in ctiles:
            for ct in rr:
                b.emit("vmv.v.i", ct, 0)
        b.vsetvli(full, 16, 1)
        with kc.rep("k", kk // tk, ptrs=3) as k:
            for r in range(2):
                aoff = gi * (m * kk) + (i * 2 * tm + r * tm) * kk + k * tk
                b.emit("vmtl.v", va[r], b.mem("A", aoff, 16, "strided", kk), (tm, tk))
            for c in range(2):
                boff = gi * (n * kk) + (j * 2 * tn + c * tn) * kk + k * tk
                b.emit("vmtl.v", vbt[c], b.mem("Bt", boff, 16, "strided", kk), (tn, tk))
            for r in range(2):
                for c in range(2):
                    b.emit("vfwmmacc.vv", ctiles[r][c], va[r], vbt[c])
        b.vsetvli(tm * tn, 16, 1)
        for r in range(2):
            for c in range(2):
                coff = gi * (m * n) + (i * 2 * tm + r * tm) * n + j * 2 * tn + c * tn
                b.emit("vfncvtbf16.f.f.w", out, ctiles[r][c])
                b.emit("vmts.v", out, b.mem("C", coff, 16, "strided", n), (tm, tn))
