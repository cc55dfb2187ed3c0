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

from codesign.config import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    Range,
    param,
    section,
)
from codesign.errors import CodesignError
from isa.core import FA_SIMD_GEMMS, SPACEMIT_BACKENDS, Core
from isa.errors import IsaError
from isa.instructions import Isa, parse_isa
from isa.timing import TimingParams

_TP = TimingParams()
_CORE = Core()  # the kernel library's defaults (tiling knobs)
_KSRC = "isa.core.Core default"
# Fraction of a core's L2 (share) that the GEMM's kc x nc B panel fills when nc is derived:
# a quarter, as the fixed default had it (a 256 KiB BF16 panel in a 1 MiB private L2,
# riscv.md §3.1 C950), leaving the rest to the A blocks streamed past it, C and other data.
L2_PANEL_SHARE = 0.25
_T41 = "riscv.md §4.1 (LLVM SiFive7 / X280)"


@dataclass(frozen=True)
class ScalarConfig:
    """The in-order scalar front end that issues into the vector command queue."""

    issue_width: int = param(2, "instructions the in-order front end issues per cycle "
                             "(at most one of them a vector instruction)", "instr/cycle",
                             "riscv.md §4.1: X280 in-order dual-issue", AT_LEAST_ONE)
    freq_ghz: float = param(1.0, "core clock", "GHz", "assumed: normalised 1 GHz clock",
                             POSITIVE)
    ssr: bool = param(
        False, "the core has stream semantic registers: the loads a kernel marks as standing "
        "for SSR streams (its program's ssr_streams) are no instructions: they take no issue "
        "slot and their data is there when read (the streamer fetches ahead of the FPU, up "
        "to its credits), while their bytes still pass the L1 port (codesign.riscv.core)",
        "", "false on every preset; set per case (the Snitch cluster cases: pulp-platform/"
        "snitch_cluster cfg/default.json compute cores xssr: true, ssr_nr_credits 4; "
        "Schuiki et al., 'Stream Semantic Registers', IEEE TC 2021, arXiv 1911.08356)")
    fp_store_load_cycles: int = param(
        0, "cycles after an FP store issues before an integer load of the same word may "
        "issue (a core whose FP loads and stores go through the FP subsystem's own LSU, "
        "kept consistent with the integer LSU by a queue of the offloaded accesses' "
        "addresses that holds a colliding integer access until the FP access completes); "
        "0: none (one LSU, the load issues the next cycle and is forwarded)", "cycles",
        "0 on every preset; set per case (the Snitch cluster cases: pulp-platform/"
        "snitch_cluster hw/snitch/src/snitch_lsu.sv, its consistency address queue)",
        NON_NEGATIVE)
    fp_store_load_word_bytes: int = param(
        8, "with fp_store_load_cycles: the word an address queue compares (accesses to the "
        "same word collide)", "bytes", "pulp-platform/snitch_cluster snitch_lsu.sv: the CAQ "
        "tags word addresses, DataAlign = $clog2(DataWidth/8), data_width 64 "
        "(cfg/default.json)", AT_LEAST_ONE)
    dcache_kib: float = param(
        0.0, "the host's own L1 data cache, which its scalar loads use while the vector "
        "unit bypasses it (a decoupled vector unit with its own memory port, as Ara beside "
        "CVA6): a fully associative LRU cache of lines, filled by scalar loads only, each "
        "buffer line-aligned (Ara's arrays: aligned(32 * NR_LANES)); a "
        "scalar load whose line it does not hold pays dcache_miss_cycles more than "
        "timing.scalar_load_latency; 0: no such cache (scalar loads hit in l1d)", "KiB",
        "0 on every preset; CVA6 as Ara configures it: 8 KiB, 4-way, write-through "
        "(pulp-platform/cva6 pulp-v2 core/include/cv64a6_imafdcv_sv39_config_pkg.sv "
        "CVA6ConfigDcacheByteSize = 8192, the config pulp-platform/ara 826f57c9 "
        "hardware/Makefile selects (-t cv64a6_imafdcv_sv39); set associativity not modelled)")
    dcache_line_bytes: int = param(
        32, "line of scalar.dcache_kib", "bytes",
        "CVA6 as Ara configures it: CVA6ConfigDcacheLineWidth = 256 bits "
        "(cv64a6_imafdcv_sv39_config_pkg.sv, pulp-platform/cva6 pulp-v2)", AT_LEAST_ONE)
    dcache_miss_cycles: int = param(
        14, "extra load-to-use cycles of a scalar load that misses scalar.dcache_kib (its "
        "line refilled from the next level)", "cycles",
        "counted (not simulated) from the registered stages of Ara's SoC for a 32-byte line "
        "from its L2 SRAM, after the tag check a hit also does: pulp-platform/cva6 pulp-v2 "
        "core/cache_subsystem/wt_dcache_ctrl.sv READ -> MISS_REQ (1), the miss unit and "
        "AXI adapter's AR (1); pulp-platform/ara 826f57c9 hardware/src/ara_system.sv "
        "axi_dw_converter (1), axi_mux SpillAr (1); ara_soc.sv axi_xbar CUT_MST_PORTS (1), "
        "axi_to_mem into the L2 tc_sram, 'One-cycle latency' (1), its response (1), the "
        "xbar cut and the mux SpillR on R (2), the line's four 64-bit beats through the "
        "converter to CVA6's port (AxiNarrowDataWidth = 64: 4), the adapter's return to the "
        "miss unit (1), which wt_dcache_ctrl MISS_WAIT hands on in the same cycle "
        "(miss_rtrn_vld_i): 14, a miss's load-to-use 17 against a hit's 3; read off the "
        "sources, not cycle-simulated (about +-3), and Ara's vector loads contending for "
        "the mux and crossbar are not counted", NON_NEGATIVE)


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
    issue_interval: int = param(
        1, "cycles between two vector instructions the scalar front end hands to the "
        "vector unit (its vector-issue rate); 1: one per cycle, as an issue slot allows",
        "cycles", "riscv.md §4.1: X280 issues one vector instruction per cycle; Ara's host "
        "(CVA6) is slower: pulp-platform/ara README 'Ideal Dispatcher mode' replaces CVA6 "
        "by a FIFO issuing 'with the maximum issue-rate possible', and arXiv 2311.07493 "
        "(Ara2) names 'the scalar core issue-rate bound that limits short-vector "
        "performance' [R]", AT_LEAST_ONE)
    mem_ack_cycles: int = param(
        0, "cycles a vector load or store holds the host's handshake beyond an arithmetic "
        "instruction: the next vector instruction issues issue_interval + this cycles after "
        "it (0: memory instructions are handed over like the others)", "cycles",
        "0 on every preset; Ara (pulp-platform/ara 826f57c9 [R]): its dispatcher acknowledges "
        "an arithmetic instruction in the cycle it decodes it (ara_dispatcher.sv: 'These "
        "(mostly) always respond at the same cycle') but a vector load or store only when the "
        "sequencer reports the address generator's ack (ara_dispatcher.sv 'Wait until the "
        "back-end answers'; ara_sequencer.sv state WAIT 'Wait for the address translation'); "
        "counted for a unit-stride access of one AXI burst: the request register (1), the "
        "sequencer's pe_req register (2), vlsu/addrgen.sv IDLE -> ADDRGEN (3), its AXI "
        "address generator IDLE -> REQUESTING, which acks when it issues the last AR (4): "
        "4 (a strided access issues one AR per element and holds it longer: not modelled); "
        "the host (CVA6) commits in order, so the next vector instruction, sent only at "
        "commit, waits for it", NON_NEGATIVE)
    dispatch_at_commit: bool = param(
        False, "the host hands a vector instruction to the vector unit only once every "
        "older scalar instruction has completed (non-speculatively, at commit); false: as "
        "soon as it issues", "",
        "false on every preset; CVA6 (openhwgroup/cva6 core/acc_dispatcher.sv [R], the "
        "host of Ara): 'Only non-speculative instructions can be issued to the "
        "accelerators': an accelerator instruction is sent when it reaches the top of the "
        "scoreboard (in-order commit), so an older scalar load's latency delays it")


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
    shared: bool = param(False, "shared by the cores of one cluster (cluster.clusters "
                         "groups the cores; size and bandwidth are divided among the cores "
                         "of the cluster running an op)", "", "assumed")
    efficiency: float = param(1.0, "sustained fraction of the level's bandwidth a stream "
                              "reaches", "", "default 1: peak (no preset has measured it)",
                              FRACTION)
    outstanding_misses: float | None = param(
        None, "lines a core keeps in flight from beyond this level (its miss-status holding "
        "registers and the prefetches they allow; for a shared level, all the cores of its "
        "cluster together): a core's loads that miss the level move at most outstanding x "
        "line_bytes per latency of the level serving them (Little's law: memory-level "
        "parallelism); none: unlimited", "lines",
        "default none: unlimited (no preset had a source)", POSITIVE)


