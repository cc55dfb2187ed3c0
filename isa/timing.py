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

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class TimingParams:
    """Per-instruction latency/occupancy constants (cycles). Occupancy is the number of
    cycles an instruction holds its sequencer; latency is when a dependent may start
    (chaining). Element-group formulas use ``chunks = ceil(VL*EEW/DLEN)``: at VL=VLMAX
    this is the SiFive7 ``2*LMUL`` (riscv.md 4.1, "Chunks = LMUL*VLEN/DLEN")."""

    vlen: int = 512  # vector register bits; riscv.md 4.1 (X280 VLEN=512)
    dlen: int = 256  # datapath bits per cycle; riscv.md 4.1 (X280 DLEN=256)
    # ---- RVV arithmetic (riscv.md 4.1 table) ----
    fp_latency: int = 8  # 4.1: vfadd/vfsub/vfmul: 8
    fma_latency: int = 8  # 4.1: vfmacc/vfmadd and widening vfwmacc*: 8
    fp_convert_latency: int = 8  # 4.1: conversions (and vfrec7/vfrsqrt7 estimates): 8
    fp_minmax_latency: int = 4  # 4.1: vfmin/vfmax: 4
    fp_move_latency: int = 4  # 4.1: vfsgnj/vfmerge/vfmv.v.f: 4
    int_latency: int = 4  # 4.1: int ALU/merge/move: 4
    int_mul_latency: int = 8  # mca22: vmul latency 8 (4.1's older table: 4)
    int_shift_latency: int = 8  # mca22: vsll/vsrl/vsra latency 8 (4.1's older table: 4)
    int_widen_latency: int = 8  # 4.1: widening, narrowing, fixed-point int: 8
    mask_latency_extra: int = 3  # 4.1: vmf*/vms* compares: 2*LMUL + 3
    # ---- datapath shape (what sets occupancy) ----
    fp_dlen: int = 0  # FP arithmetic (add/mul/FMA/min/max) bits per cycle; 0 = DLEN.
    #   mca22 spacemit-x60: vfadd/vfmacc occupancy LMUL at VLEN 256 (a 256-bit FP path)
    widening_by_source: bool = True  # mca22 sifive-x280: widening ops (vfwmaccbf16,
    #   vfwcvtbf16) hold 2*LMUL element groups of the *source* EEW (4.1: "widening 2*LMUL");
    #   False: the widest EEW (the destination) sets them, as on the X60
    latency_covers_occupancy: bool = False  # mca22 spacemit-x60: a result is ready
    #   max(latency, occupancy) cycles after issue (its table grows latency with LMUL: no
    #   element-group chaining); SiFive7 chains after the fixed latency
    # ---- memory (riscv.md 4.1) ----
    load_latency: int = 4  # 4.1: vle unit-stride load latency 4
    store_latency: int = 1  # 4.1/mca22: vse, vsse and vsuxei store latency 1
    strided_latency_extra: int = 3  # 4.1: vlse/vluxei: 3 + VLMAX, 1 element/cycle
    # ---- reductions (riscv.md 4.1) ----
    red_tree_base: int = 4  # 4.1: vfredusum: 2*LMUL + 5*(4 + log2(DLEN/SEW))
    red_tree_step: int = 5  # 4.1: the factor 5 in the same formula
    red_cycles_per_chunk: int = 1  # 4.1: the 1 of 1 x (2*LMUL element groups) above
    red_fixed_latency: int = 0  # a constant added to the formula (0 on SiFive7;
    #   mca22 spacemit-x60: 9 + 6*LMUL, i.e. fixed 9, 3 per element group, no tree term)
    redosum_cycles_per_element: int = 6  # 4.1: vfredosum: 6*VLMAX
    # ---- divide / sqrt (riscv.md 4.1: f16 15*VLMAX/4, f32 28*VLMAX/4, f64 57*VLMAX/4) ----
    fdiv_cycles_per_4_elements_f16: int = 15  # 4.1
    fdiv_cycles_per_4_elements_f32: int = 28  # 4.1 (7 cycles/element)
    fdiv_cycles_per_4_elements_f64: int = 57  # 4.1
    # ---- permutes (riscv.md 4.1) ----
    gather_latency_base: int = 7  # mca22: vrgather.vv latency 7 + DLEN/SEW (e32 15, e16 23)
    gather_occupancy_extra: int = 4  # mca22: vrgather.vv occupancy VLMAX + 4
    gather_scalar_latency: int = 8  # 4.1: vrgather.vx/vi: 8
    slide_latency: int = 4  # 4.1: vslide*, vid, viota: 4
    move_scalar_latency: int = 4  # 4.1/mca22: vmv.s.x / vfmv.s.f: latency 4
    move_scalar_occupancy: int = 1  # 4.1/mca22: vmv.s.x / vfmv.s.f: occupancy 1
    to_scalar_latency: int = 11  # mca22: vmv.x.s / vfmv.f.s / vfirst.m latency 11
    #   (4.1's older table: 4)
    to_scalar_occupancy: int = 3  # mca22: vmv.x.s / vfmv.f.s / vfirst.m occupancy 3
    vset_latency: int = 3  # 4.1: vsetvli: 3
    # ---- scalar core (riscv.md 4.1 last row; 3.1/3.2) ----
    scalar_fp_latency: int = 5  # 4.1: fadd/fmul/fmadd SP: 5
    scalar_fdiv_latency: int = 27  # 4.1: fdiv.s/fsqrt.s: 27
    scalar_int_latency: int = 1  # riscv.md 3.2: Rocket/Saturn-host 5-stage in-order ALU, 1 cycle
    scalar_load_latency: int = 3  # mca22 sifive-x280: flh/flw/lw load-to-use 3
    branch_latency: int = 1  # riscv.md 3.2: in-order front end, predicted loop branch
    # ---- Xattn (riscv.md section 6) ----
    exp_latency_bf16: int = 6  # 6 #1: vfexp latency 6 (BF16)
    exp_latency_fp32: int = 8  # 6 #1: vfexp latency 8 (FP32)
    expsub_extra_latency: int = 1  # 6 #2: vfexpsub "same as #1 (+1 stage)"
    segred_base_latency: int = 4  # 6 #3: 4 + 3*log2(G)
    segred_step_latency: int = 3  # 6 #3: the 3 in 4 + 3*log2(G)
    mmacc_latency_base: int = 4  # 6 #4: latency 4 + occupancy
    mmacc_macs_per_cycle_at_dlen256: int = 64  # 6 #4: 64 BF16 MAC/cycle at DLEN=256 (8x8 array)
    rec_latency: int = 6  # 6 #5: vfrec latency 4-8; midpoint 6

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
