"""GEMMs of quantised weights on the SpacemiT IME (:mod:`isa.ime`): int8 x int8 tiles.

The structure of llama.cpp's SpacemiT backend (ggml/src/ggml-cpu/spacemit/ime.cpp and
ime1_kernels.cpp, PR #15288), which runs every Q4_0 GEMM and GEMV of a K1 on the IME:

1. **A quantised to int8** per row and block of 32 (:mod:`isa.kernels.q8`, ``tiles``
   layout: each A tile one register; one FP32 scale per row and block, as ggml's);
2. **B packed offline** into ``Bqi``: per panel of ``PANEL_TILES`` x n_t columns (ggml
   interleaves 16 columns; two 4-column tiles keep every operand of the micro-kernel in
   the 32 registers of a VLEN-256 core) and per k-step of k_t, the panel's B^T tiles side
   by side, one register each: ``Bqi[G, N / (PANEL_TILES n_t), K / (k_t per_byte),
   PANEL_TILES, n_t, k_t]``; 4-bit codes hold two k-steps per byte (low nibble: step 2p,
   high: 2p + 1), unpacked by ``vand.vi 15`` / ``vsrl.vi 4`` (Q4_0: then ``vadd.vi -8``;
   signed int4: ``vsll.vi 4`` + ``vsra.vi 4`` / ``vsra.vi 4``). Scales stay in ``Bs``
   (:mod:`isa.kernels.quant`, ``[G, groups, N]``);
3. per 32-block of K: the int32 tiles ``C_i = sum of smt.vmadot`` over its 32/k_t k-steps,
   then in FP32 ``Acc += float(C_i) x dA x dB`` (``vfcvt.f.x.v``, ``vfmacc.vv``), the scale
   tile dA (rows) x dB (columns) built per block: the m_t rows' dA loaded as scalars
   (ggml's ``flw f1..f4``) and splatted into the row pattern, each tile's n_t dB repeated
   over its m_t rows by doubling
   slides (``vslideup``; a register gather costs more on the X60); a per-channel scale
   (int8) needs no dB per block: the accumulators are scaled once, after the last;
4. loop order as ggml's: rows of A in tasks of ``gemm_m_stride`` rows (``MC`` = 128 in PR
   #15288; 16 or every row in the rewrite, PR #22863: :func:`ggml_task_rows`), in each
   task group by group of ``NB_COLS`` = 16 columns of B (what one call of ggml's M4
   kernel computes: 4 rows x 16 columns over all of K), and for each group every row
   block of the chunk, its panels back to back: the group of B (K x 16 codes) is read
   once per row block, the row block's A tiles once per group (the second panel re-reads
   them from the cache), so the chunk's A streams from where it sits N/16 times, not
   N/8;
5. a row block with one row (decode, M = 1) runs ggml's M1 form: only row 0 of each C
   tile is kept, its scale a scalar (``vfmul.vf``, ``vfmacc``), nothing gathered.

It is the kernel of both libraries (``ideal`` and ``llamacpp``, :mod:`isa.kernels.ggml`):
on the IME the shipping kernel is the careful one. Used when the ISA has ``smt.vmadot``,
the weights are int8-code formats (:data:`IME_FORMATS`), K is a multiple of 32 and of the
format's group, N of the panel, and a 32-block is whole tiles (VLEN 128 to 1024).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from isa.core import SPACEMIT_BACKENDS, Core
from isa.errors import IsaError
from isa.instructions import Isa, TileGeometry, ime_geometry
from isa.kernels import q8, quant
from isa.kernels.common import Kc
from isa.program import Affine, F, Program, Reg, V, X

IME_FORMATS = ("int8", "q8_0", "q4_0", "q4_1", "int4")  # codes that are int8 or int4 integers
PANEL_TILES = 2  # C tiles side by side along N: B^T tiles packed together per k-step
MC = 128  # rows of A per chunk (ggml spacemit ime.cpp gemm_m_stride, PR #15288 6f8d979)
# the rewritten backend (PR #22863, ime.cpp tensor_traits::forward_mul_mat): ``gemm_m_stride
# = gemm_n / gemm_m > 64 ? gemm_m : 16``, tasks of 16 rows unless the GEMM is that wide
REWRITE_TASK_ROWS = 16
REWRITE_WIDE = 64  # ... N / M (integer division) above which one task takes every row
# the op-row field naming the task rows of a GEMM that is one thread's share of a larger
# one (its own shape would give other tasks): :func:`lower`'s ``task_rows``
TASK_ROWS_FIELD = "ime_task_rows"
# columns of one call of llama.cpp's M4 kernel (ggml spacemit ime.cpp, PR #15288 commit
# 6f8d979: sqnbitgemm_spacemit_ime_i8i4's compute_block_count_n; the B repack interleaves
# 16 columns, block_q4_0x16)
NB_COLS = 16


def usable(isa: Isa, core: Core, n: int, kk: int, fmt: quant.WeightFormat | None) -> bool:
    """Whether this kernel runs the GEMM (otherwise the RVV kernels do)."""
    if fmt is None or fmt.name not in IME_FORMATS or not isa.has("smt.vmadot"):
        return False
    if core.dtype != "bf16" or not 128 <= core.vlen <= 1024:
        return False
    t = ime_geometry(core.vlen)
    grp = fmt.group_of(kk)
    return (q8.QK % t.k == 0 and kk % q8.QK == 0 and grp % q8.QK == 0
            and n % (PANEL_TILES * t.n) == 0)


@dataclass(frozen=True)
class _Regs:
    """The micro-kernel's register groups (aligned to their sizes)."""

    a: Reg          # the block's A tiles, one register per k-step
    bpk: Reg        # packed 4-bit codes of one pair of k-steps, the panel's tiles
    b: tuple[Reg, Reg]  # unpacked B^T tiles of two k-steps (low / high nibbles)
    acc: tuple[Reg, ...]  # FP32 accumulators, one C tile each
    ci: tuple[Reg, ...]   # int32 tiles of the block
    s: tuple[Reg, ...]    # FP32 scale tiles dA x dB
    ra: Reg         # dA in a C tile's row pattern
    db16: tuple[Reg, Reg]  # dB as stored, doubled into the column pattern (alternating)
    tmp: Reg        # a C row on its way out
    zp: Reg | None = None   # zero points (q4_1): the panel's columns, one byte each
    zt: Reg | None = None   # ... in the B^T tiles' pattern, the panel's tiles side by side
    idx: Reg | None = None  # the gather's indices: each tile byte's column

    @staticmethod
    def allocate(t: TileGeometry, ks: int, vlen: int, zero_points: bool = False) -> _Regs:
        c = max(2, t.c_regs)  # the narrowing store reads an aligned pair
        sizes = [("a", ks), ("bpk", PANEL_TILES), ("b0", PANEL_TILES), ("b1", PANEL_TILES),
                 *((f"acc{i}", c) for i in range(PANEL_TILES)),
                 *((f"ci{i}", c) for i in range(PANEL_TILES)),
                 *((f"s{i}", c) for i in range(PANEL_TILES)),
                 ("ra", c), ("db0", 1), ("db1", 1), ("tmp", 1)]
        if zero_points:
            sizes += [("zt", PANEL_TILES), ("zp", 1), ("idx", 1)]
        free = [True] * 32
        got: dict[str, Reg] = {}
        for name, size in sorted(sizes, key=lambda x: -x[1]):
            at = next((r for r in range(0, 32, size) if all(free[r:r + size])), None)
            if at is None:
                raise IsaError(f"IME kernel: out of vector registers at VLEN={vlen}")
            free[at:at + size] = [False] * size
            got[name] = V(at)
        tiles = range(PANEL_TILES)
        return _Regs(got["a"], got["bpk"], (got["b0"], got["b1"]),
                     tuple(got[f"acc{i}"] for i in tiles), tuple(got[f"ci{i}"] for i in tiles),
                     tuple(got[f"s{i}"] for i in tiles), got["ra"],
                     (got["db0"], got["db1"]), got["tmp"],
                     got.get("zp"), got.get("zt"), got.get("idx"))