def _l2() -> CacheConfig:
    return CacheConfig(size_kib=1024.0, bytes_per_cycle=32.0, latency=20, shared=False)


@dataclass(frozen=True)
class DramConfig:
    """Main memory, shared by the cluster."""

    bandwidth_gbps: float = param(25.6, "peak bandwidth of the memory system, shared by "
                                  "all cores and clusters (dram.efficiency of it is "
                                  "sustained)", "GB/s", "assumed", POSITIVE)
    latency_ns: float = param(100.0, "load-to-use latency", "ns", "assumed")
    efficiency: float = param(1.0, "sustained fraction of bandwidth_gbps the cores reach "
                              "together (refresh, bank and read/write turnaround losses)", "",
                              "default 1: peak (no preset had measured it)", FRACTION)
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
    prefetch_ahead: bool = param(
        False, "with prefetch, a prefetched stream's lines are requested ahead of the load "
        "that uses them: the transfers beyond L1 (L2 and DRAM bandwidth, the miss queues) "
        "of an affine load may take place up to one latency of the level serving it before "
        "the load issues (a prefetcher keeps at most the miss queue's lines in flight, "
        "which cover one latency: Little's law), never before the channel is free; false: "
        "they start when the load issues, so a channel idles while the core computes",
        "", "default false: every preset but the ones that set it (their sources say why)")
    weights_cached: bool = param(
        False, "a GEMM's weights (its B operand) sit in L2 when the op starts if they fit "
        "the core's share: true for a kernel timed alone (a benchmark loop); false for a "
        "forward pass, where every other layer's weights passed through the caches since "
        "this layer last ran, so weights come from DRAM", "", "method: a model's weights "
        "exceed every preset's caches")
    line_bytes: int = param(64, "cache line: an access beyond L1 moves whole lines, so a "
                            "strided, indexed or tile access whose elements sit in different "
                            "lines moves a line per element (per row) unless a loop walks "
                            "along the line while it stays in L1 (codesign.riscv.memory)",
                            "B",
                            "64 B lines: XuanTie C9xx and SpacemiT X60 (C908-like) L1D/L2, "
                            "SiFive 7-series L1D", AT_LEAST_ONE)
    data_in_l1: bool = param(
        False, "an op's data (its input and output buffers) starts in L1 when it fits the "
        "core's share: a scratchpad cluster's kernel that a DMA fed beforehand; false: it "
        "starts in L2 or DRAM (codesign.riscv.memory)", "",
        "default false; set per case (the Snitch cases: snitch_cluster "
        "sw/kernels/dnn/softmax/src/softmax.h softmax_layer DMAs the whole input into the "
        "TCDM, then the compute cores run on it)")
    const_load_latency: int = param(
        0, "load-to-use latency of a scalar load from a constant buffer (a kernel's "
        "constant pool and tables: a called libm function's coefficients) when the "
        "platform links constant data outside the cluster and the core has no data cache, "
        "so every such load is a round trip to that memory; 0: constant data is cached "
        "data like any other (the scalar load latency)", "cycles",
        "default 0: every preset caches its constants; set per case (the Snitch cases: "
        "snitch_cluster sw/runtime/base.ld, 'constant data goes into L3')", NON_NEGATIVE)
    const_loads_in_flight: int = param(
        0, "with const_load_latency: the constant loads the cores of a cluster keep in "
        "flight together at most (the path to the memory holding constant data admits that "
        "many reads at once, each holding its place const_load_hold cycles), so the cores "
        "of an op in one cluster, all loading constants, start one each at most every "
        "const_load_hold x cores / const_loads_in_flight cycles (Little's law), a load "
        "that finds no place waiting for one; 0: unlimited", "loads",
        "default 0: unlimited; set per case (the Snitch cases: pulp-platform/snitch_cluster "
        "2fa38482 hw/snitch_cluster/src/snitch_cluster.sv muxes every core's requests "
        "outside the TCDM into one reqrsp_to_axi through i_reqrsp_mux_core, RespDepth = 2: "
        "hw/reqrsp_interface/src/generic_reqrsp_mux.sv accepts a request only while its "
        "response-route fifo_v3 of that depth is not full)",
        NON_NEGATIVE)
    const_load_hold: int = param(
        0, "with const_loads_in_flight: cycles each constant load holds its place (from the "
        "limiting stage accepting its request to its response leaving that stage)", "cycles",
        "default 0; set per case (the Snitch cases: counted from i_reqrsp_mux_core accepting "
        "a request to its route being free again: the narrow crossbar's CUT_ALL_PORTS AR "
        "registers (2), target/sim/tb/tb_memory_axi.sv's axi_cut AR register (1), the "
        "memory answering in the next cycle (1; axi_to_mem's AR-to-request path "
        "combinational, its FIFOs fall-through), the axi_cut's and the crossbar's R "
        "registers (1 + 2), the FIFO's full flag clearing the cycle after the pop (1): 8)",
        NON_NEGATIVE)


