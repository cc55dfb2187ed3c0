"""Timing parameters of the vector core: every number is a named field with its source.

Latency and occupancy formulas of each instruction (``isa.instructions``) read these
fields. Defaults are the vendor's own model of the SiFive X280: LLVM 22's SiFive7
scheduling model as ``llvm-mca-22 -mcpu=sifive-x280`` reports it (VLEN=512, DLEN=256;
checked form by form in ``tests/riscv/test_mca.py``), which refines the older table of
``reference/riscv.md`` section 4.1 (tagged "4.1" below where both agree, "mca22" where
LLVM 22 differs or adds), and the proposed Xattn numbers of section 6. A core model builds
its own ``TimingParams`` (e.g. other DLEN, or the SpacemiT X60 values of its preset) and
passes it to :meth:`isa.program.Instr.timing`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isa.program import Instr


def _c(default: int | bool, help: str, source: str, unit: str = "cycles") -> Any:
    """A timing constant: its default, what it means, its unit and where the number comes
    from (read by ``codesign.config`` when a core preset or override sets it)."""
    return field(default=default, metadata={"help": help, "unit": unit, "source": source})


def _derived(default: int, where: str, help: str, source: str) -> Any:
    """A core parameter the timing rules read that a core config declares elsewhere
    (``where``): a config fills it from there and never sets it itself."""
    return field(default=default, metadata={"help": help, "unit": "", "source": source,
                                            "derived": where})


@dataclass(frozen=True)
class TimingParams:
    """Per-instruction latency/occupancy constants (cycles). Occupancy is the number of
    cycles an instruction holds its sequencer; latency is when a dependent may start
    (chaining). Element-group formulas use ``chunks = ceil(VL*EEW/DLEN)``: at VL=VLMAX
    this is the SiFive7 ``2*LMUL`` (riscv.md 4.1, "Chunks = LMUL*VLEN/DLEN")."""

    vlen: int = _derived(512, 'vector.vlen', 'vector register bits VLEN',
                         'riscv.md §4.1 (X280 VLEN=512)')
    dlen: int = _derived(256, 'vector.dlen', 'datapath bits per cycle DLEN',
                         'riscv.md §4.1 (X280 DLEN=256)')
    # ---- RVV arithmetic (riscv.md 4.1 table) ----
    fp_latency: int = _c(8, 'vfadd/vfsub/vfmul latency', 'riscv.md §4.1: vfadd/vfsub/vfmul: 8')
    fma_latency: int = _c(
        8, 'vfmacc/vfmadd/vfwmacc* latency',
        'riscv.md §4.1: vfmacc/vfmadd and widening vfwmacc*: 8')
    fp_convert_latency: int = _c(
        8, 'conversions and vfrec7/vfrsqrt7 latency',
        'riscv.md §4.1: conversions (and vfrec7/vfrsqrt7 estimates): 8')
    fp_minmax_latency: int = _c(4, 'vfmin/vfmax latency', 'riscv.md §4.1: vfmin/vfmax: 4')
    fp_move_latency: int = _c(
        4, 'vfsgnj/vfmerge/vfmv.v.f latency',
        'riscv.md §4.1: vfsgnj/vfmerge/vfmv.v.f: 4')
    int_latency: int = _c(
        4, 'integer ALU/merge/move latency',
        'riscv.md §4.1: int ALU/merge/move: 4')
    int_mul_latency: int = _c(
        8, 'vmul latency',
        "llvm-mca 22 sifive-x280: vmul latency 8 (4.1's older table: 4)")
    int_shift_latency: int = _c(
        8, 'vsll/vsrl/vsra latency',
        "llvm-mca 22 sifive-x280: vsll/vsrl/vsra latency 8 (4.1's older table: 4)")
    int_widen_latency: int = _c(
        8, 'widening/narrowing/fixed-point integer latency',
        'riscv.md §4.1: widening, narrowing, fixed-point int: 8')
    mask_latency_extra: int = _c(
        3, 'compares into masks: latency = element groups + this',
        'riscv.md §4.1: vmf*/vms* compares: 2*LMUL + 3')
    # ---- datapath shape (what sets occupancy) ----
    fp_dlen: int = _c(
        0, 'FP arithmetic (add/mul/FMA/min/max) path width; 0 = DLEN',
        'llvm-mca 22 spacemit-x60: vfadd/vfmacc occupancy LMUL at VLEN 256 (a 256-bit FP'
        ' path); SiFive7: DLEN', unit='bits')
    widening_by_source: bool = _c(
        True, 'widening instructions hold the element groups of their source EEW (true, '
        'SiFive7: 2*LMUL) or of their destination EEW (false)',
        'llvm-mca 22 sifive-x280: widening ops (vfwmaccbf16, vfwcvtbf16) hold 2*LMUL element'
        ' groups of the source EEW (4.1: "widening 2*LMUL"); spacemit-x60: the destination',
        unit='')
    latency_covers_occupancy: bool = _c(
        False, 'a result is ready max(latency, occupancy) cycles after issue (no '
        'element-group chaining in the vendor model)',
        'llvm-mca 22 spacemit-x60: its latencies grow with LMUL as max(base, occupancy); '
        'SiFive7 chains after the fixed latency', unit='')
    # ---- memory (riscv.md 4.1) ----
    load_latency: int = _c(
        4, 'unit-stride vector load latency (L1 hit)',
        'riscv.md §4.1: vle unit-stride load latency 4')
    store_latency: int = _c(
        1, 'vector store latency',
        'riscv.md §4.1 and llvm-mca 22 sifive-x280: vse, vsse and vsuxei store latency 1')
    strided_latency_extra: int = _c(
        3, 'strided/indexed: latency = this + VL (1 element/cycle)',
        'riscv.md §4.1: vlse/vluxei: 3 + VLMAX, 1 element/cycle')
    # ---- reductions (riscv.md 4.1) ----
    red_tree_base: int = _c(
        4, 'reduction: 2*LMUL + step*(base + log2(DLEN/SEW)), the base',
        'riscv.md §4.1: vfredusum: 2*LMUL + 5*(4 + log2(DLEN/SEW))')
    red_tree_step: int = _c(
        5, 'reduction tree: cycles per level',
        'riscv.md §4.1: the factor 5 in the same formula')
    red_cycles_per_chunk: int = _c(
        1, 'reduction: cycles per element group',
        'riscv.md §4.1: the 1 of 1 x (2*LMUL element groups) above')
    red_fixed_latency: int = _c(
        0, 'reduction: constant latency term',
        'spacemit-x60 (llvm-mca 22): 9 + 3 x (2*LMUL), no tree term; SiFive7: 0')
    int_red_latency_base: int = _c(
        0, 'integer reductions (vredminu, vwredsum): latency = this + int_red_cycles_per_chunk'
        ' x element groups, occupancy = element groups; both 0: timed as FP reductions',
        'llvm-mca 22 sifive-x280: integer reductions time as FP ones; spacemit-x60: '
        'latency 7/11/19/35 at LMUL 1/2/4/8 = 3 + 2 x (2*LMUL)')
    int_red_cycles_per_chunk: int = _c(
        0, 'integer reductions: latency cycles per element group (0: as FP reductions)',
        'spacemit-x60 (llvm-mca 22): the 2 of 3 + 2 x (2*LMUL)')
    redosum_cycles_per_element: int = _c(
        6, 'vfredosum: cycles per element',
        'riscv.md §4.1: vfredosum: 6*VLMAX')
    # ---- divide / sqrt (riscv.md 4.1: f16 15*VLMAX/4, f32 28*VLMAX/4, f64 57*VLMAX/4) ----
    fdiv_cycles_per_4_elements_f16: int = _c(
        15, 'vfdiv/vfsqrt f16: cycles per 4 elements',
        'riscv.md §4.1')
    fdiv_cycles_per_4_elements_f32: int = _c(
        28, 'vfdiv/vfsqrt f32: cycles per 4 elements',
        'riscv.md §4.1 (7 cycles/element)')
    fdiv_cycles_per_4_elements_f64: int = _c(
        57, 'vfdiv/vfsqrt f64: cycles per 4 elements',
        'riscv.md §4.1')
    # ---- permutes (riscv.md 4.1) ----
    gather_latency_base: int = _c(
        7, 'vrgather.vv: latency = this + DLEN/SEW',
        'llvm-mca 22 sifive-x280: vrgather.vv latency 7 + DLEN/SEW (e32 15, e16 23)')
    gather_occupancy_extra: int = _c(
        4, 'vrgather.vv: occupancy = VL + this',
        'llvm-mca 22 sifive-x280: vrgather.vv occupancy VLMAX + 4')
    gather_scalar_latency: int = _c(8, 'vrgather.vx/vi latency',
                                    'riscv.md §4.1: vrgather.vx/vi: 8')
    slide_latency: int = _c(4, 'vslide*/vid/viota latency',
                            'riscv.md §4.1: vslide*, vid, viota: 4')
    move_scalar_latency: int = _c(
        4, 'vmv.s.x/vfmv.s.f latency',
        'riscv.md §4.1 and llvm-mca 22 sifive-x280: vmv.s.x / vfmv.s.f: latency 4')
    move_scalar_occupancy: int = _c(
        1, 'vmv.s.x/vfmv.s.f occupancy',
        'riscv.md §4.1 and llvm-mca 22 sifive-x280: vmv.s.x / vfmv.s.f: occupancy 1')
    to_scalar_latency: int = _c(
        11, 'vmv.x.s/vfmv.f.s/vfirst.m latency (vector to scalar)',
        "llvm-mca 22 sifive-x280: vmv.x.s / vfmv.f.s / vfirst.m latency 11 (4.1's older table: 4)")
    to_scalar_occupancy: int = _c(
        3, 'vmv.x.s/vfmv.f.s/vfirst.m occupancy',
        'llvm-mca 22 sifive-x280: vmv.x.s / vfmv.f.s / vfirst.m occupancy 3')
    vset_latency: int = _c(3, 'vsetvli latency (its rd result)', 'riscv.md §4.1: vsetvli: 3')
    # ---- scalar core (riscv.md 4.1 last row; 3.1/3.2) ----
    scalar_fp_latency: int = _c(
        5, 'scalar fadd/fmul/fmadd (SP)',
        'riscv.md §4.1: fadd/fmul/fmadd SP: 5')
    scalar_fp_noncomp_latency: int = _c(
        0, 'scalar fmin.s/fmax.s and sign injection (fsgnj: fmv.s) between FP registers: '
        'cycles until a dependent may issue; 0: scalar_fp_latency (one FP pipeline)',
        '0 on every preset (riscv.md §4.1 gives SP FP one latency); set per case where the '
        'FPU runs them in a shallower unit (the Snitch cluster cases)')
    scalar_fp_to_int_latency: int = _c(
        0, 'scalar FP instructions writing an integer register (fmv.x.w, flt.s): cycles '
        'until a dependent integer instruction may issue; 0: scalar_fp_latency',
        '0 on every preset; set per case where the FP subsystem returns such results over '
        'its own path (the Snitch cluster cases)')
    scalar_fdiv_latency: int = _c(
        27, 'scalar fdiv.s/fsqrt.s (not pipelined)',
        'riscv.md §4.1: fdiv.s/fsqrt.s: 27')
    scalar_int_latency: int = _c(
        1, 'scalar integer ALU',
        'riscv.md §3.2: Rocket/Saturn-host 5-stage in-order ALU, 1 cycle')
    scalar_load_latency: int = _c(
        3, 'scalar load-to-use (L1 hit)',
        'llvm-mca 22 sifive-x280: flh/flw/lw load-to-use 3')
    branch_latency: int = _c(
        1, 'predicted loop branch',
        'riscv.md §3.2: in-order front end, predicted loop branch')
    # ---- Xattn (riscv.md section 6) ----
    exp_latency_bf16: int = _c(
        6, 'vfexp latency at SEW=16',
        'riscv.md §6 #1: vfexp latency 6 (BF16)')
    exp_latency_fp32: int = _c(
        8, 'vfexp latency at SEW=32',
        'riscv.md §6 #1: vfexp latency 8 (FP32)')
    expsub_extra_latency: int = _c(
        1, 'vfexpsub: extra stage over vfexp',
        'riscv.md §6 #2: vfexpsub "same as #1 (+1 stage)"')
    segred_base_latency: int = _c(
        4, 'segmented reduction: latency base (4 + 3*log2(G))',
        'riscv.md §6 #3: 4 + 3*log2(G)')
    segred_step_latency: int = _c(
        3, 'segmented reduction: cycles per tree level',
        'riscv.md §6 #3: the 3 in 4 + 3*log2(G)')
    mmacc_latency_base: int = _c(
        4, 'vfwmmacc: latency = this + occupancy',
        'riscv.md §6 #4: latency 4 + occupancy')
    mmacc_macs_per_cycle_at_dlen256: int = _derived(
        64, 'matrix.macs_per_cycle_at_dlen256',
        'BF16 MACs per cycle of the vfwmmacc array at DLEN=256',
        'riscv.md §6 #4: 64 BF16 MAC/cycle at DLEN=256 (8x8 array)')
    rec_latency: int = _c(
        6, 'vfrec latency (proposed 4-8)',
        'riscv.md §6 #5: vfrec latency 4-8; midpoint 6')
    # ---- SpacemiT IME (isa.ime: smt.vmadot*) ----
    ime_macs_per_cycle: int = _c(
        128, 'int8 MACs per cycle of the IME unit (smt.vmadot occupancy = tile MACs / this)',
        'spacemit-com/docs-ai architecture (K1 A60 core, cpufp): vmadot 511.53 GOPS and '
        'vfmacc.vv f32 31.968 GFLOPS on one core, a ratio of 16 = 256 int8 ops per cycle '
        'against the 16 FP32 FLOP/cycle of a VLEN-256 vfmacc (LLVM X60: occupancy 1 at m1): '
        'one 4x4x8 tile (128 MACs) per cycle, whatever the clock', unit='MAC/cycle')
    ime_latency_base: int = _c(
        4, 'smt.vmadot: latency = this + occupancy',
        'assumed: not published, and LLVM 22 has no X60 scheduling class for xsmtvdot '
        '(llvm-mca-22 -mcpu=spacemit-x60 cannot resolve smt.vmadot); the Xattn array\'s '
        'rule (riscv.md §6 #4: 4 + occupancy)')

    # ---- per-instruction fixed costs (0: none; every preset but the ones that set them) ----
    vector_dead_time: int = _c(
        0, 'start-up (dead) cycles of every vector instruction: added to its latency and to '
        'the cycles it holds its sequencer, before its first element group',
        'Ara (arXiv 1906.00478 / 2210.08882): lanes start an instruction after the main '
        'sequencer broadcasts it and the operand requesters fetch its first operands; '
        'Saturn (riscv.md §3.2) is built for "zero dead-time": 0 on every preset')
    int_min_occupancy: int = _c(
        0, 'integer ALU/multiply/shift/widening vector instructions hold their sequencer at '
        'least this many cycles (0: their element groups only)',
        "LLVM RISCVSchedSpacemitX60.td at llvm-project 00da743 (older than LLVM 22): "
        "vadd/vand/vsll/vmerge/vext/vwadd/vwmul ReleaseAtCycles = [4] at every LMUL "
        "(vmul/vmacc [7]); LLVM 22.1.8's X60 has 2*LMUL, which the preset follows: 0")
    fp_min_occupancy: int = _c(
        0, 'FP arithmetic/convert/move vector instructions hold their sequencer at least '
        'this many cycles (0: their element groups only)',
        'no source for a floor on the presets: 0')
    mem_min_occupancy: int = _c(
        0, 'unit-stride/strided/indexed vector loads and stores hold their sequencer at '
        'least this many cycles (0: their element groups or elements only)',
        "llvm-mca 22 spacemit-x60: vle8/16/32 and vse* take 3 cycles at LMUL 1 (a fixed "
        "cost of its memory pipe), the X60 presets' 3; 0 elsewhere")

    @property
    def fp_path_bits(self) -> int:
        """Bits per cycle of the FP arithmetic path (add/mul/FMA/min/max)."""
        return self.fp_dlen or self.dlen

    @property
    def mmacc_macs_per_cycle(self) -> int:
        """BF16 MACs per cycle of the vfwmmacc array, scaled with DLEN from 6 #4."""
        return max(1, self.mmacc_macs_per_cycle_at_dlen256 * self.dlen // 256)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


# ---- timing rules: (instruction, parameters) -> (latency, occupancy) -----------------------
# An instruction definition owns its timing: ``InstrDef.timing`` is one of these rules (the
# built-in ones by name, :data:`RULES`) or any callable of the same shape a user writes,
# e.g. ``pipelined(6)`` for a 6-cycle unit that holds each element group one cycle.
Timing = Callable[["Instr", TimingParams], tuple[int, int]]


def _eew_factor(ins: Instr, p: TimingParams) -> float:
    """The EEW (as a multiple of SEW) that sets how many element groups an instruction
    holds: the widest operand, except widening ops on a core that sequences them by their
    source (SiFive7: 2*LMUL of the source, not 4*LMUL; narrowing ops still 4*LMUL)."""
    widths = ins.defn.widths
    if p.widening_by_source and widths.get("vd") == 2:
        return 1
    return max([1, *(w for w in widths.values() if isinstance(w, (int, float)))])


def chunks(ins: Instr, p: TimingParams, path_bits: int = 0) -> int:
    """Element groups of ``ins``: ceil(VL * EEW / path width), the path DLEN unless
    ``path_bits``; = 2*LMUL at VLMAX on X280 (riscv.md 4.1)."""
    width = path_bits or p.dlen
    return max(1, math.ceil(ins.vector_length * ins.vector_type.sew * _eew_factor(ins, p) / width))


def _whole(latency: int, occ: int, p: TimingParams) -> tuple[int, int]:
    """On a core whose results are ready only after the last element group
    (``latency_covers_occupancy``), the latency is at least the occupancy."""
    return (max(latency, occ) if p.latency_covers_occupancy else latency), occ


def pipelined(latency: int | str, fp_path: bool = False, path_bits: int = 0) -> Timing:
    """A pipelined vector instruction: ``latency`` cycles (a number, or the name of a
    :class:`TimingParams` field) until a dependent may start, one cycle per element group
    of its sequencer. The element groups are DLEN wide, or ``path_bits``, or with
    ``fp_path`` as wide as the FP arithmetic path (``fp_dlen``)."""
    def rule(ins: Instr, p: TimingParams) -> tuple[int, int]:
        lat = getattr(p, latency) if isinstance(latency, str) else latency
        bits = p.fp_path_bits if fp_path else path_bits
        return _whole(lat, chunks(ins, p, bits), p)
    rule.identity = ("pipelined", latency, fp_path, path_bits)  # type: ignore[attr-defined]
    return rule


def _memory(ins: Instr, p: TimingParams) -> tuple[int, int]:
    mem = ins.memory
    store = ins.defn.exec_kind == "vstore"
    if mem.pattern == "unit":
        occ = max(1, math.ceil(ins.vector_length * mem.eew / p.dlen))
        return _whole(p.store_latency if store else p.load_latency, occ, p)
    # 4.1: strided and indexed accesses run at one element per cycle; a store's latency
    # is the store latency whatever its pattern (mca22)
    lat = p.store_latency if store else p.strided_latency_extra + ins.vector_length
    return _whole(lat, ins.vector_length, p)


def _reduction(ins: Instr, p: TimingParams) -> tuple[int, int]:
    levels = int(math.log2(max(1, p.dlen // ins.vector_type.sew)))
    tree = p.red_tree_step * (p.red_tree_base + levels)
    lat = p.red_fixed_latency + p.red_cycles_per_chunk * chunks(ins, p) + tree
    return lat, lat  # 4.1: occupancy = latency


def _int_reduction(ins: Instr, p: TimingParams) -> tuple[int, int]:
    if not p.int_red_cycles_per_chunk:
        return _reduction(ins, p)
    c = chunks(ins, p)
    return p.int_red_latency_base + p.int_red_cycles_per_chunk * c, c


def _int_widening(ins: Instr, p: TimingParams) -> tuple[int, int]:
    """Widening integer multiply(-add)s hold the element groups of their source EEW on
    both vendor models (llvm-mca 22: sifive-x280 and spacemit-x60 vwmul/vwmacc)."""
    occ = max(1, math.ceil(ins.vector_length * ins.vector_type.sew / p.dlen))
    return _whole(p.int_widen_latency, occ, p)


def _ordered_reduction(ins: Instr, p: TimingParams) -> tuple[int, int]:
    lat = p.redosum_cycles_per_element * ins.vector_length
    return lat, lat


def _divide(ins: Instr, p: TimingParams) -> tuple[int, int]:
    per4 = {16: p.fdiv_cycles_per_4_elements_f16, 32: p.fdiv_cycles_per_4_elements_f32,
            64: p.fdiv_cycles_per_4_elements_f64}.get(ins.vector_type.sew,
                                                       p.fdiv_cycles_per_4_elements_f32)
    lat = max(1, math.ceil(per4 * ins.vector_length / 4))
    return lat, lat  # 4.1: occupancy = latency


def _gather(ins: Instr, p: TimingParams) -> tuple[int, int]:
    # mca22: latency 7 + DLEN/SEW, occupancy one element per cycle + 4
    lat = p.gather_latency_base + p.dlen // ins.vector_type.sew
    return _whole(lat, ins.vector_length + p.gather_occupancy_extra, p)


def _compare(ins: Instr, p: TimingParams) -> tuple[int, int]:
    c = chunks(ins, p)
    return c + p.mask_latency_extra, c  # 4.1: mask results do not chain


def _segmented_reduction(ins: Instr, p: TimingParams) -> tuple[int, int]:
    g = int(ins.operand("imm"))
    # 6 #3: latency 4 + 3*log2(G); occupancy 2*LMUL (= chunks at VLMAX)
    return p.segred_base_latency + p.segred_step_latency * int(math.log2(g)), chunks(ins, p)


def _matrix(ins: Instr, p: TimingParams) -> tuple[int, int]:
    from isa.instructions import tile_geometry
    g = tile_geometry(p.vlen, ins.vector_type.lmul)
    occ = max(1, math.ceil(g.m * g.n * g.k / p.mmacc_macs_per_cycle))  # 6 #4
    return p.mmacc_latency_base + occ, occ  # 6 #4: latency 4 + occupancy


def _tile(ins: Instr, p: TimingParams) -> tuple[int, int]:
    rows, cols = ins.operand("imm")
    # one row per cycle when a row fits the DLEN memory pipe (4.1 unit-stride: DLEN bits/cycle)
    occ = int(rows) * max(1, math.ceil(int(cols) * ins.vector_type.sew / p.dlen))
    base = p.load_latency if ins.defn.exec_kind == "tload" else p.store_latency
    return base + occ, occ


def _exp_latency(ins: Instr, p: TimingParams) -> int:
    return p.exp_latency_bf16 if ins.vector_type.sew == 16 else p.exp_latency_fp32


def fixed(latency: int | str, occupancy: int | str = 1) -> Timing:
    """A fixed (latency, occupancy), each a number or a :class:`TimingParams` field name:
    scalar instructions and single-element moves."""
    def rule(ins: Instr, p: TimingParams) -> tuple[int, int]:
        return tuple(getattr(p, v) if isinstance(v, str) else v  # type: ignore[return-value]
                     for v in (latency, occupancy))
    rule.identity = ("fixed", latency, occupancy)  # type: ignore[attr-defined]
    return rule


# The timing rules whose instructions each minimum occupancy applies to.
MIN_OCCUPANCY_CLASSES: dict[str, tuple[str, ...]] = {
    "int_min_occupancy": ("int", "imul", "ishift", "intw"),
    "fp_min_occupancy": ("fp", "fma", "fpminmax", "fpcvt", "fpmove"),
    "mem_min_occupancy": ("load", "store"),
}
_FLOOR_OF = {rule: f for f, rules in MIN_OCCUPANCY_CLASSES.items() for rule in rules}


def fixed_costs(rule: str | None, vector: bool, lat: int, occ: int,
                p: TimingParams) -> tuple[int, int]:
    """A rule's (latency, occupancy) with the per-instruction costs real cores add: the
    minimum occupancy of the rule's class (``rule`` a built-in rule's name; None for a
    rule of one's own), then, for a vector instruction, the start-up dead time on both.
    Never less than the rule's own numbers."""
    floor = getattr(p, _FLOOR_OF[rule]) if rule in _FLOOR_OF else 0
    if floor > occ:
        occ = floor
        if p.latency_covers_occupancy and lat < occ:
            lat = occ
    if vector and p.vector_dead_time:
        lat, occ = lat + p.vector_dead_time, occ + p.vector_dead_time
    return lat, occ


RULES: dict[str, Timing] = {
    "fp": pipelined("fp_latency", fp_path=True),
    "fma": pipelined("fma_latency", fp_path=True),
    "fpminmax": pipelined("fp_minmax_latency", fp_path=True),
    "fpcvt": pipelined("fp_convert_latency"),
    "fpmove": pipelined("fp_move_latency"),
    "int": pipelined("int_latency"),
    "imul": pipelined("int_mul_latency"),
    "ishift": pipelined("int_shift_latency"),
    "intw": _int_widening,
    "cmp": _compare,
    "load": _memory,
    "store": _memory,
    "red": _reduction,
    "redo": _ordered_reduction,
    "ired": _int_reduction,
    "fdiv": _divide,
    "gather": _gather,
    "gatherx": pipelined("gather_scalar_latency"),
    "slide": pipelined("slide_latency"),
    "mvs": fixed("move_scalar_latency", "move_scalar_occupancy"),
    "tos": fixed("to_scalar_latency", "to_scalar_occupancy"),
    "vset": fixed("vset_latency"),
    "sfp": fixed("scalar_fp_latency"),
    "sfpn": lambda i, p: (p.scalar_fp_noncomp_latency or p.scalar_fp_latency, 1),
    "sfpx": lambda i, p: (p.scalar_fp_to_int_latency or p.scalar_fp_latency, 1),
    "sfdiv": fixed("scalar_fdiv_latency", "scalar_fdiv_latency"),
    "sint": fixed("scalar_int_latency"),
    "sload": fixed("scalar_load_latency"),
    "sstore": fixed(1),
    "branch": fixed("branch_latency"),
    "exp": lambda i, p: (_exp_latency(i, p), chunks(i, p)),
    "expsub": lambda i, p: (_exp_latency(i, p) + p.expsub_extra_latency, chunks(i, p)),
    "segred": _segmented_reduction,
    "mmacc": _matrix,
    "rec": lambda i, p: (p.rec_latency, chunks(i, p)),
    "tload": _tile,
    "tstore": _tile,
}
