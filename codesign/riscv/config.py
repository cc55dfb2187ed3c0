"""The RISC-V vector core and cluster configuration: typed dataclasses, unit and source.

Presets live in ``codesign/presets/riscv/<name>.toml``. Defaults below are the SiFive
X280 values of riscv.md §4.1 where one exists; every preset sets its hardware fields
explicitly and names their sources. Source tags: "riscv.md §N" is
/work/shared/reference/riscv.md, section N. "assumed" marks a value no source gives; the
help text or the preset's comment says why it was chosen.

The ``timing`` section *is* :class:`isa.timing.TimingParams` (each constant declared once
there, with its help, unit and source); its derived fields (VLEN, DLEN, the matrix array's
width) are filled from the ``vector`` and ``matrix`` sections, which alone declare them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codesign.config import AT_LEAST_ONE, FRACTION, POSITIVE, Range, param, section
from codesign.errors import CodesignError
from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa, parse_isa
from isa.timing import TimingParams

_TP = TimingParams()
_CORE = Core()  # the kernel library's defaults (tiling knobs)
_KSRC = "isa.core.Core default"
_T41 = "riscv.md §4.1 (LLVM SiFive7 / X280)"


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
    capacity_gb: float | None = param(
        None, "DRAM capacity of the system (weights + KV cache + recurrent state must fit); "
        "none: not declared, no fit check", "GB", "per preset (none by default)", POSITIVE)


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
    """Tiling knobs passed to the kernel library (isa.core.Core; defaults are its own)."""

    lmul: int = param(_CORE.lmul, "LMUL of FP32 streaming loops", "", _KSRC, AT_LEAST_ONE)
    gemm_mr: int = param(_CORE.gemm_mr, "rows of C held in registers by the GEMM "
                         "micro-kernel", "rows", _KSRC, AT_LEAST_ONE)
    gemm_kc: int = param(_CORE.gemm_kc, "K depth of a GEMM cache block (BLIS kc)", "elements",
                         _KSRC, AT_LEAST_ONE)
    gemm_nc: int = param(_CORE.gemm_nc, "N width of a GEMM cache block (BLIS nc): the kc x "
                         "nc B panel stays in L2 across M blocks", "columns",
                         _KSRC + ": 256 KiB BF16 panel, a quarter of a 1 MiB L2", AT_LEAST_ONE)
    attn_bc: int = param(_CORE.attn_bc, "keys per FlashAttention tile", "keys", _KSRC,
                         AT_LEAST_ONE)
    decode_splits: int = param(_CORE.decode_splits, "split-KV partitions of decode "
                               "attention", "splits", _KSRC, AT_LEAST_ONE)
    weight_group: int = param(_CORE.weight_group, "weights along K per scale of the int4 "
                              "weight format (isa.kernels.quant)", "weights",
                              "GPTQ / AWQ default group size 128", AT_LEAST_ONE)
    library: str = param(_CORE.library, "kernel library of the GEMMs: ideal (this package's "
                         "careful kernels) or llamacpp (llama.cpp's ggml CPU kernels as "
                         "isa.kernels.ggml expresses them: vec-dot GEMVs, tinyBLAS, the "
                         "SpacemiT IME path), the software real-silicon measurements ran",
                         "", _KSRC)


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
    timing: TimingParams = section(TimingParams, "instruction timing constants "
                                   "(isa.timing.TimingParams; VLEN, DLEN and the matrix "
                                   "array width come from vector and matrix)")
    exp: ExpUnitConfig = section(ExpUnitConfig, "Xattn exponential unit")
    matrix: MatrixUnitConfig = section(MatrixUnitConfig, "Xattn matrix array")
    l1d: CacheConfig = section(CacheConfig, "L1 data cache (per core)")
    l2: CacheConfig = section(_l2, "L2 cache")
    dram: DramConfig = section(DramConfig, "DRAM")
    memory: MemoryConfig = section(MemoryConfig, "memory access model")
    cluster: ClusterConfig = section(ClusterConfig, "cluster")
    kernel: KernelConfig = section(KernelConfig, "kernel tiling")
    sim: SimConfig = section(SimConfig, "simulation method")

    def __post_init__(self) -> None:
        # the timing section's derived fields are the vector and matrix sections' values
        t = dataclasses.replace(self.timing, vlen=self.vector.vlen, dlen=self.vector.dlen,
                                mmacc_macs_per_cycle_at_dlen256=(
                                    self.matrix.macs_per_cycle_at_dlen256))
        object.__setattr__(self, "timing", t)

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
        return self.timing

    def core(self, dtype: str = "bf16") -> Core:
        """The isa.core.Core shape kernels are generated for."""
        k = self.kernel
        return Core(vlen=self.vector.vlen, dlen=self.vector.dlen, dtype=dtype, lmul=k.lmul,
                    gemm_mr=k.gemm_mr, gemm_kc=k.gemm_kc, gemm_nc=k.gemm_nc,
                    attn_bc=k.attn_bc, decode_splits=k.decode_splits,
                    weight_group=k.weight_group, library=k.library)

    @property
    def exp_width_bits(self) -> int:
        return self.exp.width_bits or self.vector.dlen

    @property
    def parsed_isa(self) -> Isa:
        """The enabled ISA (``isa`` parsed)."""
        return parse_isa(self.isa)

    @property
    def freq_hz(self) -> float:
        return self.scalar.freq_ghz * 1e9

    @property
    def capacity_bytes(self) -> float | None:
        """DRAM capacity in bytes (decimal gigabytes, as GPUs'), or None if undeclared."""
        cap = self.dram.capacity_gb
        return None if cap is None else cap * 1e9

    @property
    def cluster_l2_bytes_per_s(self) -> float:
        """The L2 bandwidth all cores of the cluster have together (a shared L2's, or each
        private L2's times the cores)."""
        return self.l2.bytes_per_cycle * (1 if self.l2.shared else self.cluster.cores) * \
            self.freq_hz

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