@dataclass(frozen=True)
class ClusterConfig:
    """The cores that split each op, grouped into clusters (each with its own L2 when
    ``l2.shared``)."""

    cores: int = param(1, "cores that split each op (all clusters together)", "cores",
                       "assumed", AT_LEAST_ONE)
    clusters: int = param(1, "clusters the cores are grouped in (cores / clusters each); "
                          "a shared L2 is one per cluster, DRAM is shared by all", "clusters",
                          "default 1: one cluster", AT_LEAST_ONE)
    fork_join_ns: float = param(
        0.0, "fixed cost of an op split over several cores: the fork and join of its shards "
        "(a barrier every core passes before the next op); an op on one core does not pay "
        "it (llama.cpp's own per-op cost is kernel.llamacpp_op_ns)", "ns",
        "default 0: free (no preset has a measurement of the hardware's alone)",
        NON_NEGATIVE)


@dataclass(frozen=True)
class KernelConfig:
    """Tiling knobs passed to the kernel library (isa.core.Core; defaults are its own)."""

    lmul: int = param(_CORE.lmul, "LMUL of FP32 streaming loops", "", _KSRC, AT_LEAST_ONE)
    gemm_mr: int = param(_CORE.gemm_mr, "rows of C held in registers by the GEMM "
                         "micro-kernel", "rows", _KSRC, AT_LEAST_ONE)
    gemm_kc: int = param(_CORE.gemm_kc, "K depth of a GEMM cache block (BLIS kc)", "elements",
                         _KSRC, AT_LEAST_ONE)
    gemm_nc: int = param(0, "N width of a GEMM cache block (BLIS nc): the kc x nc B panel "
                         "stays in L2 across M blocks; 0 = the faster of the kernel "
                         "library's default (128: a 256 KiB panel, a quarter of a 1 MiB "
                         "private L2) and the width whose panel (BF16) fills L2_PANEL_SHARE "
                         "of the L2 each core of the op has (its share of a shared L2)",
                         "columns",
                         "derived by default; BLIS sizes nc to a fraction of L2 (Low et al., "
                         "'Analytical modeling is enough for high-performance BLIS', TOMS "
                         "2016)", NON_NEGATIVE)
    attn_bc: int = param(_CORE.attn_bc, "keys per FlashAttention tile", "keys", _KSRC,
                         AT_LEAST_ONE)
    decode_splits: int = param(_CORE.decode_splits, "split-KV partitions of decode "
                               "attention", "splits", _KSRC, AT_LEAST_ONE)
    weight_group: int = param(_CORE.weight_group, "weights along K per scale of the int4 "
                              "weight format (isa.kernels.quant)", "weights",
                              "GPTQ / AWQ default group size 128", AT_LEAST_ONE)
    library: str = param(_CORE.library, "kernel library: ideal (this package's careful "
                         "kernels), llamacpp (llama.cpp's ggml CPU GEMMs as isa.kernels.ggml "
                         "expresses them: vec-dot GEMVs, tinyBLAS, the SpacemiT IME path), "
                         "snitch (the Snitch cluster's DNN kernels, isa.kernels.snitch: "
                         "softmax as scalar C with libm expf, or VEXP's kernel with vfexp; "
                         "every exponential the scalar expf) or ara (Ara's apps/fmatmul, "
                         "isa.kernels.ara: FP32 GEMMs in its blocks by M), the software "
                         "published measurements ran", "", _KSRC)
    llamacpp_flash_attn: bool = param(
        _CORE.flash_attn, "with library = llamacpp: llama.cpp ran with flash attention "
        "(llama-bench -fa 1): attention is ggml's FLASH_ATTN_EXT on the F16 KV cache "
        "(isa.kernels.ggml_attention); false (-fa 0): ggml's KQ mul_mat, soft_max_ext and "
        "KQV mul_mat over the F16 cache with V transposed (isa.kernels.ggml_kq)", "",
        "llama.cpp src/llama-context.cpp: flash attention on by default (auto) since PR "
        "#15434 (2025-08); llama-bench's -fa default was 0 before it")
    llamacpp_spacemit: str = param(
        _CORE.spacemit, "with library = llamacpp: the version of llama.cpp's SpacemiT backend "
        "that ran (isa.core.SPACEMIT_BACKENDS), which sets how its IME GEMMs split into tasks "
        "(isa.kernels.ime.ggml_task_rows): pr15288 (as merged, commit 6f8d979: tasks of 128 "
        "rows) or pr22863 (the rewrite with IME2 support: on a core without TCM, as the K1's, "
        "tasks of 16 rows unless N / M > 64, each re-reading its columns' weights)", "",
        "llama.cpp ggml/src/ggml-cpu/spacemit/ime.cpp: PR #15288 forward_mul_mat_q4 "
        "(gemm_m_stride = 128); PR #22863 tensor_traits::forward_mul_mat (gemm_m_stride = "
        "gemm_n / gemm_m > 64 ? gemm_m : 16) and ime_env.cpp spine_env_info (TCM for IME2 "
        "cores only)")
    llamacpp_simd_gemm: str = param(
        _CORE.fa_simd_gemm, "with library = llamacpp and llamacpp_spacemit = pr22863: the "
        "simd_gemm of ggml-cpu's tiled flash attention (isa.kernels.ggml_fa_tiled; "
        "isa.core.FA_SIMD_GEMMS): rvv (simd-gemm.h's RVV kernel, 7 rows x vlenb columns "
        "of e32/m4 vfmacc.vf) or scalar (the plain C triple loop RISC-V builds had before "
        "that kernel)", "",
        "llama.cpp ggml/src/ggml-cpu/simd-gemm.h: PR #20627 (opened 2026-03-16) added the "
        "__riscv_v_intrinsic branch; before it the GGML_SIMD branch excluded RISC-V "
        "(\"TODO: add support for sizeless vector types\") and the scalar loop ran. "
        "Default rvv: #20627 reached master before #22863 (LlamaCppEx CHANGELOG: #20627 in "
        "llama.cpp 408225bb1..30dce2cf2, its v0.7.7; #22863 in 1e5ad35d5..834a24366, v0.8.6)")
    llamacpp_op_ns: float = param(
        0.0, "with library = llamacpp: the fixed cost of each op llama.cpp runs (every graph "
        "node runs on every thread and they meet in a barrier, plus per-op work of its "
        "runtime that the kernels do not model)", "ns",
        "default 0; spacemit-k1 fits it on llama.cpp decode (benchmarks/fit_riscv_memory.py)",
        NON_NEGATIVE)


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
    reuse_steady: bool = param(
        True, "a loop entered again whose body (same timing shape) the program already "
        "found steady is extrapolated at that rate after its first iteration, instead of "
        "being simulated until two iterations confirm the rate (an inner loop re-entered "
        "in every outer iteration); cold simulation ~2x faster on qwen3.5-397b-a17b "
        "prefill than false, op cycles within 0.7% of false", "", "method: issue #12 "
        "(benchmarks/bench_sim.py --set sim.reuse_steady=false)")
    missing_kernels: str = param("roofline", "ops the kernel library cannot lower yet: "
                                 "'roofline' times them at their roofline bound and marks "
                                 "them modelled=False in the result; 'error' refuses the "
                                 "trace", "", "method")
    split_candidates: int = param(
        8, "most ways of splitting one op over the cores that are simulated when its kind "
        "offers several (GEMMs: row x column grids on any number of cores, codesign.kinds); "
        "they are timed best lower bound first and the search stops earlier when no untimed "
        "way's bound beats the fastest, so the fastest is found whenever the search stops "
        "before this cap (then more cores are never slower); 1: the best bound only",
        "splits", "method: 8 keeps a cold 9B prefill within 1.5x of one way per op",
        AT_LEAST_ONE)
    bound_threshold: float = param(0.5, "an op is compute/memory/issue bound when that "
                                   "resource is busy at least this fraction of its cycles; "
                                   "otherwise latency bound", "", "method", FRACTION)


