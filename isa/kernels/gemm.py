"""gemm: G independent ``C[M,N] = A[M,K] @ B[K,N]`` (GEMV when M=1, grouped MoE when G>1).

Cache blocking (BLIS/GotoBLAS loop order, ``core.gemm_kc`` / ``core.gemm_nc``)::

    for g; for jc (N panels of nc); for pc (K blocks of kc); for i (M blocks); for j; for k

The kc x nc panel of B is invariant in the M loop ``i``, so it stays in L2 across all M
blocks (B leaves DRAM once per op, not once per M block); the micro-kernel's A micro-panel
(rows x kc) is invariant in ``j`` and stays in L1. With several K blocks, C partial sums
live in an FP32 scratch ``Cacc`` (the first block starts from zero, the last writes C):
BF16 partial sums would lose precision. A single M block (GEMV, decode) is not blocked:
nothing is reused across M.

Plain RVV (the OpenBLAS-style RVV micro-kernel): C is register-blocked as ``gemm_mr``
rows x one vector of N; for every k, one unit-stride load of B[k, j:j+VL] and, per row,
a scalar load of A[r, k] broadcast by ``vfwmaccbf16.vf`` (Zvfbfwma, FP32 accumulators at
EMUL=2*LMUL) or ``vfmacc.vf`` (FP32). VLEN=512: 7 accumulators of 64 FP32 (m4) + B (m2).
Scheduled for an in-order core: the k step's scalar loads of A are issued before the B
load and the FMAs, so no FMA waits for the load-to-use latency of its scalar (the FMAs of
step k queue behind the vector unit while the loads of step k+1 issue), and with BF16 the
k loop is unrolled by two over two B registers (v0, v2), so the B load of step k+1 does
not wait for the last FMA reading step k's B (write-after-read).

Xattn ``mmacc`` (BF16 only): ``vfwmmacc.vv`` tiles (isa.instructions.tile_geometry) in a
``bm x bn`` block of C tiles held in registers; A and B^T tiles come from ``vmtl.v`` tile
loads with a row pitch, each reused by bn (A) or bm (B) tile multiplies. The LMUL of the
tiles and the register blocking are chosen (:func:`mmacc_plan`) so that the tile loads of
one k step take no longer than its tile multiplies (riscv.md 6 #4: occupancy M*N*K /
MACs-per-cycle; tile loads one row per cycle): VLEN=512 gives 8x8x16 tiles (LMUL=4) in a
2x2 block, 32 load cycles per 64 matrix cycles. B is stored transposed (``Bt[N,K]``, the
torch ``nn.Linear.weight`` layout: weights are packed once, offline). Used when M, N are
K is a multiple of the tile depth and the C block fits in M x N (otherwise the RVV kernel
runs). M and N remainders: the last M rows run as tiles of fewer rows (``vmtl.v`` of r < M_t
rows into a zeroed register: rows >= r stay zero and their C rows are never stored), the
last N columns as fewer tiles per block, and the last N mod N_t columns (C tiles are stored
whole rows, so column-partial tiles cannot be) on the RVV micro-kernel reading B^T with a
strided load (``vlse16.v``, pitch K).

Quantised B (the row's ``weight_dtype``: int8, int4, q8_0, q4_0, fp8, mxfp4; packed
layouts and unpacking sequences in :mod:`isa.kernels.quant`): the RVV kernel unpacks each
row of B (one vector of columns) to BF16 in registers and feeds the same widening FMAs
(a GEMV one step ahead, with FP32 partial sums per group; a GEMM scales the unpacked row
once for all rows of A, five rows in registers); the Xattn kernel unpacks each (N panel, K
block) of B^T once into a BF16 scratch panel that the same vfwmmacc tiles read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa, TileGeometry, tile_geometry
from isa.kernels import ara, ggml, ime, kquant, quant
from isa.kernels.common import Kc, field, op_of, positive
from isa.program import Affine, Builder, F, Mem, Program, Reg, V


@dataclass(frozen=True)
class MmaccPlan:
    """Register blocking of the vfwmmacc micro-kernel: ``bm x bn`` C tiles of ``tile``
    (A/B^T tiles at LMUL ``lmul``)."""

    lmul: int
    tile: TileGeometry
    bm: int
    bn: int

    @property
    def rows(self) -> int:
        return self.bm * self.tile.m

    @property
    def cols(self) -> int:
        return self.bn * self.tile.n

    @property
    def cstep(self) -> int:
        # C groups: c_regs registers, at least 2 apart so that the narrowing convert's
        # 2*LMUL source group stays aligned
        return max(2, self.tile.c_regs)

    def registers(self) -> int:
        c = self.bm * self.bn * self.cstep
        return math.ceil(c / self.lmul) * self.lmul + (self.bm + self.bn) * self.lmul


def mmacc_plan(core: Core, m: int, n: int, k: int) -> MmaccPlan | None:
    """The best-fed register blocking for an M x N x K GEMM, or None if no tile fits.

    Per k step the bm + bn tile loads take ``rows x ceil(K_t*16/DLEN)`` cycles each on the
    load sequencer and the bm*bn tile multiplies their occupancy on the matrix array; the
    plan maximises the array's share (multiplies / max(loads, multiplies)), then the MACs
    per k step (fewer instructions). A block that divides M and N is preferred; otherwise
    the plan needs one whole C block (rows <= M, cols <= N) and the M / N remainders run
    as smaller and row-partial tiles (and the last < tile-N columns on the RVV kernel)."""
    tp = core.timing()
    best: tuple[tuple[bool, float, int], MmaccPlan] | None = None
    for lmul in (1, 2, 4, 8):
        t = tile_geometry(core.vlen, lmul)
        if t.c_regs > 8 or k % t.k:
            continue
        for bm in range(1, 5):
            for bn in range(1, 5):
                p = MmaccPlan(lmul, t, bm, bn)
                if p.registers() > 32 or p.rows > m or p.cols > n:
                    continue
                loads = (bm * t.m + bn * t.n) * max(1, math.ceil(t.k * 16 / tp.dlen))
                mm = bm * bn * max(1, math.ceil(t.m * t.n * t.k / tp.mmacc_macs_per_cycle))
                score = (m % p.rows == 0 and n % p.cols == 0, mm / max(mm, loads),
                         bm * bn * t.m * t.n * t.k)
                if best is None or score > best[0]:
                    best = (score, p)
    return best[1] if best else None


def uses_mmacc(isa: Isa, core: Core, m: int, n: int, k: int) -> bool:
    if not (isa.has("vfwmmacc.vv") and isa.has("vmtl.v") and isa.has("vmts.v")):
        return False
    if core.dtype != "bf16":
        return False
    return mmacc_plan(core, m, n, k) is not None


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "gemm", ("matmul",))
    m, n, kk = positive(row, "M", "N", "K")
    g = max(1, field(row, "G", 1))
    kc = Kc(f"gemm G={g} M={m} N={n} K={kk}", isa, core)
    if str(row.get("weight_dtype") or "") == kquant.FORMAT:  # llama.cpp's only
        if kc.core.library != "llamacpp" or kc.core.dtype != "bf16":
            raise IsaError(f"weight dtype {kquant.FORMAT!r} has a RISC-V kernel in llama.cpp's "
                           "library only (kernel.library = llamacpp: ggml_vec_dot_q6_K_q8_K)")
        return kquant.vec_dot(kc, g, m, n, kk)
    fmt = quant.weight_format(str(row.get("weight_dtype") or ""), kc.core)
    if kc.core.library == "llamacpp":
        prog = ggml.lower(kc, g, m, n, kk, fmt, int(row.get(ime.TASK_ROWS_FIELD) or 0))
        if prog is not None:
            return prog
    if kc.core.library == "ara":
        prog = ara.lower(kc, g, m, n, kk, fmt)
        if prog is not None:
            return prog
    if ime.usable(kc.isa, kc.core, n, kk, fmt):
        assert fmt is not None
        return ime.lower(kc, g, m, n, kk, fmt)
    if fmt is not None and fmt.has_min:
        ideal = ", ".join(quant.IDEAL_FORMATS)
        raise IsaError(f"weight dtype {fmt.name!r} has RISC-V kernels in llama.cpp's library "
                       f"only (kernel.library = llamacpp: ggml's vec-dot, or the IME); the "
                       f"ideal kernels take bf16, fp16, {ideal}")
    if fmt is not None:
        kc.b.name += f" B={fmt.name}"
        plan = mmacc_plan(kc.core, m, n, kk) if uses_mmacc(kc.isa, kc.core, m, n, kk) \
            else None
        # the tile kernel's K blocks hold whole tiles and whole groups of scales
        if plan is not None and kk % _quant_kstep(fmt, kk, plan) == 0:
            return _lower_quantised_mmacc(kc, g, m, n, kk, fmt, plan)
        return _lower_quantised(kc, g, m, n, kk, fmt)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("A", dt, g * m * kk, "in", (g, m, kk))
    b.buffer("C", dt, g * m * n, "out", (g, m, n))
    if uses_mmacc(kc.isa, kc.core, m, n, kk):
        b.buffer("Bt", dt, g * n * kk, "in", (g, n, kk))
        plan = mmacc_plan(kc.core, m, n, kk)
        assert plan is not None
        _mmacc(kc, g, m, n, kk, plan)
        layout = "Bt"
    else:
        b.buffer("B", dt, g * kk * n, "in", (g, kk, n))
        emit_rvv_gemm(kc, g, m, n, kk, "A", "B", "C")
        layout = "B"
    return kc.program(kind="gemm", b_layout=layout)


# ---- cache blocking -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Block:
    """``count`` blocks of ``size`` starting at ``base`` (the loop variable steps by
    ``step``); ``first``/``last``: whether it holds the first / last K block."""

    count: int
    size: int
    base: int
    step: int
    first: bool = True
    last: bool = True


def _n_panels(n: int, nc: int) -> list[_Block]:
    full, tail = divmod(n, nc)
    out = [_Block(full, nc, 0, nc)] if full else []
    if tail:
        out.append(_Block(1, tail, full * nc, nc))
    return out


def _k_blocks(kk: int, kc: int) -> list[_Block]:
    nb = math.ceil(kk / kc)
    if nb == 1:
        return [_Block(1, kk, 0, kc)]
    last = kk - (nb - 1) * kc
    out = [_Block(1, kc, 0, kc, True, False)]
    if nb > 2:
        out.append(_Block(nb - 2, kc, kc, kc, False, False))
    out.append(_Block(1, last, (nb - 1) * kc, kc, False, True))
    return out


def _blocking(core: Core, m: int, n: int, kk: int, rows: int, cols: int, kstep: int
              ) -> tuple[list[_Block], list[_Block]]:
    """(N panels, K blocks); one of each when there is a single M block (no reuse)."""
    if m <= rows:
        return _n_panels(n, n), _k_blocks(kk, kk)
    nc = max(cols, core.gemm_nc // cols * cols)
    kc = max(kstep, core.gemm_kc // kstep * kstep)
    return _n_panels(n, nc), _k_blocks(kk, kc)


def _cache_blocked(kc: Kc, g: int, m: int, n: int, kk: int, rows: int, cols: int,
                   kstep: int, panel_body) -> None:
    """Emit the g / jc / pc loops; ``panel_body(gi, col0, width, k0, depth, blk)`` emits
    the M/N/K loops of one (N panel, K block)."""
    panels, kblocks = _blocking(kc.core, m, n, kk, rows, cols, kstep)
    if len(kblocks) > 1:
        kc.b.buffer("Cacc", "fp32", g * m * n, "scratch", (g, m, n))
    with kc.rep("g", g) as gi:
        for pn in panels:
            with kc.rep("jc", pn.count, ptrs=2) as jc:
                col0 = pn.base + jc * pn.step
                for kb in kblocks:
                    with kc.rep("pc", kb.count, ptrs=2) as pc:
                        panel_body(gi, col0, pn.size, kb.base + pc * kb.step, kb.size, kb)


# ---- plain RVV ------------------------------------------------------------------------------
def emit_rvv_gemm(kc: Kc, g: int, m: int, n: int, kk: int, a: str, bb: str, c: str) -> None:
    mr = max(1, min(kc.core.gemm_mr, 7, m))
    _cache_blocked(kc, g, m, n, kk, mr, kc.core.vlen // 8, 1,
                   _rvv_panel(kc, g, m, n, kk, a, bb, c))


def _rvv_panel(kc: Kc, g: int, m: int, n: int, kk: int, a: str, bb: str, c: str,
               transposed: BtSource | None = None):
    """The M/N/K loops of the RVV micro-kernel for one (N panel, K block); with
    ``transposed`` B is read where that source says (B^T, ``[N, K]``: a row of B is a
    strided load, pitch K; or a scratch panel of B)."""
    b = kc.b
    bf16 = b.buffers[transposed.buf if transposed else bb].dtype == "bf16"
    mr = max(1, min(kc.core.gemm_mr, 7, m))
    accs = [V(4 + 4 * r) for r in range(7)]
    # B rows: BF16 at m2 leaves v2-v3 free beside v0-v1, so two B registers alternate
    # between k steps (the load of step k+1 does not wait for the FMAs reading step k's
    # B); an FP32 B row (m4) fills v0-v3: one register
    vbs = [V(0), V(2)] if bf16 else [V(0)]
    ew = 16 if bf16 else 32

    def load_b(gi: Affine, kidx: Affine, col: Affine, vb: Reg) -> None:
        if transposed and not transposed.transposed:  # a B panel in scratch
            b.emit(f"vle{ew}.v", vb, transposed.mem(b, gi, col, kidx, ew))
        elif transposed:
            b.emit(f"vlse{ew}.v", vb, transposed.mem(b, gi, col, kidx, ew))
        else:
            boff = gi * (kk * n) + kidx * n + col
            b.emit(f"vle{ew}.v", vb, b.mem(bb, boff, ew))

    def kstep(gi: Affine, i: Affine, mbase: int, nrows: int, kidx: Affine, vb: Reg,
              load_next: Callable[[], None]) -> None:
        """One k step with B row ``kidx`` in ``vb``. The rows' A scalars are loaded first,
        all of them (an FMA right after the load it reads would stall the in-order front
        end for the load-to-use latency once per row), then ``load_next()`` emits the B
        row a later step reads (the in-order vector unit dispatches it ahead of this step's
        FMAs, which never wait for a B load), then the FMAs."""
        for r in range(nrows):
            kc.sload(F(1 + r), a, gi * (m * kk) + (i * mr + mbase + r) * kk + kidx)
        load_next()
        for r in range(nrows):
            b.emit("vfwmaccbf16.vf" if bf16 else "vfmacc.vf", accs[r], F(1 + r), vb)

    def k_loop(gi: Affine, i: Affine, mbase: int, nrows: int, k0: Affine, depth: int,
               col: Affine) -> None:
        """The k loop: with two B registers, B is loaded one step ahead and the loop is
        unrolled by two (Kc.pipelined); with one, each step loads its own B row."""
        if len(vbs) == 1:
            with kc.rep("k", depth, ptrs=2) as k:
                kstep(gi, i, mbase, nrows, k0 + k, vbs[0],
                      lambda: load_b(gi, k0 + k, col, vbs[0]))
            return
        kc.pipelined("k", depth, (vbs[0], vbs[1]),
                     lambda j, reg: load_b(gi, k0 + j, col, reg),
                     lambda j, reg, load_next: kstep(gi, i, mbase, nrows, k0 + j, reg,
                                                     load_next))

    return _register_panel(kc, m, n, mr, accs, vbs[0], c,
                           lambda gi, i, mbase, nrows, k0, depth, col, vl, blk:
                           k_loop(gi, i, mbase, nrows, k0, depth, col))


KLoop = Callable[[Affine, Affine, int, int, Affine, int, Affine, int, _Block], None]


def _register_panel(kc: Kc, m: int, n: int, mr: int, accs: list[Reg], stage: Reg, c: str,
                    k_loop: KLoop):
    """The M/N loops of a register-blocked micro-kernel (``mr`` rows x one vector of
    columns, FP32 accumulators ``accs``) for one (N panel, K block): the accumulators
    start at zero or from ``Cacc``, ``k_loop(gi, i, mbase, nrows, k0, depth, col, vl,
    blk)`` accumulates the K block, and they go back to ``Cacc`` or, after the last K
    block, to ``c`` (BF16 through ``stage``, or FP32)."""
    b = kc.b
    bf16 = b.buffers[c].dtype == "bf16"
    vn = kc.core.vlen // 8  # = VLMAX at e16/m2 and at e32/m4
    m_blocks = [(m // mr, mr, 0), (1, m % mr, (m // mr) * mr)]

    def panel(gi: Affine, col0: Affine, width: int, k0: Affine, depth: int, blk: _Block
              ) -> None:
        n_blocks = [(width // vn, vn, 0), (1, width % vn, (width // vn) * vn)]
        for mcount, nrows, mbase in m_blocks:
            if not (mcount and nrows):
                continue
            with kc.rep("i", mcount, ptrs=2) as i:
                for ncount, vl, nbase in n_blocks:
                    if not (ncount and vl):
                        continue
                    with kc.rep("j", ncount, ptrs=2) as j:
                        col = col0 + nbase + j * vn

                        def coff(r: int, mbase: int = mbase, col: Affine = col) -> Affine:
                            return gi * (m * n) + (i * mr + mbase + r) * n + col
                        b.vsetvli(vl, 32, 4)
                        for r in range(nrows):
                            if blk.first:
                                b.emit("vmv.v.i", accs[r], 0)
                            else:
                                b.emit("vle32.v", accs[r], b.mem("Cacc", coff(r), 32))
                        if bf16:
                            b.vsetvli(vl, 16, 2)
                        k_loop(gi, i, mbase, nrows, k0, depth, col, vl, blk)
                        _store_rows(kc, accs[:nrows], coff, vl, blk, stage, c)

    return panel


def _store_rows(kc: Kc, accs: list[Reg], coff: Callable[[int], Affine], vl: int,
                blk: _Block, stage: Reg, c: str) -> None:
    b = kc.b
    bf16 = b.buffers[c].dtype == "bf16"
    for r, acc in enumerate(accs):
        if not blk.last:
            b.vsetvli(vl, 32, 4)
            b.emit("vse32.v", acc, b.mem("Cacc", coff(r), 32))
        elif bf16:
            b.vsetvli(vl, 16, 2)
            b.emit("vfncvtbf16.f.f.w", stage, acc)
            b.emit("vse16.v", stage, b.mem(c, coff(r), 16))
        else:
            b.vsetvli(vl, 32, 4)
            b.emit("vse32.v", acc, b.mem(c, coff(r), 32))


# ---- quantised B (isa.kernels.quant) ----------------------------------------------------------
def _lower_quantised(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat
                     ) -> Program:
    """B packed in ``fmt`` (``Bq`` codes, ``Bs`` scales), unpacked to BF16 in registers
    one row of B at a time and fed to the RVV micro-kernel's widening FMAs."""
    b = kc.b
    if kc.core.dtype != "bf16":
        raise IsaError(f"{fmt.name} weights need BF16 activations, got {kc.core.dtype}")
    grp = fmt.group_of(kk)
    if kk % grp or grp % fmt.per_byte:
        raise IsaError(f"K={kk} is not a multiple of the {fmt.name} group of {grp} weights")
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    quant.declare(b, fmt, g, n, kk)
    quant.setup(b, fmt)
    if quant.end_factor(fmt) != 1.0:  # an f register loaded once, before the loops
        kc.fconst(quant.end_factor(fmt))
    kstep = fmt.per_byte if fmt.per_channel else grp
    mr = quant_rows(kc.core, m)
    if m <= mr:  # one M block: each unpacked row of B is used once, in registers
        _cache_blocked(kc, g, m, n, kk, mr, kc.core.vlen // 8, kstep,
                       _quant_panel(kc, g, m, n, kk, fmt))
    else:  # several M blocks: unpack each panel of B once, run the BF16 micro-kernel
        rows = max(1, min(kc.core.gemm_mr, 7, m))
        src = _scratch_panel(kc, m, n, kk, rows, kc.core.vlen // 8, kstep, False)
        panel = _rvv_panel(kc, g, m, n, kk, "A", src.buf, "C", transposed=src)

        def unpacked(gi: Affine, col0: Affine, cols: int, k0: Affine, depth: int,
                     blk: _Block) -> None:
            src.origin = (col0, k0)
            _unpack_rows(kc, fmt, n, kk, gi, col0, cols, k0, depth, src.pitch)
            panel(gi, col0, cols, k0, depth, blk)

        _cache_blocked(kc, g, m, n, kk, rows, kc.core.vlen // 8, kstep, unpacked)
    # with several rows the FMAs read B dequantised to BF16 (a group scale multiplied in,
    # rounded: _gemm_group's vfmul.vv, the Bp panel); a GEMV scales its FP32 partial sums
    return kc.program(kind="gemm", b_layout="Bq", weight_format=fmt.name, weight_group=grp,
                      **({"b_rounded": "bf16"} if m > 1 else {}))


def _scratch_panel(kc: Kc, m: int, n: int, kk: int, rows: int, cols: int, kstep: int,
                   transposed: bool) -> BtSource:
    """A BF16 scratch ``Bp`` for the largest (N panel, K block) of the cache blocking:
    ``[width, depth]`` (B^T) or ``[depth, width]`` (B)."""
    panels, kblocks = _blocking(kc.core, m, n, kk, rows, cols, kstep)
    width = max(p.size for p in panels)
    depth = max(kb.size for kb in kblocks)
    shape = (width, depth) if transposed else (depth, width)
    kc.b.buffer("Bp", "bf16", width * depth, "scratch", shape)
    return BtSource(n, kk, "Bp", shape[1], transposed=transposed)


def _unpack_rows(kc: Kc, fmt: quant.WeightFormat, n: int, kk: int, gi: Affine,
                 col0: Affine, cols: int, k0: Affine, depth: int, pitch: int) -> None:
    """Columns ``col0 .. col0 + cols`` of B, k in ``k0 .. k0 + depth``, unpacked into
    ``Bp`` (``[depth, pitch]`` BF16): per vector of columns and group, the group's scales,
    then per byte row the codes unpacked, multiplied by the format's constant and the
    scales, stored as ``per_byte`` rows of B."""
    b, regs, per = kc.b, _GEMM_REGS, fmt.per_byte
    grp = fmt.group_of(kk)
    glen = depth if fmt.per_channel else grp
    vn = kc.core.vlen // 8
    factor = quant.end_factor(fmt)
    for count, vl, base in ((cols // vn, vn, 0), (1, cols % vn, cols // vn * vn)):
        if not (count and vl):
            continue
        with kc.rep("dj", count, ptrs=2) as j:
            col = col0 + base + j * vn
            with kc.rep("dg", depth // glen, ptrs=3) as q:
                kg0 = k0 + q * glen
                sg = 0 if fmt.per_channel else _div(kg0, grp)
                quant.load_scale(b, fmt, gi * (kk // grp * n) + sg * n + col, vl, regs.s,
                                 regs.t8[0])
                with kc.rep("dk", glen // per, ptrs=3) as r:
                    quant.load_codes(b, gi * (kk // per * n) + (_div(kg0, per) + r) * n + col,
                                     vl, regs.p[0])
                    quant.decode(b, fmt, regs.p[0], vl, regs, False)
                    for h in range(per):
                        w = regs.w[h]
                        if factor != 1.0:
                            b.emit("vfmul.vf", w, w, kc.fconst(factor))
                        b.emit("vfmul.vv", w, w, regs.s)
                        row = kg0 - k0 + r + h * (glen // 2)
                        b.emit("vse16.v", w, b.mem("Bp", row * pitch + (col - col0), 16))


def _quant_kstep(fmt: quant.WeightFormat, kk: int, plan: MmaccPlan) -> int:
    """K blocks of the tile kernel hold whole tiles and whole groups of scales."""
    unit = fmt.per_byte if fmt.per_channel else fmt.group_of(kk)
    return math.lcm(plan.tile.k, unit)


def _lower_quantised_mmacc(kc: Kc, g: int, m: int, n: int, kk: int,
                           fmt: quant.WeightFormat, plan: MmaccPlan) -> Program:
    """B packed N-major in ``fmt`` (``Bqt``, ``Bst``): each (N panel, K block) of B^T is
    unpacked once into a BF16 scratch panel ``Bp`` (it stays in L2 across the M blocks, as
    a BF16 panel of B does), which the vfwmmacc tiles (and the RVV tail columns) read.
    Unpacking once per panel, not once per tile load, costs it once per op instead of
    once per M block."""
    b = kc.b
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    quant.declare(b, fmt, g, n, kk, transposed=True)
    quant.setup(b, fmt)
    bt = _scratch_panel(kc, m, n, kk, plan.rows, plan.cols, _quant_kstep(fmt, kk, plan),
                        True)
    pitch = bt.pitch
    factor = quant.end_factor(fmt)
    if factor != 1.0:
        kc.fconst(factor)

    def prepare(gi: Affine, col0: Affine, cols: int, k0: Affine, depth: int) -> None:
        bt.origin = (col0, k0)
        _unpack_panel(kc, fmt, g, n, kk, gi, col0, cols, k0, depth, pitch)

    _mmacc(kc, g, m, n, kk, plan, bt, prepare)
    return kc.program(kind="gemm", b_layout="Bqt", weight_format=fmt.name,
                      weight_group=fmt.group_of(kk), b_rounded="bf16")


def _unpack_panel(kc: Kc, fmt: quant.WeightFormat, g: int, n: int, kk: int, gi: Affine,
                  col0: Affine, width: int, k0: Affine, depth: int, pitch: int) -> None:
    """Rows ``col0 .. col0 + width`` of B^T, k in ``k0 .. k0 + depth``, into ``Bp`` (BF16):
    per row and group, the group's scale (a scalar), then strips of codes along K
    unpacked (quant.decode), multiplied by the format's constant and the scale, stored."""
    b, regs, per = kc.b, _GEMM_REGS, fmt.per_byte
    glen = depth if fmt.per_channel else fmt.group_of(kk)
    groups = kk // fmt.group_of(kk)
    krows = kk // per
    vmax = kc.core.vlmax(8, 1)
    factor = quant.end_factor(fmt)
    with kc.rep("dn", width, ptrs=2) as nn:
        col = col0 + nn
        with kc.rep("dg", depth // glen, ptrs=3) as q:
            kg0 = k0 + q * glen
            sc = kc.ftemps(1)[0]
            soff = gi * (n * groups) + col * groups + (0 if fmt.per_channel
                                                       else _div(kg0, glen))
            if fmt.scale == "e8m0":
                quant.load_scale(b, fmt, soff, 1, regs.s, regs.t8[0], "Bst")
                b.emit("vfmv.f.s", sc, regs.s)
            else:
                kc.sload(sc, "Bst", soff)
            main, tail = divmod(glen // per, vmax)
            for count, vl, base in ((main, vmax, 0), (1, tail, main * vmax)):
                if not (count and vl):
                    continue
                with kc.rep("dc", count, ptrs=3) as c:
                    off = base + c * vl
                    quant.load_codes(b, gi * (n * krows) + col * krows + _div(kg0, per) + off,
                                     vl, regs.p[0], "Bqt")
                    quant.decode(b, fmt, regs.p[0], vl, regs, False)
                    for h in range(per):
                        w = regs.w[h]
                        if factor != 1.0:
                            b.emit("vfmul.vf", w, w, kc.fconst(factor))
                        b.emit("vfmul.vf", w, w, sc)
                        dst = nn * pitch + (kg0 - k0) + h * (glen // 2) + off
                        b.emit("vse16.v", w, b.mem("Bp", dst, 16))


def quant_rows(core: Core, m: int) -> int:
    """Rows of C in registers with packed B: the unpacking takes v0-v11, leaving five FP32
    accumulator groups (m4) of v12-v31."""
    return max(1, min(core.gemm_mr, (32 - _GEMM_ACC0) // 4, m))


# Registers of the unpacking: GEMM (rows share each unpacked row) and GEMV (one row: the
# unpacking runs one step ahead, so two sets of rows alternate; group partial sums).
_GEMM_REGS = quant.QuantRegs(w=(V(0), V(2)), s=V(4), p=(V(6), V(7)), t8=(V(8), V(9)))
_GEMM_ACC0 = 12
_GEMV_REGS = tuple(quant.QuantRegs(w=w, s=V(14), p=(V(8), V(9)), t8=(V(10), V(11)))
                   for w in ((V(0), V(2)), (V(4), V(6))))
# the accumulator, two FP32 partial sums (independent FMA chains: the low / high codes of
# a byte, or even / odd byte rows) and the group scales widened to FP32
_GEMV_ACC, _GEMV_PARTS, _GEMV_S32 = V(16), (V(20), V(24)), V(28)


def _quant_panel(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat):
    """The M/N/K loops of the RVV micro-kernel with B unpacked from ``fmt``, per group of
    K (a K block for per-channel scales) of one vector of columns (quant's module doc)."""
    b = kc.b
    mr = quant_rows(kc.core, m)
    accs = [_GEMV_ACC] if m == 1 else [V(_GEMM_ACC0 + 4 * r) for r in range(mr)]
    grp = fmt.group_of(kk)
    per = fmt.per_byte
    krows = kk // per
    group_kernel = _gemm_group
    if m == 1:
        group_kernel = _gemv_group if quant.stages(fmt) is None else _gemv_group_staged

    def k_loop(gi: Affine, i: Affine, mbase: int, nrows: int, k0: Affine, depth: int,
               col: Affine, vl: int, blk: _Block) -> None:
        glen = depth if fmt.per_channel else grp  # k per scale within this K block

        def a_off(r: int, kidx: Affine) -> Affine:
            return gi * (m * kk) + (i * mr + mbase + r) * kk + kidx

        with kc.rep("kg", depth // glen, ptrs=3) as q:
            kg0 = k0 + q * glen
            sc = None if fmt.per_channel else gi * (kk // grp * n) + _div(kg0, grp) * n + col
            boff = gi * (krows * n) + _div(kg0, per) * n + col
            group_kernel(kc, fmt, accs[:nrows], glen, vl,
                         lambda j, reg: quant.load_codes(b, boff + j * n, vl, reg),
                         lambda r, j, kg0=kg0: a_off(r, kg0 + j), sc)
        if blk.last:
            _scale_channels(kc, fmt, accs[:nrows], gi * n + col, vl)

    return _register_panel(kc, m, n, mr, accs, _GEMM_REGS.w[0], "C", k_loop)


def _a_scalars(kc: Kc, nrows: int, per: int, half: int, a_off, j: Affine) -> list[Reg]:
    """The A scalars of byte row ``j``'s codes (k = j and, 4-bit, j + half), per row."""
    fa = kc.ftemps(nrows * per)
    for h in range(per):
        for r in range(nrows):
            kc.sload(fa[h * nrows + r], "A", a_off(r, j + h * half))
    return fa


def _gemm_group(kc: Kc, fmt: quant.WeightFormat, accs: list[Reg], glen: int, vl: int,
                load, a_off, scale: Affine | None) -> None:
    """One group, several rows: the group's scales, then per byte row (codes loaded one
    step ahead, Kc.pipelined) the unpacked, scaled rows into every row's accumulator."""
    b, regs, per = kc.b, _GEMM_REGS, fmt.per_byte
    if scale is not None:
        quant.load_scale(b, fmt, scale, vl, regs.s, regs.t8[0])

    def step(j: Affine, p: Reg, load_next: Callable[[], None]) -> None:
        fa = _a_scalars(kc, len(accs), per, glen // per, a_off, j)
        load_next()
        quant.decode(b, fmt, p, vl, regs, scale is not None)
        for h in range(per):
            for r, acc in enumerate(accs):
                b.emit("vfwmaccbf16.vf", acc, fa[h * len(accs) + r], regs.w[h])

    kc.pipelined("k", glen // per, regs.p, load, step)


def _gemv_group(kc: Kc, fmt: quant.WeightFormat, accs: list[Reg], glen: int, vl: int,
                load, a_off, scale: Affine | None) -> None:
    """One group, one row: byte row j + 2's codes are loaded and row j + 1 unpacked
    while row j's FMAs run (two register sets alternate). The products go to two FP32
    partial sums (two independent FMA chains); at the group's end they are added and,
    with group scales, multiplied by the group's scales into the accumulator."""
    b, per = kc.b, fmt.per_byte
    rows = glen // per
    parts = _GEMV_PARTS
    b.vsetvli(vl, 32, 4)
    for part in parts:
        b.emit("vmv.v.i", part, 0)
    load(Affine(0), _GEMV_REGS[0].p[0])
    if rows > 1:
        load(Affine(1), _GEMV_REGS[0].p[1])
    quant.decode(b, fmt, _GEMV_REGS[0].p[0], vl, _GEMV_REGS[0], False)

    def step(j: Affine, par: int, ahead: int) -> None:
        """Byte row j (parity ``par``) with ``ahead`` rows after it in the group."""
        fa = _a_scalars(kc, 1, per, glen // per, a_off, j)
        if ahead > 1:
            load(j + 2, _GEMV_REGS[0].p[par])

        def fmas() -> None:
            b.vsetvli(vl, 16, 2)
            for h in range(per):
                b.emit("vfwmaccbf16.vf", parts[h if per == 2 else par], fa[h],
                       _GEMV_REGS[par].w[h])
        if ahead > 0:  # this row's FMAs run inside the next row's unpacking chain
            nxt = _GEMV_REGS[1 - par]
            quant.decode(b, fmt, nxt.p[1 - par], vl, nxt, False, fmas)
        else:
            fmas()

    pairs = max(0, rows - 2) // 2  # unrolled by two: the register sets alternate
    if pairs:
        with kc.rep("k", pairs, ptrs=2) as k:
            step(k * 2, 0, 2)
            step(k * 2 + 1, 1, 2)
    for j in range(2 * pairs, rows):
        step(Affine(j), j % 2, min(2, rows - 1 - j))
    _fold_group(kc, fmt, accs[0], scale, vl)


def _stage_registers(st: list[quant.Stage]) -> tuple[list[list[list[Reg]]], list[Reg]]:
    """Registers of a staged GEMV unpacking, from v0: per stage, per parity of the byte row
    it holds, its output groups (aligned to their size); then two code registers."""
    nxt = 0
    slots: list[list[list[Reg]]] = []
    for stage in st:
        per_parity = []
        for _ in range(2):
            groups = []
            for size in stage.out:
                nxt = -(-nxt // size) * size
                groups.append(V(nxt))
                nxt += size
            per_parity.append(groups)
        slots.append(per_parity)
    codes = [V(nxt), V(nxt + 1)]
    assert nxt + 2 <= _GEMV_ACC.n, "staged unpacking registers overlap the accumulators"
    return slots, codes


def _gemv_group_staged(kc: Kc, fmt: quant.WeightFormat, accs: list[Reg], glen: int,
                       vl: int, load, a_off, scale: Affine | None) -> None:
    """One group, one row, the unpacking software-pipelined by stage: in step j, byte row
    j's FMAs, stage s of row j + D + 1 - s (D stages) and the load of row j + D + 1 run
    together, all independent (each stage's registers alternate between even and odd
    rows), so the in-order vector unit never waits on an unpacking link's latency.
    Products go to two FP32 partial sums, folded at the group's end as _gemv_group's."""
    b, per = kc.b, fmt.per_byte
    st = quant.stages(fmt)
    assert st is not None
    depth = len(st)
    slots, codes = _stage_registers(st)
    rows = glen // per
    parts = _GEMV_PARTS
    b.vsetvli(vl, 32, 4)
    for part in parts:
        b.emit("vmv.v.i", part, 0)

    def step(j: Affine, jr: int, steady: bool = False) -> None:
        """Step j: ``jr`` is j's value, or inside the loop (``steady``: every stage busy)
        its value mod 2, which is all the register choice needs."""
        fa = _a_scalars(kc, 1, per, rows, a_off, j) if jr >= 0 else []
        if steady or 0 <= jr + depth + 1 < rows:
            load(j + depth + 1, codes[(jr + depth + 1) % 2])
        for s in reversed(range(depth)):
            r = jr + depth - s  # the byte row stage s holds
            if not (steady or 0 <= r < rows):
                continue
            src = [codes[r % 2]] if s == 0 else slots[s - 1][r % 2]
            b.vsetvli(vl, st[s].sew, st[s].lmul)
            st[s].emit(b, src, slots[s][r % 2])
        if jr >= 0:
            b.vsetvli(vl, 16, 2)
            w = slots[-1][jr % 2]
            for h in range(per):
                b.emit("vfwmaccbf16.vf", parts[h if per == 2 else jr % 2], fa[h], w[h])

    for j in range(-depth - 1, 0):  # fill: the loads and stages of rows 0..D
        step(Affine(j), j)
    pairs = max(0, rows - depth - 1) // 2  # steps with every stage busy, two per trip
    if pairs:
        with kc.rep("k", pairs, ptrs=2) as k:
            step(k * 2, 0, steady=True)
            step(k * 2 + 1, 1, steady=True)
    for j in range(2 * pairs, rows):
        step(Affine(j), j)
    _fold_group(kc, fmt, accs[0], scale, vl)


def _fold_group(kc: Kc, fmt: quant.WeightFormat, acc: Reg, scale: Affine | None,
                vl: int) -> None:
    """acc += (part0 + part1) x the group's scales (widened to FP32), or + without."""
    b, parts = kc.b, _GEMV_PARTS
    if scale is not None:
        s = _GEMV_REGS[0].s
        quant.load_scale(b, fmt, scale, vl, s, _GEMV_REGS[0].t8[0])
        b.emit("vfwcvtbf16.f.f.v", _GEMV_S32, s)
    b.vsetvli(vl, 32, 4)
    b.emit("vfadd.vv", parts[0], parts[0], parts[1])
    if scale is not None:
        b.emit("vfmacc.vv", acc, _GEMV_S32, parts[0])
    else:
        b.emit("vfadd.vv", acc, acc, parts[0])


def _div(a: Affine, d: int) -> Affine:
    """``a / d`` for an offset whose constant and coefficients are all multiples of d."""
    if a.const % d or any(c % d for _, c in a.terms):
        raise IsaError(f"offset {a} is not a multiple of {d}")
    return Affine(a.const // d, tuple((v, c // d) for v, c in a.terms))


def _scale_channels(kc: Kc, fmt: quant.WeightFormat, accs: list[Reg], off: Affine, vl: int
                    ) -> None:
    """After the last k: multiply the FP32 accumulators by their columns' per-channel
    scales ``Bs[off]`` and the format's constant (quant.end_factor)."""
    b = kc.b
    factor = quant.end_factor(fmt)
    if not fmt.per_channel:
        if factor != 1.0:
            b.vsetvli(vl, 32, 4)
            for acc in accs:
                b.emit("vfmul.vf", acc, acc, kc.fconst(factor))
        return
    quant.load_scale(b, fmt, off, vl, _GEMM_REGS.s, _GEMM_REGS.t8[0])
    wide = V(0)  # FP32 scales at m4 (v0-v3): the unpacked rows are dead here
    b.emit("vfwcvtbf16.f.f.v", wide, _GEMM_REGS.s)
    b.vsetvli(vl, 32, 4)
    if factor != 1.0:
        b.emit("vfmul.vf", wide, wide, kc.fconst(factor))
    for acc in accs:
        b.emit("vfmul.vv", acc, acc, wide)


# ---- Xattn vfwmmacc ---------------------------------------------------------------------------
@dataclass
class BtSource:
    """Where a kernel reads B^T (``[N, K]``, K contiguous: a row of B is strided) or, with
    ``transposed`` false, B (``[K, N]``: a row of B is unit-stride): the operand ``buf``
    itself, or a scratch panel (``pitch`` elements per row) that unpacked quantised
    weights fill, ``origin`` its first column and k (set per panel)."""

    n: int
    k: int
    buf: str = "Bt"
    pitch: int = 0
    origin: tuple[Affine, Affine] | None = None
    transposed: bool = True

    def mem(self, b: Builder, gi: Affine, col: Affine, kidx: Affine, ew: int = 16) -> Mem:
        if self.origin is None:
            off = gi * (self.n * self.k) + col * self.k + kidx
            return b.mem(self.buf, off, ew, "strided", self.k)
        c0, k0 = self.origin
        if not self.transposed:
            return b.mem(self.buf, (kidx - k0) * self.pitch + (col - c0), ew)
        return b.mem(self.buf, (col - c0) * self.pitch + (kidx - k0), ew, "strided",
                     self.pitch)


PanelHook = Callable[[Affine, Affine, int, Affine, int], None]


def _mmacc(kc: Kc, g: int, m: int, n: int, kk: int, plan: MmaccPlan,
           bt: BtSource | None = None, prepare: PanelHook | None = None) -> None:
    """The tile kernel; ``prepare(gi, col0, width, k0, depth)`` runs at the start of each
    (N panel, K block) (it fills a scratch ``bt``)."""
    k = _MmaccKernel(kc, g, m, n, kk, plan, bt or BtSource(n, kk), prepare)
    _cache_blocked(kc, g, m, n, kk, plan.rows, plan.cols, plan.tile.k, k.panel)


class _MmaccKernel:
    """The register plan of :func:`_mmacc` and its emitters: per (N panel, K block)
    :meth:`panel` covers the panel with blocks of C tiles (:meth:`block`)."""

    def __init__(self, kc: Kc, g: int, m: int, n: int, kk: int, plan: MmaccPlan,
                 bt: BtSource, prepare: PanelHook | None) -> None:
        self.kc, self.b, self.m, self.n, self.kk = kc, kc.b, m, n, kk
        self.plan, self.bt, self.prepare = plan, bt, prepare
        self.t, lm, bm, bn = plan.tile, plan.lmul, plan.bm, plan.bn
        self.full = kc.core.vlmax(16, lm)
        self.cl = self.t.c_regs  # LMUL of a C tile at e32
        self.ctiles = [[V(plan.cstep * (bn * r + c)) for c in range(bn)] for r in range(bm)]
        a0 = math.ceil(bm * bn * plan.cstep / lm) * lm
        self.va = [V(a0 + lm * r) for r in range(bm)]
        self.vbt = [V(a0 + lm * (bm + c)) for c in range(bn)]
        self.out = self.va[0]  # free once the k loop is done; holds a BF16 C tile
        self.out_lmul = max(1, self.cl // 2)
        # row groups (M blocks, rows of each tile, first row): whole blocks, then the
        # remainder as whole tiles and one row-partial tile
        t = self.t
        mfull, mrem = divmod(m, plan.rows)
        self.row_groups = [(mfull, [t.m] * bm, 0)] if mfull else []
        if mrem:
            rts = [t.m] * (mrem // t.m) + ([mrem % t.m] if mrem % t.m else [])
            self.row_groups.append((1, rts, mfull * plan.rows))
        self.rvv_tail = _rvv_panel(kc, g, m, n, kk, "A", bt.buf, "C", transposed=bt)

    def start_tiles(self, rts: list[int], nbn: int, coff: Callable[[int, int], Affine],
                    blk: _Block) -> None:
        """C tiles zeroed (first K block) or reloaded from the FP32 accumulator; the A
        tiles of row-partial tiles zeroed (their rows >= rts[r] stay zero)."""
        b, t = self.b, self.t
        b.vsetvli(t.m * t.n, 32, self.cl)
        for r in range(len(rts)):
            for c in range(nbn):
                if blk.first or rts[r] < t.m:
                    b.emit("vmv.v.i", self.ctiles[r][c], 0)
                if not blk.first:
                    b.emit("vmtl.v", self.ctiles[r][c],
                           b.mem("Cacc", coff(r, c), 32, "strided", self.n), (rts[r], t.n))
        b.vsetvli(self.full, 16, self.plan.lmul)
        for r in range(len(rts)):
            if rts[r] < t.m:
                b.emit("vmv.v.i", self.va[r], 0)

    def finish_tiles(self, rts: list[int], nbn: int, coff: Callable[[int, int], Affine],
                     blk: _Block) -> None:
        """C tiles saved to the FP32 accumulator, or (last K block) narrowed to BF16 C."""
        b, t, n = self.b, self.t, self.n
        for r in range(len(rts)):
            for c in range(nbn):
                if not blk.last:
                    b.vsetvli(t.m * t.n, 32, self.cl)
                    b.emit("vmts.v", self.ctiles[r][c],
                           b.mem("Cacc", coff(r, c), 32, "strided", n), (rts[r], t.n))
                else:
                    b.vsetvli(t.m * t.n, 16, self.out_lmul)
                    b.emit("vfncvtbf16.f.f.w", self.out, self.ctiles[r][c])
                    b.emit("vmts.v", self.out, b.mem("C", coff(r, c), 16, "strided", n),
                           (rts[r], t.n))

    def block(self, gi: Affine, i: Affine, mbase: int, rts: list[int], col: Affine, nbn: int,
              k0: Affine, depth: int, blk: _Block) -> None:
        """One len(rts) x nbn block of C tiles (tile r holds rts[r] rows) at column col."""
        b, t, m, n, kk, plan = self.b, self.t, self.m, self.n, self.kk, self.plan
        nbm = len(rts)

        def row(r: int) -> Affine:
            return i * plan.rows + mbase + r * t.m

        def coff(r: int, c: int) -> Affine:
            return gi * (m * n) + row(r) * n + col + c * t.n

        def load_a(r: int, kcol: Affine) -> None:
            aoff = gi * (m * kk) + row(r) * kk + kcol
            b.emit("vmtl.v", self.va[r], b.mem("A", aoff, 16, "strided", kk), (rts[r], t.k))

        def load_b(c: int, kcol: Affine) -> None:
            b.emit("vmtl.v", self.vbt[c], self.bt.mem(b, gi, col + c * t.n, kcol), (t.n, t.k))

        def step(nxt: Affine | None) -> None:
            """The nbm*nbn tile multiplies of one k step; with ``nxt``, each A/B^T
            register is reloaded for the next step right after its last reader."""
            for c in range(nbn):
                for r in range(nbm):
                    b.emit("vfwmmacc.vv", self.ctiles[r][c], self.va[r], self.vbt[c])
                    if nxt is None:
                        continue
                    if r == nbm - 1:
                        load_b(c, nxt)
                    if c == nbn - 1:
                        load_a(r, nxt)

        self.start_tiles(rts, nbn, coff, blk)
        # software-pipelined: the loads of step k+1 overlap the multiplies of step k
        nk = depth // t.k
        for r in range(nbm):
            load_a(r, k0)
        for c in range(nbn):
            load_b(c, k0)
        if nk > 1:
            with self.kc.rep("k", nk - 1, ptrs=3) as k:
                step(k0 + (k + 1) * t.k)
        step(None)
        self.finish_tiles(rts, nbn, coff, blk)

    def panel(self, gi: Affine, col0: Affine, width: int, k0: Affine, depth: int,
              blk: _Block) -> None:
        if self.prepare is not None:
            self.prepare(gi, col0, width, k0, depth)
        t, plan, kc = self.t, self.plan, self.kc
        nfull, nrem = divmod(width, plan.cols)
        col_groups = [(nfull, plan.bn, 0)] if nfull else []
        if nrem // t.n:
            col_groups.append((1, nrem // t.n, nfull * plan.cols))
        for mcount, rts, mbase in self.row_groups:
            with kc.rep("i", mcount, ptrs=2) as i:
                for ncount, nbn, nbase in col_groups:
                    with kc.rep("j", ncount, ptrs=2) as j:
                        self.block(gi, i, mbase, rts, col0 + nbase + j * plan.cols, nbn,
                                   k0, depth, blk)
        if nrem % t.n:  # the last columns, fewer than a tile: RVV on B^T
            self.rvv_tail(gi, col0 + (width - nrem % t.n), nrem % t.n, k0, depth, blk)