@dataclass(frozen=True)
class _Shape:
    g: int
    m: int
    n: int
    kk: int
    fmt: quant.WeightFormat
    t: TileGeometry
    vlen: int
    task: int = MC  # rows of A per task of llama.cpp's order (:func:`ggml_task_rows`)

    @property
    def ks(self) -> int:
        """k-steps per 32-block."""
        return q8.QK // self.t.k

    @property
    def vb(self) -> int:
        """Bytes of one int8 tile (one register)."""
        return self.vlen // 8

    @property
    def lanes(self) -> int:
        return self.t.m * self.t.n

    @property
    def cols(self) -> int:
        return PANEL_TILES * self.t.n

    @property
    def blocks(self) -> int:
        return self.kk // q8.QK

    @property
    def row_blocks(self) -> int:
        return -(-self.m // self.t.m)

    @property
    def groups(self) -> int:
        return self.kk // self.fmt.group_of(self.kk)


def lower(kc: Kc, g: int, m: int, n: int, kk: int, fmt: quant.WeightFormat,
          task_rows: int = 0) -> Program:
    """The GEMM ``C[G,M,N] = A[G,M,K] @ B`` with B packed for the IME (``Bqi`` + ``Bs``);
    ``task_rows``: in llama.cpp's order, the rows of A per task when this GEMM is one
    thread's share of a larger one (0: :func:`ggml_task_rows` of this GEMM)."""
    b = kc.b
    ggml = kc.core.library == "llamacpp"
    task = task_rows or (ggml_task_rows(m, n, kc.core.spacemit) if ggml else MC)
    sh = _Shape(g, m, n, kk, fmt, ime_geometry(kc.core.vlen), kc.core.vlen, task)
    regs = _Regs.allocate(sh.t, sh.ks, sh.vlen, fmt.has_min)
    b.name += f" B={fmt.name} ime"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    b.buffer("Bqi", "int8", g * n * kk // fmt.per_byte, "in",
             (g, n // sh.cols, kk // (sh.t.k * fmt.per_byte), PANEL_TILES, sh.t.n, sh.t.k))
    b.buffer("Bs", "bf16", g * sh.groups * n, "in", (g, sh.groups, n))
    if fmt.has_min:  # block_q4_1 repacked: a zero point byte per block and column
        b.buffer("Bz", "int8", g * sh.groups * n, "in", (g, sh.groups, n))
    q8.declare(kc, g, m, kk, "tiles")
    q8.quantize(kc, g, m, kk, "tiles")
    if fmt.has_min:
        _zero_point_indices(kc, sh, regs)
    with kc.rep("g", g) as gi:
        if ggml:
            _ggml_order(kc, sh, regs, gi)
        else:
            _blocked_order(kc, sh, regs, gi)
    return kc.program(kind="gemm", b_layout="Bqi", weight_format=fmt.name,
                      weight_group=fmt.group_of(kk), kernel="ime", activations="q8_0",
                      loop_order="ggml" if ggml else "blocked")


def _ggml_order(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine) -> None:
    """llama.cpp's: tasks of ``sh.task`` rows (:func:`ggml_task_rows`); per task, column
    group by column group (:func:`ggml_groups`), every row block, and for each the group's
    panels back to back: the row block's A tiles come from memory once per group, its
    later panels re-read them from the cache. One row (M1) takes its panels in order
    (ggml hands the M1 kernel every column at once)."""
    per = ggml_group_panels(sh)
    for rb0, count, rows in _row_blocks(sh):
        i_trips = rows // sh.t.m if rows >= sh.t.m else 1
        valid = min(rows, sh.t.m)
        with kc.rep("mc", count, ptrs=2) as mc:
            rb = mc * (_task_step(sh) // sh.t.m) + rb0
            for groups, width, first in ggml_groups(sh, per if rows > 1 else 1):
                with kc.rep("j", groups, ptrs=3) as j, kc.rep("i", i_trips, ptrs=3) as i, \
                        kc.rep("s", width, ptrs=3) as s:
                    _block(kc, sh, regs, gi, rb + i, j * width + s + first, valid)


def ggml_task_rows(m: int, n: int, backend: str = SPACEMIT_BACKENDS[0]) -> int:
    """Rows of A per task (``gemm_m_stride``) of llama.cpp's SpacemiT IME GEMM of M rows
    and N columns, by backend version (:data:`isa.core.SPACEMIT_BACKENDS`): ``pr15288``
    (commit 6f8d979, ime.cpp ``forward_mul_mat_q4``) MC = 128; ``pr22863`` (ime.cpp
    ``tensor_traits::forward_mul_mat``, its split when the thread has no TCM) every row when
    N / M (integer division) > 64, else 16: each task reads its columns' weights once, so
    the rewrite reads them once per 16 rows of a GEMM no wider than 64 M."""
    if backend not in SPACEMIT_BACKENDS:
        raise IsaError(f"unknown SpacemiT backend version {backend!r}; valid: "
                       f"{', '.join(SPACEMIT_BACKENDS)}")
    if backend == "pr22863":
        return m if n // max(1, m) > REWRITE_WIDE else REWRITE_TASK_ROWS
    return MC


def _task_step(sh: _Shape) -> int:
    """Rows of one whole task in row blocks (a task's last, partial row block runs apart)."""
    return max(sh.t.m, sh.task // sh.t.m * sh.t.m)


def ggml_thread_split(m: int, n: int, threads: int, backend: str = SPACEMIT_BACKENDS[0]
                      ) -> tuple[int, int, int] | None:
    """How llama.cpp's SpacemiT backend splits a GEMM of M rows (tokens) and N columns
    (weight rows) over ``threads`` threads: (rows, columns, threads with work) of one
    thread's block, or None where a thread's tasks do not form one block.

    ggml spacemit ime.cpp (PR #15288 commit 6f8d979, ``forward_mul_mat_q4``; the same in
    PR #22863's ``forward_mul_mat``, last branch): tasks of ``gemm_m_stride`` rows
    (:func:`ggml_task_rows`) by ``nc`` columns, ``nc`` = N unless the N x
    ceil(M / gemm_m_stride) columns of all row chunks shared over the threads
    (``max_nc``) are fewer, then ``max_nc`` rounded up to QGEMM_STRIDEN_THREAD_ALIGN = 16;
    thread ``ith`` takes ``task_per_thread`` consecutive tasks, row chunks first. So with
    128-row tasks M = 512 gives each of 4 threads 128 rows and every column (all read the
    same weights), M = 128 each a quarter of the columns; with 16-row tasks M = 128 gives
    each 32 rows (two tasks) and every column."""
    mc = ggml_task_rows(m, n, backend)
    chunks = -(-m // mc)
    max_nc = -(-(n * chunks) // threads)
    nc = n if max_nc >= n else min(n, -(-max_nc // NB_COLS) * NB_COLS)
    col_blocks = -(-n // nc)
    tasks = chunks * col_blocks
    per = -(-tasks // threads)
    if per == 1:
        return min(m, mc), nc, tasks
    if col_blocks == 1 and chunks % per == 0:  # consecutive row chunks of every column
        return min(m, per * mc), n, -(-tasks // per)
    return None


def ggml_group_panels(sh: _Shape) -> int:
    """Panels of the kernel per column group of llama.cpp's: its M4 kernel computes 4 rows
    x ``NB_COLS`` columns over all of K per call (ggml spacemit ime.cpp
    ``sqnbitgemm_spacemit_ime_i8i4``: ``compute_block_count_n = m_count == 1 ? n_count :
    16``; ime_kernels.cpp ``SQ4BitGemmM4Kernel_CompInt8_ScaleFp16_Impl``, 4 x 16 per
    ``BLOCK_COUNTK_LOOP``), so each row block's A is read once per 16 columns."""
    return max(1, NB_COLS // sh.cols)


def ggml_groups(sh: _Shape, per: int) -> Iterator[tuple[int, int, int]]:
    """(groups, panels per group, first panel): the whole groups of ``per`` panels, then
    the panels left over as one narrower group (ggml's last ``count_n`` < 16)."""
    panels = sh.n // sh.cols
    full, rest = divmod(panels, per)
    if full:
        yield full, per, 0
    if rest:
        yield 1, rest, full * per


def panel_columns(core: Core, sh: _Shape) -> int:
    """Columns of the B block that stays in L2 across all row blocks (BLIS ``nc``): the
    block's packed weights plus the A tiles and row-pattern scales (m_t x K x 1.5 bytes)
    that each row block streams over it once per panel fit the kernel library's L2 budget
    (``gemm_kc x gemm_nc`` BF16: 256 KiB by default, a quarter of a 1 MiB L2); whole
    panels, at least one."""
    budget = core.gemm_kc * core.gemm_nc * 2
    per_col = sh.fmt.nbytes(1, sh.kk) + sh.t.m * sh.kk * 3 // (2 * sh.cols)
    return max(sh.cols, min(sh.n, budget // per_col) // sh.cols * sh.cols)


def _blocked_order(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine) -> None:
    """Cache-blocked (BLIS's loop order): per block of ``panel_columns`` columns of B
    (kept in L2), every row block, and for each the block's panels (its A tiles in L1)."""
    nc = panel_columns(kc.core, sh)
    full, tail = divmod(sh.n, nc)
    full_rb, rem = divmod(sh.m, sh.t.m)
    for count, width, base in ((full, nc, 0), (1, tail, full * nc)):
        if not (count and width):
            continue
        with kc.rep("jc", count, ptrs=2) as jc:
            for rcount, rows, rb0 in ((full_rb, sh.t.m, 0), (1, rem, full_rb)):
                if not (rcount and rows):
                    continue
                with kc.rep("i", rcount, ptrs=3) as i, \
                        kc.rep("j", width // sh.cols, ptrs=3) as j:
                    _block(kc, sh, regs, gi, i + rb0, jc * (nc // sh.cols) + j + base // sh.cols,
                           rows)


def _row_blocks(sh: _Shape) -> Iterator[tuple[int, int, int]]:
    """(first row block, chunks, rows per chunk): whole task-row chunks
    (:func:`_task_step`), the remaining whole row blocks, then a last row block of fewer
    rows."""
    step = _task_step(sh)
    full, rem = divmod(sh.m, sh.t.m)
    chunks, left = divmod(full, step // sh.t.m)
    if chunks:
        yield 0, chunks, step
    if left:
        yield chunks * (step // sh.t.m), 1, left * sh.t.m
    if rem:
        yield full, 1, rem


def _block(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine, rb: Affine, j: Affine, rows: int
           ) -> None:
    """One row block (``rows`` valid rows) x one panel over all of K, then its C rows."""
    b = kc.b
    one = rows == 1
    lanes = sh.t.n if one else sh.lanes  # M1: row 0 of each tile only
    b.vsetvli(lanes, 32, sh.t.c_regs)
    for acc in regs.acc:
        b.emit("vmv.v.i", acc, 0)
    blk = gi * sh.row_blocks + rb
    col = j * sh.cols
    per_group = sh.fmt.group_of(sh.kk) // q8.QK  # 32-blocks that share a scale
    with kc.rep("kg", sh.groups, ptrs=2) as kg, kc.rep("kb", per_group, ptrs=3) as kq:
        kb = kg * per_group + kq
        b.vsetvli(sh.ks * sh.vb, 8, sh.ks)
        b.emit("vle8.v", regs.a, b.mem("Aq", (blk * sh.blocks + kb) * (sh.ks * sh.vb), 8))
        ra_off = (blk * sh.blocks + kb) * sh.t.m
        if one:
            b.emit("flw", F(1), b.mem("Ad", ra_off, 32), comment="dA")
        else:
            _row_scales(kc, sh, regs, ra_off)
        if not sh.fmt.per_channel:
            _block_scales(kc, sh, regs, (gi * sh.groups + kg) * sh.n + col, one)
        if sh.fmt.has_min:
            _zero_points(kc, sh, regs, (gi * sh.groups + kg) * sh.n + col)
        b.vsetvli(lanes, 32, sh.t.c_regs)
        for ci in regs.ci:
            b.emit("vmv.v.i", ci, 0)
        _tile_products(kc, sh, regs, gi, j, kb)
        b.vsetvli(lanes, 32, sh.t.c_regs)
        for c in range(PANEL_TILES):
            b.emit("vfcvt.f.x.v", regs.ci[c], regs.ci[c])
            if sh.fmt.per_channel:
                if one:
                    b.emit("vfmacc.vf", regs.acc[c], F(1), regs.ci[c])
                else:
                    b.emit("vfmacc.vv", regs.acc[c], regs.ci[c], regs.ra)
            else:
                b.emit("vfmacc.vv", regs.acc[c], regs.ci[c], regs.s[c])
    if sh.fmt.per_channel:
        _channel_scales(kc, sh, regs, gi, col, one)
    _store(kc, sh, regs, gi, rb, col, rows)


def _row_scales(kc: Kc, sh: _Shape, regs: _Regs, off: Affine) -> None:
    """The block's dA, one FP32 per row at ``Ad[off]`` (ggml's ``flw f1..f4`` per block,
    ime_kernels.cpp ``SQ4BitGemmM4Kernel_CompInt8_ScaleFp16_Impl``), spread over a C
    tile's row pattern in ``ra``: row r's scale over lanes r n_t .. (r + 1) n_t - 1, by
    splats of shrinking length (the lanes past vl keep the later rows'), last row first."""
    b = kc.b
    for r in range(sh.t.m):
        b.emit("flw", F(8 + r), b.mem("Ad", off + r, 32), comment=f"dA of row {r}")
    for r in reversed(range(sh.t.m)):
        b.vsetvli((r + 1) * sh.t.n, 32, sh.t.c_regs)
        b.emit("vfmv.v.f", regs.ra, F(8 + r), comment="dA, row pattern")


def _block_scales(kc: Kc, sh: _Shape, regs: _Regs, base: Affine, one: bool) -> None:
    """s_c = dA x dB of the block (dB at ``Bs[base]``): tile c's dB in its column pattern,
    times the dA rows; M1: row 0 only, dB of tile c times the scalar dA."""
    b = kc.b
    for c in range(PANEL_TILES):
        _load_db(kc, sh, regs, base + c * sh.t.n, one, regs.s[c])
        b.vsetvli(sh.t.n if one else sh.lanes, 32, sh.t.c_regs)
        if one:
            b.emit("vfmul.vf", regs.s[c], regs.s[c], F(1))
        else:
            b.emit("vfmul.vv", regs.s[c], regs.s[c], regs.ra)


def _load_db(kc: Kc, sh: _Shape, regs: _Regs, off: Affine, one: bool, dst: Reg) -> None:
    """One tile's n_t column scales ``Bs[off]`` as FP32 in ``dst``: as loaded (M1: row 0),
    or repeated over the tile's m_t rows by doubling (``vmv.v.v`` + ``vslideup``)."""
    b = kc.b
    b.vsetvli(sh.t.n, 16, 1)
    src = regs.db16[0]
    b.emit("vle16.v", src, b.mem("Bs", off, 16))
    have = sh.t.n
    while not one and have < sh.lanes:
        nxt = regs.db16[1] if src == regs.db16[0] else regs.db16[0]
        b.vsetvli(have, 16, 1)
        b.emit("vmv.v.v", nxt, src)
        b.vsetvli(2 * have, 16, 1)
        b.emit("addi", X(23), X(0), have)
        b.emit("vslideup.vx", nxt, src, X(23), comment="dB, column pattern")
        src, have = nxt, 2 * have
    b.emit("vfwcvtbf16.f.f.v", dst, src)


def _tile_products(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine, j: Affine, kb: Affine
                   ) -> None:
    """ci_c += A_s x B^T_{s,c} over the block's k-steps s (B loaded, 4-bit unpacked)."""
    b = kc.b
    per = sh.fmt.per_byte
    panels = sh.n // sh.cols
    steps = sh.kk // (sh.t.k * per)  # registers of codes per tile along K
    bytes_ = PANEL_TILES * sh.vb
    base = ((gi * panels + j) * steps + kb * (sh.ks // per)) * bytes_
    for p in range(sh.ks // per):
        b.vsetvli(bytes_, 8, PANEL_TILES)
        if per == 1:
            dst = regs.b[p % 2]
            b.emit("vle8.v", dst, b.mem("Bqi", base + p * bytes_, 8))
            halves = [(p, dst)]
        else:
            b.emit("vle8.v", regs.bpk, b.mem("Bqi", base + p * bytes_, 8))
            _unpack_nibbles(kc, sh.fmt, regs)
            halves = [(2 * p, regs.b[0]), (2 * p + 1, regs.b[1])]
        b.vsetvli(sh.vb, 8, 1)
        for s, src in halves:
            for c in range(PANEL_TILES):
                b.emit("smt.vmadot", regs.ci[c], V(regs.a.n + s), V(src.n + c))


def _zero_point_indices(kc: Kc, sh: _Shape, regs: _Regs) -> None:
    """The gather's indices, once: byte e of a B^T tile (n_t rows of k_t codes) belongs to
    column e / k_t of the tile."""
    b = kc.b
    assert regs.idx is not None
    b.vsetvli(sh.vb, 8, 1)
    b.emit("vid.v", regs.idx)
    b.emit("vsrl.vi", regs.idx, regs.idx, sh.t.k.bit_length() - 1, comment="e / k_t")


def _zero_points(kc: Kc, sh: _Shape, regs: _Regs, off: Affine) -> None:
    """The block's zero points of the panel's columns (``Bz[off]``) spread over the B^T
    tiles' pattern, each column's byte over its k_t codes (``vrgather.vv``, then the
    indices stepped to the next tile's columns: ggml ime1 ``SQ4BIT_KERNEL_LOAD_ZP_16X1``)."""
    b = kc.b
    assert regs.zp is not None and regs.zt is not None and regs.idx is not None
    b.vsetvli(sh.cols, 8, 1)
    b.emit("vle8.v", regs.zp, b.mem("Bz", off, 8), comment="zero points")
    b.vsetvli(sh.vb, 8, 1)
    for c in range(PANEL_TILES):
        b.emit("vrgather.vv", V(regs.zt.n + c), regs.zp, regs.idx)
        b.emit("vadd.vi", regs.idx, regs.idx,
               sh.t.n if c + 1 < PANEL_TILES else -(PANEL_TILES - 1) * sh.t.n)


def _unpack_nibbles(kc: Kc, fmt: quant.WeightFormat, regs: _Regs) -> None:
    """Low and high nibbles of ``bpk`` to signed bytes in ``b[0]`` and ``b[1]``."""
    b = kc.b
    lo, hi, pk = regs.b[0], regs.b[1], regs.bpk
    if fmt.code == "offset8":  # q4_0: unsigned q stands for q - 8
        b.emit("vand.vi", lo, pk, 15)
        b.emit("vsrl.vi", hi, pk, 4)
        b.emit("vadd.vi", lo, lo, -8)
        b.emit("vadd.vi", hi, hi, -8)
    elif fmt.has_min:  # q4_1 as the SpacemiT backend repacks it: q - z, z per column
        assert regs.zt is not None
        b.emit("vand.vi", lo, pk, 15)
        b.emit("vsrl.vi", hi, pk, 4)
        b.emit("vsub.vv", lo, lo, regs.zt, comment="q - z")
        b.emit("vsub.vv", hi, hi, regs.zt)
    else:  # two's complement nibbles: sign-extend each
        b.emit("vsll.vi", lo, pk, 4)
        b.emit("vsra.vi", lo, lo, 4)
        b.emit("vsra.vi", hi, pk, 4)


def _channel_scales(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine, col: Affine, one: bool
                    ) -> None:
    """A per-channel scale: the accumulators times their columns' dB, once."""
    b = kc.b
    for c in range(PANEL_TILES):
        _load_db(kc, sh, regs, gi * sh.n + col + c * sh.t.n, one, regs.s[c])
        b.vsetvli(sh.t.n if one else sh.lanes, 32, sh.t.c_regs)
        b.emit("vfmul.vv", regs.acc[c], regs.acc[c], regs.s[c])


def _store(kc: Kc, sh: _Shape, regs: _Regs, gi: Affine, rb: Affine, col: Affine, rows: int
           ) -> None:
    """The block's C rows: each tile narrowed to BF16, row r (lanes r n_t ..) stored."""
    b = kc.b
    lanes = sh.t.n if rows == 1 else sh.lanes
    for c in range(PANEL_TILES):
        b.vsetvli(lanes, 16, 1)
        b.emit("vfncvtbf16.f.f.w", regs.tmp, regs.acc[c])
        for r in range(rows):
            src = regs.tmp
            b.vsetvli(sh.t.n, 16, 1)
            if r:
                b.emit("vslidedown.vi", regs.s[0], regs.tmp, r * sh.t.n)
                src = regs.s[0]
            row = rb * sh.t.m + r
            b.emit("vse16.v", src, b.mem("C", (gi * sh.m + row) * sh.n + col + c * sh.t.n, 16))