_HZ = "Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm 0.9 V table"
_AS = "assumed (see the help text for the reason)"
_CACTI = ("fitted: CACTI 7.0 single-port scratch-RAM macros at 22 nm, 2 KiB-2 MiB x 64-512 bit "
          "(codesign/validation/sram_cacti.csv; benchmarks/fit_sram.py: max |error| 6.9%, "
          "rms 3.2%), in CACTI's bit cells; scaled by codesign.silicon's bit cell of the node")


@dataclass(frozen=True)
class TechConfig:
    """Process node and supply voltage (codesign.silicon scales energy and area by them)."""

    node_nm: float = param(12.0, "process node (feature size)", "nm",
                           "per preset; default GF12LPP (Spatz, arXiv 2309.10137)", POSITIVE)
    voltage_v: float = param(0.8, "supply voltage", "V",
                             "per preset; default Spatz's nominal 0.80 V (arXiv 2309.10137)",
                             POSITIVE)


@dataclass(frozen=True)
class EnergyConfig:
    """Dynamic energy per executed instruction, per element group of each unit class and
    per byte at each memory level, and leakage (codesign.riscv.energy). Dynamic constants
    are at ``ref_node_nm`` / ``ref_voltage_v`` and scale by codesign.silicon's rule."""

    ref_node_nm: float = param(45.0, "node the dynamic constants are given at", "nm", _HZ,
                               POSITIVE)
    ref_voltage_v: float = param(0.9, "voltage the dynamic constants are given at", "V",
                                 _HZ, POSITIVE)
    instr_pj: float = param(70.0, "fetch, decode, issue and scalar pipeline energy of every "
                            "executed instruction (scalar or vector)", "pJ",
                            _HZ + ": ~70 pJ of overhead per instruction of an in-order core",
                            POSITIVE)
    vrf_pj_per_bit: float = param(0.0625, "vector register file traffic of one element group "
                                  "(two source reads and one write), per datapath bit", "pJ/bit",
                                  _HZ + ": register file access 6 pJ for 3 x 32-bit operands",
                                  POSITIVE)
    vrf_ref_kib: float = param(0.125, "register file size vrf_pj_per_bit is given at (the "
                               "VRF's energy per bit scales as sqrt(its size / this))", "KiB",
                               _HZ + ": a 32 x 32-bit register file", POSITIVE)
    int_pj_per_bit: float = param(0.0031, "integer / logic / move unit, per datapath bit of an "
                                  "element group", "pJ/bit", _HZ + ": 32-bit add 0.1 pJ",
                                  POSITIVE)
    permute_pj_per_bit: float = param(0.0031, "slides, gathers, compress: per datapath bit",
                                      "pJ/bit", _HZ + ": as the 32-bit add (assumed: the "
                                      "crossbar's cost is the VRF traffic)", POSITIVE)
    fma_pj_per_bit: float = param(
        0.8524, "FP FMA datapath, per datapath bit of an element group", "pJ/bit",
        "fitted: Spatz's FPUs take 55% of the cluster's power on DP matmul (arXiv "
        "2309.10137 abstract; validate --suite energy case spatz-fpu-power-share), jointly "
        "with clock_pj_per_mm2_cycle, the other constants fixed", POSITIVE)
    reduction_pj_per_bit: float = param(0.028, "FP reduction (add tree / sequential adds), "
                                        "per datapath bit per cycle it occupies", "pJ/bit",
                                        _HZ + ": 32-bit FP add 0.9 pJ", POSITIVE)
    fdiv_pj_per_bit: float = param(0.116, "iterative FP divide / sqrt, per datapath bit per "
                                   "cycle it occupies", "pJ/bit",
                                   _HZ + ": 32-bit FP multiply 3.7 pJ (one multiply-class "
                                   "step per cycle: assumed)", POSITIVE)
    exp_pj_per_bit: float = param(0.094, "Xattn exp unit (vfexp, vfexpsub), per bit of its "
                                  "datapath", "pJ/bit",
                                  _HZ + ": 16-bit FP multiply 1.1 + add 0.4 pJ per 16 bits "
                                  "(VEXP's Schraudolph + correction: a BF16 multiply-add)",
                                  POSITIVE)
    matrix_pj_per_mac: float = param(2.0, "Xattn vfwmmacc array, per BF16 MAC into FP32",
                                     "pJ/MAC", _HZ + ": 16-bit FP multiply 1.1 + 32-bit FP add "
                                     "0.9 pJ", POSITIVE)
    l1_pj_per_byte: float = param(2.5, "L1 / TCDM access of a 32 KiB array, per byte "
                                  "(scaled as sqrt(size / 32 KiB))", "pJ/B",
                                  _HZ + ": 32 KB SRAM 20 pJ per 64-bit access", POSITIVE)
    l2_pj_per_byte: float = param(12.5, "L2 access of a 1 MiB array, per byte (refills from "
                                  "DRAM pass through it; scaled as sqrt(size / 1 MiB))", "pJ/B",
                                  _HZ + ": 1 MB SRAM 100 pJ per 64-bit access", POSITIVE)
    dram_technology: str = param("ddr5", "DRAM technology (energy per bit: "
                                 "codesign.silicon.DRAM_PJ_PER_BIT; not node-scaled)", "",
                                 "per preset")
    clock_pj_per_mm2_cycle: float = param(
        119.9, "clock tree, pipeline registers and control of the cluster's logic, per cycle "
        "(working or stalled) per mm^2 of logic at area.ref_node_nm (codesign.riscv.energy "
        "'clock' part)", "pJ/(mm^2 cycle)",
        "fitted: with energy.fma_pj_per_bit, on Spatz's DP matmul: 95.7 DP-GFLOPS/W with "
        "55% of the power in the FPUs (arXiv 2309.10137 abstract: 'more than 55% of the "
        "power spent on the FPUs'; validate --suite energy cases spatz-dp-gflops-per-w and "
        "spatz-fpu-power-share): the power that is neither the FPUs' nor another modelled "
        "part's", NON_NEGATIVE)
    logic_leak_mw_per_mm2: float = param(20.0, "leakage of logic at the config's voltage, "
                                         "per mm^2 (codesign.riscv.area)", "mW/mm^2",
                                         _AS + ": FinFET LP logic at 25 C; 7% of Spatz's "
                                         "0.58 mm^2, 164 mW cluster", NON_NEGATIVE)
    sram_leak_mw_per_mib: float = param(10.0, "leakage of SRAM (L1, L2, TCDM) per MiB", "mW/MiB",
                                        _AS + ": HD SRAM with retention biasing",
                                        NON_NEGATIVE)


