"""The RISC-V vector core and cluster configuration: typed dataclasses, unit and source.

Presets live in ``codesign/presets/riscv/<name>.toml``. Defaults below are the SiFive
X280 values of riscv.md §4.1 where one exists; every preset sets its hardware fields
explicitly and names their sources. Source tags: "riscv.md §N" is
/work/shared/reference/riscv.md, section N. "assumed" marks a value no source gives; the
help text or the preset's comment says why it was chosen.

The ``timing`` section mirrors :class:`isa.timing.TimingParams` field by field (defaults
are read from it, so no latency constant is written twice); :meth:`RiscvConfig.timing_params`
converts it back, adding VLEN/DLEN from ``vector`` and the matrix-array width from
``matrix``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codesign.config import AT_LEAST_ONE, FRACTION, POSITIVE, Range, param, section
from codesign.errors import CodesignError
from isa.core import Core
from isa.errors import IsaError
from isa.instructions import parse_isa
from isa.timing import TimingParams

_TP = TimingParams()
_T41 = "riscv.md §4.1 (LLVM SiFive7 / X280)"
_T6 = "riscv.md §6 (Xattn proposal)"
_MCA = "llvm-mca 22 -mcpu=sifive-x280 (LLVM SiFive7 model; tests/riscv/test_mca.py)"


@dataclass(frozen=True)
class ScalarConfig:
    """The in-order scalar front end that issues into the vector command queue."""

    issue_width: int = param(2, "instructions the in-order front end issues per cycle "
                             "(at most one of them a vector instruction)", "instr/cycle",
                             "riscv.md §4.1: X280 in-order dual-issue", AT_LEAST_ONE)
    freq_ghz: float = param(1.0, "core clock", "GHz", "assumed: normalised 1 GHz clock",
                             POSITIVE)


@dataclass(frozen=True)
class VectorConfig:
    """The decoupled vector unit: registers, datapath, command queue and sequencers."""

    vlen: int = param(512, "vector register length VLEN", "bits", _T41, AT_LEAST_ONE)
    dlen: int = param(256, "datapath width DLEN: bits per cycle of each sequencer",
                      "bits", _T41, AT_LEAST_ONE)
    queue_depth: int = param(8, "vector command queue entries between the scalar front "
                             "end and the sequencers", "entries",
                             "riscv.md §5: recommended model, depth 4-8", AT_LEAST_ONE)
    arith_sequencers: int = param(1, "arithmetic (VA) sequencers; >1 lets independent "
                                  "arithmetic instructions run concurrently (multi-FMA)",
                                  "sequencers",
                                  "riscv.md §4.1: X280 has one VA sequencer; §3.2 Saturn "
                                  "multi-FMA configurations dual-issue FMAs", AT_LEAST_ONE)
    chaining: bool = param(True, "a dependent instruction may start `latency` cycles after "
                           "its producer started (element-group chaining); off: after the "
                           "producer's last element group", "",
                           "riscv.md §2.1/§4.1: SiFive7 FP results chain, masks do not")
    vset_bubble: int = param(0, "cycles a vsetvli stalls the next vector instruction "
                             "(vtype/VL are renamed when 0)", "cycles",
                             "riscv.md §4.1 (X280 pipelines vsetvli); §3.2 Rocket: 2")


@dataclass(frozen=True)
class TimingConfig:
    """Per-instruction latency/occupancy constants: mirrors isa.timing.TimingParams."""

    fp_latency: int = param(_TP.fp_latency, "vfadd/vfsub/vfmul latency", "cycles", _T41)
    fma_latency: int = param(_TP.fma_latency, "vfmacc/vfmadd/vfwmacc* latency", "cycles",
                             _T41)
    fp_convert_latency: int = param(_TP.fp_convert_latency, "conversions and vfrec7/vfrsqrt7 "
                                    "latency", "cycles", _T41)
    fp_minmax_latency: int = param(_TP.fp_minmax_latency, "vfmin/vfmax latency", "cycles",
                                   _T41)
    fp_move_latency: int = param(_TP.fp_move_latency, "vfsgnj/vfmerge/vfmv.v.f latency",
                                 "cycles", _T41)
    int_latency: int = param(_TP.int_latency, "integer ALU/merge/move latency", "cycles",
                             _T41)
    int_mul_latency: int = param(_TP.int_mul_latency, "vmul latency", "cycles", _MCA)
    int_shift_latency: int = param(_TP.int_shift_latency, "vsll/vsrl/vsra latency", "cycles",
                                   _MCA)
    int_widen_latency: int = param(_TP.int_widen_latency, "widening/narrowing/fixed-point "
                                   "integer latency", "cycles", _T41)
    mask_latency_extra: int = param(_TP.mask_latency_extra, "compares into masks: latency "
                                    "= element groups + this", "cycles", _T41)
    fp_dlen: int = param(_TP.fp_dlen, "FP arithmetic (add/mul/FMA/min/max) path width; 0 = "
                         "DLEN", "bits", _MCA + "; spacemit-x60: 256")
    widening_by_source: bool = param(_TP.widening_by_source, "widening instructions hold "
                                     "the element groups of their source EEW (true, SiFive7: "
                                     "2*LMUL) or of their destination EEW (false)", "", _MCA)
    latency_covers_occupancy: bool = param(_TP.latency_covers_occupancy, "a result is ready "
                                           "max(latency, occupancy) cycles after issue (no "
                                           "element-group chaining in the vendor model)", "",
                                           _MCA + "; spacemit-x60: true")
    load_latency: int = param(_TP.load_latency, "unit-stride vector load latency (L1 hit)",
                              "cycles", _T41)
    store_latency: int = param(_TP.store_latency, "vector store latency", "cycles", _T41)
    strided_latency_extra: int = param(_TP.strided_latency_extra, "strided/indexed: latency "
                                       "= this + VL (1 element/cycle)", "cycles", _T41)
    red_tree_base: int = param(_TP.red_tree_base, "reduction: 2*LMUL + step*(base + "
                               "log2(DLEN/SEW)), the base", "cycles", _T41)
    red_tree_step: int = param(_TP.red_tree_step, "reduction tree: cycles per level",
                               "cycles", _T41)
    red_cycles_per_chunk: int = param(_TP.red_cycles_per_chunk, "reduction: cycles per "
                                      "element group", "cycles", _T41)
    red_fixed_latency: int = param(_TP.red_fixed_latency, "reduction: constant latency "
                                   "term", "cycles", _T41)
    redosum_cycles_per_element: int = param(_TP.redosum_cycles_per_element,
                                            "vfredosum: cycles per element", "cycles", _T41)
    fdiv_cycles_per_4_elements_f16: int = param(_TP.fdiv_cycles_per_4_elements_f16,
                                                "vfdiv/vfsqrt f16: cycles per 4 elements",
                                                "cycles", _T41)
    fdiv_cycles_per_4_elements_f32: int = param(_TP.fdiv_cycles_per_4_elements_f32,
                                                "vfdiv/vfsqrt f32: cycles per 4 elements",
                                                "cycles", _T41)
    fdiv_cycles_per_4_elements_f64: int = param(_TP.fdiv_cycles_per_4_elements_f64,
                                                "vfdiv/vfsqrt f64: cycles per 4 elements",
                                                "cycles", _T41)
    gather_latency_base: int = param(_TP.gather_latency_base, "vrgather.vv: latency = this "
                                     "+ DLEN/SEW", "cycles", _MCA)
    gather_occupancy_extra: int = param(_TP.gather_occupancy_extra, "vrgather.vv: occupancy "
                                        "= VL + this", "cycles", _MCA)
    gather_scalar_latency: int = param(_TP.gather_scalar_latency, "vrgather.vx/vi latency",
                                       "cycles", _T41)
    slide_latency: int = param(_TP.slide_latency, "vslide*/vid/viota latency", "cycles",
                               _T41)
    move_scalar_latency: int = param(_TP.move_scalar_latency, "vmv.s.x/vfmv.s.f latency",
                                     "cycles", _T41)
    move_scalar_occupancy: int = param(_TP.move_scalar_occupancy, "vmv.s.x/vfmv.s.f "
                                       "occupancy", "cycles", _T41)
    to_scalar_latency: int = param(_TP.to_scalar_latency, "vmv.x.s/vfmv.f.s/vfirst.m "
                                   "latency (vector to scalar)", "cycles", _MCA)
    to_scalar_occupancy: int = param(_TP.to_scalar_occupancy, "vmv.x.s/vfmv.f.s/vfirst.m "
                                     "occupancy", "cycles", _MCA)
    vset_latency: int = param(_TP.vset_latency, "vsetvli latency (its rd result)", "cycles",
                              _T41)
    scalar_fp_latency: int = param(_TP.scalar_fp_latency, "scalar fadd/fmul/fmadd (SP)",
                                   "cycles", _T41)
    scalar_fdiv_latency: int = param(_TP.scalar_fdiv_latency, "scalar fdiv.s/fsqrt.s "
                                     "(not pipelined)", "cycles", _T41)
    scalar_int_latency: int = param(_TP.scalar_int_latency, "scalar integer ALU", "cycles",
                                    "riscv.md §3.2: 5-stage in-order host ALU")
    scalar_load_latency: int = param(_TP.scalar_load_latency, "scalar load-to-use (L1 hit)",
                                     "cycles", _MCA)
    branch_latency: int = param(_TP.branch_latency, "predicted loop branch", "cycles",
                                "riscv.md §3.2: in-order front end")
    exp_latency_bf16: int = param(_TP.exp_latency_bf16, "vfexp latency at SEW=16", "cycles",
                                  _T6)
    exp_latency_fp32: int = param(_TP.exp_latency_fp32, "vfexp latency at SEW=32", "cycles",
                                  _T6)
    expsub_extra_latency: int = param(_TP.expsub_extra_latency, "vfexpsub: extra stage over "
                                      "vfexp", "cycles", _T6)
    segred_base_latency: int = param(_TP.segred_base_latency, "segmented reduction: "
                                     "latency base (4 + 3*log2(G))", "cycles", _T6)
    segred_step_latency: int = param(_TP.segred_step_latency, "segmented reduction: cycles "
                                     "per tree level", "cycles", _T6)
    mmacc_latency_base: int = param(_TP.mmacc_latency_base, "vfwmmacc: latency = this + "
                                    "occupancy", "cycles", _T6)
    rec_latency: int = param(_TP.rec_latency, "vfrec latency (proposed 4-8)", "cycles", _T6)


# TimingParams fields that other sections supply.
_TIMING_ELSEWHERE = {"vlen": "vector.vlen", "dlen": "vector.dlen",
                     "mmacc_macs_per_cycle_at_dlen256": "matrix.macs_per_cycle_at_dlen256"}


@dataclass(frozen=True)
class ExpUnitConfig:
    """The Xattn exponential unit (vfexp.v, vfexpsub.vf)."""

    present: bool = param(True, "a separate exp sequencer (true) or exp instructions share "
                          "the arithmetic sequencer (false)", "",
                          "riscv.md §6 #1: VEXP adds an exp block beside the FMA")
    width_bits: int = param(0, "exp datapath width; 0 = DLEN (as wide as the FMA datapath)",
                            "bits", "riscv.md §6: keep the exp unit as wide as the FMA "
                            "datapath (VEXP's choice); narrower for sensitivity studies")


@dataclass(frozen=True)
class MatrixUnitConfig:
    """The Xattn vfwmmacc multiply array (in-VRF matrix tiles, IME-style)."""

    present: bool = param(True, "a separate matrix sequencer (true) or vfwmmacc shares the "
                          "arithmetic sequencer (false)", "", "riscv.md §6 #4")
    macs_per_cycle_at_dlen256: int = param(
        _TP.mmacc_macs_per_cycle_at_dlen256, "BF16 MACs per cycle of the array at DLEN=256 "
        "(scaled with DLEN)", "MAC/cycle", "riscv.md §6 #4: 64 MAC/cycle at DLEN=256 (8x8)",
        AT_LEAST_ONE)


@dataclass(frozen=True)
class CacheConfig:
    """One cache level."""

    size_kib: float = param(32.0, "capacity (per core if private, per cluster if shared)",
                            "KiB", "assumed", POSITIVE)
    bytes_per_cycle: float = param(32.0, "bandwidth (per core if private, per cluster if "
                                   "shared)", "B/cycle", "assumed", POSITIVE)
    latency: int = param(4, "load-to-use latency", "cycles", "riscv.md §3.1: C950 L1 4 cycles")
    shared: bool = param(False, "shared by the cores of the cluster (size and bandwidth "
                         "are divided among the cores running an op)", "", "assumed")


def _l2() -> CacheConfig:
    return CacheConfig(size_kib=1024.0, bytes_per_cycle=32.0, latency=20, shared=False)


@dataclass(frozen=True)
class DramConfig:
    """Main memory, shared by the cluster."""

    bandwidth_gbps: float = param(25.6, "sustained bandwidth of the cluster", "GB/s",
                                  "assumed", POSITIVE)
    latency_ns: float = param(100.0, "load-to-use latency", "ns", "assumed")


@dataclass(frozen=True)
class MemoryConfig:
    """How memory instructions meet the hierarchy."""

    l1_ports: int = param(1, "L1 vector memory ports: 1 = loads and stores share the "
                          "port's bandwidth, 2 = one each", "ports",
                          "riscv.md §4.1: SiFive7 separate VL/VS sequencers, one DLEN pipe",
                          Range(lo=1, hi=2))
    prefetch: bool = param(True, "unit-stride and constant-stride streams (every affine "
                           "access: loads, tile loads) are prefetched: they pay their level's "
                           "bandwidth but only the L1 latency; indexed gathers pay the "
                           "latency of the level serving them", "",
                           "assumed: stream and stride prefetchers of application cores")


@dataclass(frozen=True)
class ClusterConfig:
    cores: int = param(1, "cores per cluster that split each op", "cores", "assumed",
                       AT_LEAST_ONE)


@dataclass(frozen=True)
class KernelConfig:
    """Tiling knobs passed to the kernel library (isa.core.Core)."""

    lmul: int = param(4, "LMUL of FP32 streaming loops", "", "isa.core.Core default",
                      AT_LEAST_ONE)
    gemm_mr: int = param(7, "rows of C held in registers by the GEMM micro-kernel", "rows",
                         "isa.core.Core default", AT_LEAST_ONE)
    gemm_kc: int = param(1024, "K depth of a GEMM cache block (BLIS kc)", "elements",
                         "isa.core.Core default", AT_LEAST_ONE)
    gemm_nc: int = param(128, "N width of a GEMM cache block (BLIS nc): the kc x nc B panel "
                         "stays in L2 across M blocks", "columns",
                         "isa.core.Core default: 256 KiB BF16 panel, a quarter of a 1 MiB L2",
                         AT_LEAST_ONE)
    attn_bc: int = param(8, "keys per FlashAttention tile", "keys", "isa.core.Core default",
                         AT_LEAST_ONE)
    decode_splits: int = param(4, "split-KV partitions of decode attention", "splits",
                               "isa.core.Core default", AT_LEAST_ONE)


@dataclass(frozen=True)
class SimConfig:
    """How loop bodies are simulated and extrapolated (method, not hardware)."""

    window: int = param(4, "iterations per window of the steady-state test: two consecutive "
                        "windows with equal mean cycles/iteration end the simulation of a "
                        "loop", "iterations", "method", Range(lo=2))
    rtol: float = param(0.002, "relative tolerance of the steady-state test", "", "method",
                        Range(lo=0.0, hi=1.0, hi_open=True))
    long_iteration_cycles: float = param(
        2000.0, "a loop whose iterations take at least this many cycles (far longer than the "
        "command queue and pipelines can carry from one iteration to the next) tests its "
        "steady state with windows of one iteration", "cycles", "method", POSITIVE)
    max_iterations: int = param(64, "iterations simulated at most before extrapolating from "
                                "the last window (at least two windows and one iteration: "
                                "2 * window + 1)", "iterations", "method", Range(lo=5))
    missing_kernels: str = param("roofline", "ops the kernel library cannot lower yet: "
                                 "'roofline' times them at their roofline bound and marks "
                                 "them modelled=False in the result; 'error' refuses the "
                                 "trace", "", "method")
    bound_threshold: float = param(0.5, "an op is compute/memory/issue bound when that "
                                   "resource is busy at least this fraction of its cycles; "
                                   "otherwise latency bound", "", "method", FRACTION)


@dataclass(frozen=True)
class RiscvConfig:
    """A RISC-V vector core cluster: ``isa`` plus hardware sections."""

    isa: str = param("rvv", "enabled ISA: rvv, rvv+xattn, rvv+xattn:vfexp,segred, ...", "",
                     "isa.instructions.parse_isa")
    scalar: ScalarConfig = section(ScalarConfig, "scalar front end")
    vector: VectorConfig = section(VectorConfig, "vector unit")
    timing: TimingConfig = section(TimingConfig, "instruction latencies (isa.timing)")
    exp: ExpUnitConfig = section(ExpUnitConfig, "Xattn exponential unit")
    matrix: MatrixUnitConfig = section(MatrixUnitConfig, "Xattn matrix array")
    l1d: CacheConfig = section(CacheConfig, "L1 data cache (per core)")
    l2: CacheConfig = section(_l2, "L2 cache")
    dram: DramConfig = section(DramConfig, "DRAM")
    memory: MemoryConfig = section(MemoryConfig, "memory access model")
    cluster: ClusterConfig = section(ClusterConfig, "cluster")
    kernel: KernelConfig = section(KernelConfig, "kernel tiling")
    sim: SimConfig = section(SimConfig, "simulation method")

    def check(self) -> None:
        _refuse_empty_subset(self.isa)
        try:
            parse_isa(self.isa)
            self.core()
        except IsaError as exc:
            raise CodesignError(str(exc)) from None
        # each field's own range is checked where its value enters (codesign.config);
        # here only what relates fields to each other
        if self.sim.missing_kernels not in ("roofline", "error"):
            raise CodesignError(f"sim.missing_kernels must be 'roofline' or 'error', got "
                                f"{self.sim.missing_kernels!r}")
        # extrapolation needs two full windows of the steady-state test (codesign.riscv.core)
        least = 2 * self.sim.window + 1
        if self.sim.max_iterations < least:
            raise CodesignError(f"sim.max_iterations = {self.sim.max_iterations}: must be >= "
                                f"2 * sim.window + 1 = {least}")

    # ---- derived views -------------------------------------------------------------
    def timing_params(self) -> TimingParams:
        """The isa.timing.TimingParams this core times instructions with."""
        return TimingParams(vlen=self.vector.vlen, dlen=self.vector.dlen,
                            mmacc_macs_per_cycle_at_dlen256=self.matrix.macs_per_cycle_at_dlen256,
                            **dataclasses.asdict(self.timing))

    def core(self, dtype: str = "bf16") -> Core:
        """The isa.core.Core shape kernels are generated for."""
        k = self.kernel
        return Core(vlen=self.vector.vlen, dlen=self.vector.dlen, dtype=dtype, lmul=k.lmul,
                    gemm_mr=k.gemm_mr, gemm_kc=k.gemm_kc, gemm_nc=k.gemm_nc,
                    attn_bc=k.attn_bc, decode_splits=k.decode_splits)

    @property
    def exp_width_bits(self) -> int:
        return self.exp.width_bits or self.vector.dlen

    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gbps / self.scalar.freq_ghz

    def dram_latency_cycles(self) -> float:
        return self.dram.latency_ns * self.scalar.freq_ghz


def _refuse_empty_subset(isa: str) -> None:
    """``rvv+xattn:`` names no item after the colon; isa.parse_isa reads an empty list as
    the whole extension, which silently turns an ablation into the full extension."""
    for part in str(isa).split("+")[1:]:
        ext, colon, items = part.partition(":")
        if colon and not items.replace(",", "").strip():
            raise CodesignError(
                f"ISA {isa!r} names no {ext.strip()} item after ':'; list the items to "
                f"enable (e.g. {ext.strip()}:vfexp,segred), or drop the ':' for all of them")


def timing_fields_elsewhere() -> dict[str, str]:
    """TimingParams fields that are not in the ``timing`` section, and where they live."""
    return dict(_TIMING_ELSEWHERE)