@dataclass(frozen=True)
class AreaConfig:
    """Area per component as a function of the config (codesign.riscv.area). Logic areas
    are at ``ref_node_nm`` and scale as L^2; SRAM uses codesign.silicon's bit-cell table."""

    ref_node_nm: float = param(12.0, "node the logic areas are given at", "nm",
                               "GF12LPP (Spatz arXiv 2309.10137; Snitch+VEXP arXiv "
                               "2504.11227)", POSITIVE)
    scalar_core_mm2: float = param(
        0.005, "scalar core (front end, integer pipeline, scalar FPU, L1 I-cache)", "mm^2",
        _AS + ": Snitch-class in-order core (about 20 kGE plus its FPU share); big OoO "
        "cores set it per preset", POSITIVE)
    fma_mm2_per_64b: float = param(
        0.0468, "vector lane: FMA + integer + permute datapath per 64 bits of DLEN", "mm^2",
        "fitted: Spatz cluster area 0.58 mm^2 (arXiv 2309.10137: 99.3 GFLOPS/W / 171 "
        "GFLOPS/W/mm^2; validate --suite energy case spatz-cluster-area)", POSITIVE)
    vrf_cell_factor: float = param(
        8.0, "VRF bit area over the node's SRAM bit cell (latch / flip-flop register file "
        "with its ports)", "", _AS + ": standard-cell latch arrays (Spatz's VRF) are about "
        "an order of magnitude less dense than 6T SRAM", POSITIVE)
    vrf_ref_ports: int = param(
        6, "VRF ports vrf_cell_factor is given at; a VRF with p ports has bits (p / this)^2 "
        "as large (each port adds a word line and a bit line to every cell)", "ports",
        "Rixner et al., 'Register organization for media processing', HPCA 2000: register "
        "file area grows as the square of the ports; 6 = Spatz's one FMA sequencer (3R1W) "
        "+ load (1W) + store (1R)", AT_LEAST_ONE)
    exp_vs_fma: float = param(
        0.04, "Xattn exp unit per 64 datapath bits, as a fraction of a 64-bit FMA", "",
        _AS + ": two BF16 mantissa multipliers (8x8 vs 53x53 bits: (8/53)^2 ~ 2% each of a "
        "DP multiplier array) and a 16-bit adder. That is one BF16 lane, and fewer product "
        "bits than the EXP lane VEXP builds on (belanoa/softex rtl/expu: 8x15 (x 1/ln2), 7x3 "
        "and 10x9 products, 231 bits, 8% of 53x53) of the 4 in 64 bits; by that rule this "
        "would be ~0.33, yet it is taken of the fitted lane (fma_mm2_per_64b), not of a DP "
        "multiplier array. Not fitted; validate case vexp-exp-area-fraction tests it",
        POSITIVE)
    segred_vs_fma: float = param(
        0.3, "Xattn segmented-reduction tree per 64 datapath bits, as a fraction of a 64-bit "
        "FMA", "", _AS + ": two FP32 adders per 64 bits, an FP32 adder ~15% of a DP FMA",
        POSITIVE)
    mac_vs_fma: float = param(
        0.16, "Xattn matrix array per BF16 MAC, as a fraction of a 64-bit FMA", "",
        _AS + ": BF16 multiplier (~2% of a DP multiplier) + FP32 adder (~15%)", POSITIVE)
    sram_cells_per_bit: float = param(
        1.150, "SRAM macro: bit cells per stored bit (the array and its row periphery; "
        "codesign.silicon.sram_macro_cells' a)", "cells", _CACTI, POSITIVE)
    sram_cells_per_column: float = param(
        41.24, "SRAM macro: bit cells per bit of port width (sense amplifier, write driver, "
        "latch; sram_macro_cells' b)", "cells", _CACTI, NON_NEGATIVE)
    sram_cells_per_column_sq: float = param(
        0.2498, "SRAM macro: bit cells per (port width)^2 (the data bus across the columns; "
        "sram_macro_cells' c)", "cells", _CACTI, NON_NEGATIVE)
    sram_cells_per_column_route: float = param(
        0.04285, "SRAM macro: bit cells per port bit per sqrt(bits) (the data bus routed "
        "across the array; sram_macro_cells' d)", "cells", _CACTI, NON_NEGATIVE)
    sram_bank_bits: int = param(
        64, "width of one single-port SRAM bank: an L1 or L2 of bytes_per_cycle x 8 bits a "
        "cycle has ceil(that / this) banks (codesign.silicon.sram_banked_mm2)", "bits",
        "pulp-platform/snitch_cluster cfg/default.json: TCDM banks of data_width 64",
        AT_LEAST_ONE)
    cluster_overhead_mm2_per_core: float = param(
        0.05, "interconnect, DMA, L1 banking logic and cluster control per core", "mm^2",
        _AS + ": Spatz cluster beyond cores and TCDM", NON_NEGATIVE)
    channel_gbps: float = param(44.8, "bandwidth of one DRAM channel of the technology "
                                "(controller + PHY count = ceil(dram bandwidth / this))",
                                "GB/s", "per preset; default DDR5-5600 x64", POSITIVE)
    channel_mm2: float = param(5.0, "DRAM controller + PHY per channel (analog: not "
                               "node-scaled)", "mm^2", _AS + ": a DDR5 x64 PHY and "
                               "controller of a 7-5 nm SoC [?]", NON_NEGATIVE)


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
    tech: TechConfig = section(TechConfig, "process node and voltage (energy, area)")
    energy: EnergyConfig = section(EnergyConfig, "energy per instruction, element group "
                                   "and byte; leakage (codesign.riscv.energy)")
    area: AreaConfig = section(AreaConfig, "area per component (codesign.riscv.area)")

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
        from codesign.silicon import dram_pj_per_bit
        dram_pj_per_bit(self.energy.dram_technology)  # one line naming the valid ones
        for name, valid in (("llamacpp_simd_gemm", FA_SIMD_GEMMS),
                            ("llamacpp_spacemit", SPACEMIT_BACKENDS)):
            value = getattr(self.kernel, name)
            if value not in valid:
                raise CodesignError(f"kernel.{name} must be one of {', '.join(valid)}, got "
                                    f"{value!r}")
        if self.sim.missing_kernels not in ("roofline", "error"):
            raise CodesignError(f"sim.missing_kernels must be 'roofline' or 'error', got "
                                f"{self.sim.missing_kernels!r}")
        if self.cluster.cores % self.cluster.clusters:
            cores = self.cluster.cores
            fits = ", ".join(str(n) for n in range(1, cores + 1) if cores % n == 0)
            raise CodesignError(f"cluster.cores = {cores} is not a multiple of "
                                f"cluster.clusters = {self.cluster.clusters} (clusters hold "
                                f"equal numbers of cores); valid: cluster.cores a multiple of "
                                f"{self.cluster.clusters}, or cluster.clusters one of {fits}")
        # extrapolation needs two full windows of the steady-state test (codesign.riscv.core)
        least = 2 * self.sim.window + 1
        if self.sim.max_iterations < least:
            raise CodesignError(f"sim.max_iterations = {self.sim.max_iterations}: must be >= "
                                f"2 * sim.window + 1 = {least}")

    # ---- derived views -------------------------------------------------------------
    def timing_params(self) -> TimingParams:
        """The isa.timing.TimingParams this core times instructions with."""
        return self.timing

    def gemm_nc_choices(self, cores: int = 1) -> tuple[int, ...]:
        """The GEMM panel widths worth timing for an op on ``cores`` cores:
        ``kernel.gemm_nc`` when set; else the kernel library's default and the columns
        whose kc x nc BF16 panel fills :data:`L2_PANEL_SHARE` of the L2 each core has (its
        share of a shared L2, split among the cores of the op that share it): one value
        where they agree (a private 1 MiB L2)."""
        if self.kernel.gemm_nc:
            return (self.kernel.gemm_nc,)
        share = self.l2.size_kib * 1024 / (self.cores_sharing_l2(cores) if self.l2.shared
                                           else 1)
        derived = max(1, int(share * L2_PANEL_SHARE) // (self.kernel.gemm_kc * 2))
        return tuple(sorted({_CORE.gemm_nc, derived}, reverse=True))

    def cores_sharing_l2(self, cores: int) -> int:
        """Cores of an op on ``cores`` cores that share one L2 (those of one cluster)."""
        return self.placement(cores)[1]

    def core(self, dtype: str = "bf16", gemm_nc: int = 0) -> Core:
        """The isa.core.Core shape kernels are generated for (``gemm_nc``: one of
        :meth:`gemm_nc_choices`; 0: the first for one core)."""
        k = self.kernel
        return Core(vlen=self.vector.vlen, dlen=self.vector.dlen, dtype=dtype, lmul=k.lmul,
                    gemm_mr=k.gemm_mr, gemm_kc=k.gemm_kc,
                    gemm_nc=gemm_nc or self.gemm_nc_choices()[0],
                    attn_bc=k.attn_bc, decode_splits=k.decode_splits,
                    weight_group=k.weight_group, library=k.library,
                    flash_attn=k.llamacpp_flash_attn, spacemit=k.llamacpp_spacemit,
                    fa_simd_gemm=k.llamacpp_simd_gemm)

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
        """The L2 bandwidth all cores have together (each cluster's shared L2, or each
        core's private L2)."""
        return self.l2.bytes_per_cycle * self.l2_instances * self.freq_hz

    @property
    def l2_instances(self) -> int:
        """L2 caches in the system: one per cluster if shared, else one per core."""
        return self.cluster.clusters if self.l2.shared else self.cluster.cores

    def placement(self, cores: int) -> tuple[int, int]:
        """(clusters used, cores used in each) for an op on ``cores`` cores: spread over
        the clusters as evenly as they go (each core's share of a shared L2 is largest)."""
        c = max(1, cores)
        used = min(self.cluster.clusters, c)
        return used, -(-c // used)

    def dram_bytes_per_cycle(self) -> float:
        """Sustained DRAM bytes per core clock of all cores together."""
        return self.dram.bandwidth_gbps * self.dram.efficiency / self.scalar.freq_ghz

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
