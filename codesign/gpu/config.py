"""The GPU's configuration: typed dataclasses, each field with its unit and source.

Presets live in ``codesign/presets/gpu/<name>.toml`` (one per GPU, with a ``[meta]`` table
naming the sources). Defaults below are the H100 SXM5's, so a field a preset omits is an
H100 value; every preset sets the hardware fields explicitly.

Source tags: "gpu.md §N" is /work/shared/reference/gpu.md, section N. "[M]" marks a value
that gpu.md itself tags as unverified recollection, or one that is an assumption of this
model (the help text says which). "fitted" marks the few efficiency constants fitted to a
published series; ``docs`` of the validation suite (codesign/validate.py) describe the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codesign.config import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    param,
    section,
)
from codesign.errors import CodesignError
from codesign.gpu.attention_tiles import AttentionTile, attention_tile, check_tiles

ATTENTION_IMPLEMENTATIONS = ("fa2", "fa3", "cudnn", "triton", "standard")
LAUNCH_MODES = ("engine", "eager", "graph")
ENGINE_LAUNCH_MODES = ("eager", "graph")
ARCHES = ("ampere", "ada", "hopper", "blackwell")


@dataclass(frozen=True)
class SMConfig:
    """The streaming multiprocessors: how many, how fast, and what each can do per clock."""

    arch: str = param("hopper", "architecture: ampere, ada, hopper or blackwell (kernel "
                      "availability: FlashAttention-3 runs on Hopper only)", "", "gpu.md §1")
    count: int = param(132, "streaming multiprocessors (SMs)", "SMs", "gpu.md §1",
                       AT_LEAST_ONE)
    clock_mhz: float = param(
        1830.0, "SM clock at which the datasheet tensor peak is reached", "MHz",
        "gpu.md §1: 1830 MHz reproduces 989 TFLOP/s (ml-engineering)", POSITIVE)
    tc_fp16_flops_per_clk: int = param(
        4096, "dense FP16/BF16 tensor-core FLOP per clock per SM (FP32 accumulate)",
        "FLOP/clk/SM", "gpu.md §1: 989 TFLOP/s = 132 SMs x 4 TCs x 1024 FLOP/clk x 1830 MHz",
        AT_LEAST_ONE)
    tc_fp8_flops_per_clk: int = param(
        8192, "dense FP8 tensor-core FLOP per clock per SM (0: no FP8 tensor cores)",
        "FLOP/clk/SM", "gpu.md §1: 1979 TFLOP/s FP8")
    tc_fp4_flops_per_clk: int = param(
        0, "dense FP4 tensor-core FLOP per clock per SM (0: no FP4 tensor cores; MXFP4 "
        "weights are then dequantised to the activation dtype's MMA)", "FLOP/clk/SM",
        "per preset: Blackwell only (gpu.md §1)")
    tc_int8_ops_per_clk: int = param(
        8192, "dense INT8 tensor-core OP per clock per SM", "OP/clk/SM",
        "gpu.md §1 (A100 624 TOPS = 2x FP16; Hopper the same ratio)")
    fp32_flops_per_clk: int = param(
        256, "FP32 (non-tensor) FLOP per clock per SM: 128 FP32 lanes x FMA",
        "FLOP/clk/SM",
        "gpu.md §1: 67 TFLOP/s at the 1980 MHz boost = 132 x 256 x 1.98 GHz", AT_LEAST_ONE)
    sfu_exp_per_clk: int = param(
        16, "exponentials (MUFU.EX2) per clock per SM: 4 SFUs in each of 4 sub-partitions",
        "op/clk/SM",
        "FlashAttention-3 paper §3 (arXiv 2407.08608): H100 SXM5 has 3.9 TFLOPS of special "
        "functions = 132 SMs x 16 x 1.83 GHz", AT_LEAST_ONE)
    smem_kb: float = param(228.0, "shared memory a CTA may use per SM", "KiB", "gpu.md §1",
                           POSITIVE)
    smem_bytes_per_clk: int = param(
        128, "shared-memory bandwidth per SM (32 banks x 4 B)", "B/clk/SM",
        "CUDA C programming guide, shared memory banks (32 banks of 4 bytes per clock)",
        AT_LEAST_ONE)
    max_ctas: int = param(32, "resident CTAs per SM at most", "CTAs",
                          "CUDA C programming guide, compute capability table (cc 8.0-9.0)",
                          AT_LEAST_ONE)
    registers: int = param(65536, "32-bit registers per SM (the register file)", "registers",
                           "CUDA C programming guide, compute capability table: 64K for "
                           "cc 5.0-12.0", AT_LEAST_ONE)
    async_mma: bool = param(
        True, "has asynchronous warpgroup MMA (Hopper wgmma / Blackwell tcgen05)", "",
        "gpu.md §1 (architecture); FlashAttention-3 paper §2")
    mma_sync_fraction: float = param(
        2.0 / 3.0, "fraction of the tensor peak that the Ampere-style mma.sync path reaches "
        "(1.0 on GPUs whose native MMA is mma.sync)", "",
        "FlashAttention-3 paper/blog: on H100 mma.sync reaches about 2/3 of the peak wgmma rate",
        FRACTION)

    def check(self) -> None:
        if self.arch not in ARCHES:
            raise CodesignError(f"sm.arch {self.arch!r} is not one of: {', '.join(ARCHES)}")


@dataclass(frozen=True)
class MemoryConfig:
    """Off-chip memory (HBM/GDDR/LPDDR) and the L2 cache."""

    dram_gbps: float = param(3350.0, "DRAM (HBM) bandwidth", "GB/s", "gpu.md §1", POSITIVE)
    capacity_gb: float = param(80.0, "DRAM capacity", "GB", "gpu.md §1", POSITIVE)
    l2_mb: float = param(50.0, "L2 cache size", "MB", "gpu.md §1")
    l2_gbps: float = param(
        11450.0, "L2 cache bandwidth (all slices)", "GB/s",
        "[M] A100 whitepaper: 5120 B/clk L2 read bandwidth; the same 47.4 B/clk per SM "
        "assumed for other GPUs (not in gpu.md)", POSITIVE)
    latency_ns: float = param(
        600.0, "DRAM load-to-use latency seen by an SM", "ns",
        "[M] assumption: typical microbenchmark value for HBM GPUs; not in gpu.md")
    sm_max_gbps: float = param(
        50.0, "DRAM bandwidth one SM can draw alone (outstanding-request limit); a streaming "
        "kernel needs dram_gbps / sm_max_gbps busy SMs to saturate DRAM", "GB/s per SM",
        "[M] assumption: about half of the SMs saturate DRAM (2 x dram_gbps / SMs)", POSITIVE)


@dataclass(frozen=True)
class EfficiencyConfig:
    """How close tuned kernels get to the hardware peaks (fractions, 0..1)."""

    gemm_mainloop: float = param(
        0.80, "fraction of the tensor peak a tuned GEMM main loop sustains on the SMs it "
        "occupies (clock droop under power limit, issue and barrier stalls)", "",
        "gpu.md §3: large BF16 GEMMs reach about 80% (H100) to 87% (A100) of peak", FRACTION)
    fp32_mainloop: float = param(
        0.80, "fraction of the FP32 (CUDA-core) peak a tuned compute loop sustains", "",
        "assumption: the same as gemm_mainloop (gpu.md §3)", FRACTION)
    dram_stream: float = param(
        0.90, "fraction of DRAM bandwidth a streaming kernel reaches", "",
        "gpu.md §3: streaming kernels reach about 90% of datasheet bandwidth", FRACTION)
    l2_stream: float = param(
        0.90, "fraction of L2 bandwidth a tiled kernel reaches", "",
        "assumption: the same as dram_stream (gpu.md §3)", FRACTION)
    gemv: float = param(
        0.83, "fraction of DRAM bandwidth a skinny (decode) GEMM streams its bf16/fp16 "
        "weights at: the GEMV kernel class", "",
        "gpt-fast README (pytorch-labs/gpt-fast): 'peak bandwidth is about 1700 GB/s' on "
        "its A100-80GB = 0.83 of 2039 GB/s; the same fraction assumed on other GPUs",
        FRACTION)
    kv_read: float = param(
        0.90, "fraction of DRAM bandwidth decode attention reads a contiguous KV cache at "
        "(the KV-cache-read kernel class; an engine's paged cache lowers it)", "",
        "assumption: the streaming efficiency (gpu.md §3); engines set their own",
        FRACTION)


@dataclass(frozen=True)
class LaunchConfig:
    """What it costs to start a kernel: host launches (eager) or graph replay."""

    mode: str = param(
        "engine", "how kernels are issued: eager (host launches each), graph (CUDA-graph "
        "replay), or engine (the engine's choice for the pass's phase: "
        "engine.prefill_launch / engine.decode_launch)", "", "gpu.md §3d")
    host_launch_us: float = param(
        4.0, "host-side cost of one eager kernel launch; a kernel shorter than this leaves "
        "the GPU waiting for the next launch", "us", "gpu.md §3d: 4-6 us measured, 3-5 us rule")
    host_gemm_us: float = param(
        0.0, "host work of one eager GEMM call (F.linear) beyond its kernels' host_launch_us, "
        "done before its first kernel launches (output allocation, the cuBLASLt heuristic "
        "query), so the GPU cannot start the call's kernel before it", "us",
        "the engine preset (0: a GEMM call costs what a plain elementwise call does)")
    host_attention_us: float = param(
        0.0, "host work of one eager attention call (F.scaled_dot_product_attention) beyond "
        "its kernels' host_launch_us, done before its first kernel launches (the backend "
        "selection checks, the output and log-sum-exp allocations)", "us",
        "the engine preset (0: an attention call costs what plain launches do)")
    host_norm_us: float = param(
        0.0, "host work of one eager norm call (F.rms_norm, F.layer_norm) beyond its "
        "kernels' host_launch_us, done before its first kernel launches", "us",
        "the engine preset (0: a norm call costs what a plain elementwise call does)")
    gap_us: float = param(
        0.51, "GPU-side gap between consecutive kernels: from the end of one to the start "
        "of the next in a CUDA-graph replay (also paid in eager)", "us",
        "fitted: gpu-h200 row measured-h200-launch-chain-graph (64 dependent 1024-element "
        "adds replayed from a CUDA graph, 1.11 us each = the one-CTA kernel's 0.60 us, one "
        "DRAM round trip, + the gap); the same on other GPUs [M] (gpu.md §3d: about 1.3 us "
        "per kernel, kernel included, in a CUDA-graph replay on an H100 NVL)")
    t0_us: float = param(
        7.04, "fixed cost of a dependent launch on the GPU: a kernel that waits for the "
        "previous one ramps its CTAs up, pays its first DRAM round trip and drains its "
        "tail before its bytes stream; a memory-bound kernel takes t0 + bytes / (eta x BW)",
        "us", "fitted: gpu-e2e row gpt-fast-llama2-7b-bf16-a100 (one CUDA graph per token, "
        "next to no host work; benchmarks/fit_gpu_e2e.py); the same on other GPUs [M] "
        "(gpu.md §3d: ~2 us on B200, a ~24 us kernel took 25.8 us in a graph replay). "
        "A kernel whose CTAs draw a fraction of its class's DRAM rate pays that fraction "
        "(kernels.t0_seconds). Refitted with that rule and launch.gap_us = 0.51 (was 3.19 "
        "when every kernel paid all of it). Check, not fit: the H200's copy sweep (gpu-h200 "
        "sweep-copy-65536k .. -1048576k) has an intercept of 5.5-7.4 us, which also holds "
        "the host's latency to the first kernel of a lone call, so t0 is at most that")

    host_scale: float = param(
        1.0, "the host's time for its share of the work (each eager launch, the pre-launch "
        "work of a call, the engine's step) over the time of the host the engine's host "
        "constants were fitted on: above 1 a slower host, below 1 a faster one", "",
        "1: the fitting host. A measured machine's own is fitted on one request measured "
        "on it (validate.HOST_FITS; the host profiles of a case file)", POSITIVE)

    @property
    def launch_us(self) -> float:
        """Host time of one eager kernel launch on this host."""
        return self.host_launch_us * self.host_scale

    def pre_launch_us(self, kind: str) -> float:
        """Host work of one eager call of an op of ``kind`` before its first kernel
        launches, beyond the plain launches (:attr:`launch_us` each)."""
        return {"gemm": self.host_gemm_us, "attention": self.host_attention_us,
                "norm": self.host_norm_us}.get(kind, 0.0) * self.host_scale

    def check(self) -> None:
        if self.mode not in LAUNCH_MODES:
            raise CodesignError(
                f"launch.mode {self.mode!r} is not one of: {', '.join(LAUNCH_MODES)}")


@dataclass(frozen=True)
class GemmConfig:
    """cuBLAS-like tiled GEMM: the tile shapes the heuristic chooses among."""

    tiles: tuple[str, ...] = param(
        ("128x256", "256x128", "128x128", "128x64", "64x128", "64x64", "16x128", "16x256"),
        "CTA output tiles (MxN) the tile heuristic may choose; tiles under 64 rows (skinny "
        "decode GEMMs) run on mma.sync", "",
        "CUTLASS/cuBLAS Hopper and Ampere default tile shapes; 16-row tiles as in cuBLAS "
        "and Marlin small-M kernels")
    k_tile: int = param(64, "K depth of one pipeline stage", "elements", "CUTLASS default",
                        AT_LEAST_ONE)
    stages: int = param(4, "shared-memory pipeline stages per CTA at most (fewer when "
                        "shared memory is short, at least 2)", "",
                        "CUTLASS Hopper default (3-4 on Ampere)", AT_LEAST_ONE)
    max_split_k: int = param(16, "largest split-K factor for skinny GEMMs (M small, K large)",
                             "", "cuBLAS split-K heuristics for GEMV-like shapes",
                             AT_LEAST_ONE)
    round_trips: float = param(
        2.0, "DRAM round trips a CTA pays outside its main loop: the first operand load and "
        "the epilogue store", "", "structure of a tiled GEMM (prologue + epilogue)")

    def check(self) -> None:
        for t in self.tiles:
            parts = t.lower().split("x")
            if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise CodesignError(f"gemm.tiles entry {t!r} is not MxN (e.g. 128x256)")
        if not self.tiles:
            raise CodesignError("gemm.tiles must name at least one tile")


@dataclass(frozen=True)
class AttentionImpl:
    """One fused attention kernel family (FlashAttention-2/3, cuDNN, Triton)."""

    async_mma: bool = param(
        True, "issues asynchronous warpgroup MMAs (falls back to mma.sync on GPUs without)",
        "", "FlashAttention-3 paper §3 (per implementation: see the factories below)")
    mma_efficiency: float = param(
        1.0, "main-loop MMA rate relative to a tuned GEMM main loop (efficiency.gemm_mainloop)",
        "", "1.0 for fa2/fa3/cudnn; triton fitted to gpu.md §2a (codesign/validate.py)",
        FRACTION)
    softmax_overlap: float = param(
        0.0, "fraction of the softmax (exp + FP32) time hidden under the MMAs", "",
        "fa2 0 (FA3 paper §3.1: FA2 serialises); fa3, cudnn fitted to gpu.md §2a "
        "(codesign/validate.py); triton 0 (no warp specialisation)", UNIT_INTERVAL)
    block_m: int = param(128, "query rows per CTA when tiles = 'fixed' (fa2 and fa3 take "
                         "theirs per head dim from the library's table)", "rows",
                         "[M] assumption for cudnn and triton (the Triton tutorial autotunes "
                         "its BLOCK_M; not read here); unused by fa2/fa3", AT_LEAST_ONE)
    block_n: int = param(128, "keys per main-loop iteration when tiles = 'fixed'", "keys",
                         "[M] assumption for cudnn (128) and triton (64; the tutorial "
                         "autotunes its BLOCK_N; not read here); unused by fa2/fa3", AT_LEAST_ONE)
    large_hdim_efficiency: float = param(
        1.0, "main-loop rate of the head-dim 256 kernel relative to the head-dim 128 one "
        "(register pressure of a 256-wide O accumulator: fewer warps in flight, smaller "
        "tiles); head dims between 128 and 256 interpolate linearly, 128 and below 1.0", "",
        "fa2 fitted on the 16k point of FA2's head-dim 256 non-causal series of the "
        "FlashAttention-3 paper Fig. 5 (gpu.md §2b); 1.0 (no correction) for the others",
        FRACTION)
    tiles: str = param(
        "fixed", "where the tile comes from: 'fa2' / 'fa3' (the library's own table per head "
        "dim and GPU, with its shared-memory and register footprint deciding the resident "
        "CTAs per SM: codesign/gpu/attention_tiles.py) or 'fixed' (block_m x block_n and "
        "ctas_per_sm below at every head dim)", "",
        "Dao-AILab/flash-attention 0251105a flash_fwd_launch_template.h, hopper/tile_size.h "
        "(see attention_tiles.py); cudnn and triton publish none: fixed")
    ctas_per_sm: int = param(
        1, "resident CTAs per SM when tiles = 'fixed'", "CTAs",
        "[M] assumption for cudnn and triton: one register-heavy CTA per SM", AT_LEAST_ONE)
    longest_first: bool = param(
        False, "causal query tiles are scheduled longest first (an LPT tile scheduler) "
        "rather than in grid order, query tile fastest", "",
        "fa3: Dao-AILab/flash-attention hopper/tile_scheduler.hpp (causal and local: the "
        "m_blocks in reverse order, longest first; FA4's SingleTileLPTScheduler the same); "
        "fa2: grid (num_m_block, batch, head) in flash_fwd_launch_template.h; triton: the "
        "tutorial's grid (cdiv(N_CTX, BLOCK_M), Z x H); cudnn: [M] grid order assumed")

    def check(self) -> None:
        check_tiles(self.tiles)

    def tile(self, sm: SMConfig, D: int, causal: bool, window: int = 0
             ) -> tuple[AttentionTile, int]:
        """The CTA tile at head dim ``D`` and how many such CTAs one SM holds at once."""
        t = attention_tile(self.tiles, D, causal, window, sm.arch, sm.smem_kb,
                           self.block_m, self.block_n)
        if self.tiles == "fixed":
            return t, self.ctas_per_sm
        return t, t.ctas_per_sm(sm.smem_kb, sm.registers, sm.max_ctas)

    def hdim_efficiency(self, D: int) -> float:
        """The main-loop rate factor at head dim ``D`` (:attr:`large_hdim_efficiency`)."""
        frac = min(max((D - 128) / 128.0, 0.0), 1.0)
        return 1.0 - frac * (1.0 - self.large_hdim_efficiency)


# FlashAttention-2's main-loop rate at head dim 256 relative to 128: fitted on the 16k point
# of FA2's hdim-256 non-causal series (FA3 paper Fig. 5, H100 SXM5: 326 TFLOP/s; gpu.md §2b;
# gpu-suite case attn-fa2-h100-hdim256-s16k, the only fitted one of the series)
FA2_HDIM256 = 0.732


def _fa2() -> AttentionImpl:
    # FA2 issues mma.sync and runs softmax between its two GEMMs in the same warps, so none
    # of it is hidden (FlashAttention-3 paper §3.1). Tiles per head dim and GPU from
    # flash_fwd_launch_template.h (codesign/gpu/attention_tiles.py: 128 x 64 at head dim
    # 128, 64 x 64 at 256 on H100, two CTAs per SM).
    # Head dim 256 runs below the head-dim 128 rate (FA3 paper Fig. 5: FA2 plateaus at
    # 326 TFLOP/s for hdim 256 against 370 for hdim 128, non-causal): fitted, see validate.py.
    return AttentionImpl(async_mma=False, mma_efficiency=1.0, softmax_overlap=0.0,
                         large_hdim_efficiency=FA2_HDIM256, tiles="fa2")


def _fa3() -> AttentionImpl:
    # FA3: warp-specialised wgmma with ping-pong scheduling between two consumer
    # warpgroups and intra-warpgroup softmax/GEMM pipelining (paper §3.1-3.2). The hidden
    # fraction is fitted to the 16k point of the FA3 series (gpu.md §2a): see validate.py
    # (refitted 0.71 -> 0.73 when its head-dim 128 tile became the source's 128 x 176).
    # Tiles per head dim: hopper/tile_size.h (codesign/gpu/attention_tiles.py).
    return AttentionImpl(async_mma=True, mma_efficiency=1.0, softmax_overlap=0.73,
                         longest_first=True, tiles="fa3")


def _cudnn() -> AttentionImpl:
    # cuDNN's fused flash attention on Hopper also uses wgmma; it hides less of the softmax
    # than FA3. softmax_overlap fitted to the 16k point of the cuDNN series (gpu.md §2a).
    return AttentionImpl(async_mma=True, mma_efficiency=1.0, softmax_overlap=0.53,
                         block_m=128, block_n=128)


def _triton() -> AttentionImpl:
    # The Triton tutorial kernel (FA2 algorithm) on Hopper: wgmma, but waited on
    # synchronously and without warp specialisation, so no softmax overlap and a slower
    # main loop. mma_efficiency fitted to the 16k point of the Triton series (gpu.md §2a).
    return AttentionImpl(async_mma=True, mma_efficiency=0.75, softmax_overlap=0.0,
                         block_m=128, block_n=64)


@dataclass(frozen=True)
class AttentionConfig:
    """Which attention kernels run, and how each behaves."""

    implementation: str = param(
        "fa3", "prefill attention kernel: fa2, fa3, cudnn, triton, or standard (eager "
        "PyTorch: QK^T, softmax and PV as separate kernels, S x S scores in DRAM)", "",
        "gpu.md §2a")
    softmax_fp32_ops: float = param(
        4.0, "FP32 (non-exp) instructions per attention score: row max, scale-subtract FMA, "
        "row-sum add, FP16 pack", "op/score",
        "FlashAttention-3 paper §3: non-matmul work of the online softmax")
    round_trips: float = param(
        3.0, "DRAM round trips a fused-attention CTA pays outside its main loop: load Q, "
        "load the first K/V tile, store O. Exposed once per CTA: these kernels keep one or "
        "two register-heavy CTAs per SM, which start and finish together", "",
        "structure of FlashAttention's prologue and epilogue (FA2/FA3 papers, Algorithm 1)")
    decode_block_n: int = param(
        256, "keys per CTA chunk of split-KV decode attention (flash-decoding)", "keys",
        "FlashAttention split-KV (flash_fwd_splitkv) block size", AT_LEAST_ONE)
    fa2: AttentionImpl = section(_fa2, "FlashAttention-2")
    fa3: AttentionImpl = section(_fa3, "FlashAttention-3 (Hopper only)")
    cudnn: AttentionImpl = section(_cudnn, "cuDNN fused attention")
    triton: AttentionImpl = section(_triton, "Triton tutorial flash attention")
    eager_softmax_efficiency: float = param(
        0.46, "fraction of DRAM bandwidth PyTorch's standalone softmax kernel reaches on "
        "attention-score rows (standard implementation only)", "",
        "fitted to the standard-attention series of gpu.md §2a; see validate.py", FRACTION)
    eager_softmax_row_ns: float = param(
        210.0, "SM time per row of PyTorch's standalone softmax kernel beyond its data: "
        "the block-wide max and sum reductions and their barriers (standard only)", "ns",
        "fitted to the standard-attention series of gpu.md §2a; see validate.py")

    def check(self) -> None:
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise CodesignError(
                f"attention.implementation {self.implementation!r} is not one of: "
                f"{', '.join(ATTENTION_IMPLEMENTATIONS)}")

    def impl(self, name: str | None = None) -> AttentionImpl:
        """The fused-kernel parameters of ``name`` (default: the configured one)."""
        return getattr(self, name or self.implementation)


@dataclass(frozen=True)
class LinearAttentionConfig:
    """Gated DeltaNet kernels as flash-linear-attention (fla) runs them."""

    state_block_v: int = param(
        64, "value columns per CTA of the sequential state pass", "columns",
        "fla chunk_gated_delta_rule_fwd_h BV", AT_LEAST_ONE)
    state_round_trips: float = param(
        0.0, "DRAM round trips per chunk step of the sequential state pass that prefetching "
        "does not hide", "",
        "reason: the k, w, u tiles of step i+1 do not depend on the state, so Triton's "
        "software pipeline (num_stages) loads them during step i; only compute is serial")


@dataclass(frozen=True)
class ElementwiseConfig:
    """Memory-bound kernels: norms, RoPE, activations, copies, routers."""

    elems_per_cta: int = param(
        4096, "elements one CTA of a streaming kernel handles", "elements",
        "typical PyTorch/vLLM launch config (256 threads x 16 elements)", AT_LEAST_ONE)
    round_trips: float = param(
        1.0, "DRAM latencies a streaming kernel pays beyond its transfer time (first load)",
        "", "structure of a streaming kernel")
    router_kernels: int = param(
        1, "kernels of the router (softmax, top-k, renormalise fused as in vLLM)", "kernels",
        "vLLM fused topk_softmax kernel", AT_LEAST_ONE)


@dataclass(frozen=True)
class QuantConfig:
    """Quantised weights: the group scales and zeros each format carries, and the CUDA-core
    instructions per weight of the engine's dequantising kernel (its weights stream at the
    GEMV class's rate, ``efficiency.gemv``; the instructions run on the SMs). The bytes
    of a quantised element come from the trace's dtype (``workloads.schema.DTYPE_BYTES``);
    these fields add what the format stores beside them."""

    group_size: int = param(
        128, "weights per scale group of group-wise formats (int4; int8 and fp8 use "
        "int8_group / per-tensor scales)", "weights",
        "GPTQ/AWQ default group 128 (vLLM's quantised Qwen2.5 checkpoints); gpt-fast and "
        "MLC use 32 (their engine presets say so)", AT_LEAST_ONE)
    int8_group: int = param(
        0, "weights per scale of int8 weights (0: one scale per output channel)", "weights",
        "gpt-fast WeightOnlyInt8 and vLLM W8A16 use per-channel scales")
    scale_bytes: float = param(2.0, "bytes of one group scale (fp16/bf16)", "B",
                               "GPTQ, AWQ, gpt-fast, MLC q4f16_1: fp16/bf16 scales")
    zero_bytes: float = param(
        0.0, "bytes of one group zero point (0: symmetric format)", "B",
        "GPTQ/AWQ pack 4-bit zeros (0.5 B); gpt-fast int4 stores bf16 zeros (2 B)")
    int8_ops: float = param(
        2.0, "CUDA-core instructions per int8 weight of the dequantising GEMV (convert, "
        "multiply-accumulate; a per-channel scale applies after the dot product)",
        "inst/weight", "[M] count of the kernel's structure; engines fit or count their own")
    int4_ops: float = param(
        6.0, "CUDA-core instructions per 4-bit weight of the dequantising GEMV (shift, "
        "mask, convert, zero subtract, group-scale multiply, multiply-accumulate)",
        "inst/weight", "[M] count of the kernel's structure; engines fit or count their own")
    fp8_ops: float = param(
        2.0, "CUDA-core instructions per fp8 weight of the dequantising GEMV (convert, "
        "multiply-accumulate)", "inst/weight",
        "[M] count of the kernel's structure; engines fit or count their own")

    def ops_per_weight(self, weight_dtype: str) -> float:
        """The dequantising kernel's CUDA-core instructions per weight of ``weight_dtype``
        (0 for bf16/fp16 weights: no dequantisation; the GEMV's own multiply-accumulate
        is in ``efficiency.gemv``): the 4-bit formats (int4, and the block formats q4_0,
        q4_1 and mxfp4) at the int4 count, the 8-bit integer ones (int8, q8_0) at the int8 one,
        fp8 at its own. The weights stream at the GEMV class's rate; these instructions
        bound the kernel on the SMs when the GPU's CUDA-core rate per byte of bandwidth
        is low (A100: about 5 instructions per byte; RTX 4090: about 40)."""
        return {"int8": self.int8_ops, "q8_0": self.int8_ops,
                "int4": self.int4_ops, "q4_0": self.int4_ops, "q4_1": self.int4_ops,
                "mxfp4": self.int4_ops,
                "fp8": self.fp8_ops}.get(weight_dtype, 0.0)

    def side_bytes(self, weight_dtype: str, K: int, N: int) -> float:
        """Bytes of scales and zeros a K x N weight of ``weight_dtype`` carries beside its
        elements. Block formats (q4_0, q4_1, q8_0, mxfp4) carry none here: their block scales
        are in their bytes per element (``workloads.schema.DTYPE_BYTES``)."""
        if weight_dtype == "int4":
            return math.ceil(K / self.group_size) * N * (self.scale_bytes + self.zero_bytes)
        if weight_dtype == "int8":
            groups = 1 if self.int8_group == 0 else math.ceil(K / self.int8_group)
            return groups * N * self.scale_bytes
        if weight_dtype == "fp8":
            return self.scale_bytes  # one per-tensor scale
        return 0.0


@dataclass(frozen=True)
class EngineConfig:
    """The serving engine that runs the model: which traced ops fuse into one kernel,
    how kernels launch in each phase, and the host and sampler work of every step.
    Presets: ``codesign/presets/engines/<name>.toml`` (``--engine NAME``)."""

    name: str = param("vllm", "engine profile these values come from", "",
                      "codesign/presets/engines/")
    concat: tuple[str, ...] = param(
        ("gemm", "rope", "copy:*cache_write"),
        "PATTERN (kind or kind:name-glob[,glob]): adjacent ops of one layer that match the "
        "same pattern run as one kernel; GEMMs must share their input (same M, K, G and "
        "dtypes) and concatenate their outputs (QKV, gate+up)", "",
        "the engine preset")
    absorb: tuple[str, ...] = param(
        ("elementwise:add>norm",),
        "RULE 'X>Y': an op matching X runs inside the nearest op matching Y of its layer "
        "(the layer body repeats, so the search wraps): no launch of its own, its bytes "
        "stream inside Y's kernel", "", "the engine preset")
    prefill_launch: str = param("eager", "launch mode of prefill passes: eager or graph",
                                "", "the engine preset")
    decode_launch: str = param("graph", "launch mode of decode passes: eager or graph", "",
                               "the engine preset")
    step_us: float = param(
        0.0, "host time of one engine step beside the kernels (scheduler, input "
        "preparation, output processing): the a of a + b x batch", "us", "the engine preset")
    prefill_step_us: float = param(
        0.0, "host time of a prefill step beside the kernels and the step's a + b x batch "
        "(context-phase setup: padding, masks, the first token's output processing)", "us",
        "the engine preset")
    step_us_per_seq: float = param(
        0.0, "host time per sequence in the batch of one step: the b of a + b x batch",
        "us", "the engine preset")
    host_overlap: float = param(
        0.0, "share of the step's host time that runs while the GPU executes kernels "
        "(async scheduling: the scheduler and input preparation of step n+1 run while "
        "step n's kernels do); only the part longer than the step's GPU time, and the "
        "share not overlapped, leave the GPU idle", "",
        "the engine preset (0: host and GPU take turns)", UNIT_INTERVAL)
    sampler_passes: float = param(
        0.0, "DRAM passes over the batch x vocabulary FP32 logits of the sampler "
        "(softmax, top-k/top-p sort, penalties)", "", "the engine preset")
    sampler_kernels: int = param(
        0, "kernels the sampler launches per step", "kernels", "the engine preset")

    def check(self) -> None:
        for mode in (self.prefill_launch, self.decode_launch):
            if mode not in ENGINE_LAUNCH_MODES:
                raise CodesignError(f"engine launch mode {mode!r} is not one of: "
                                    f"{', '.join(ENGINE_LAUNCH_MODES)}")
        for rule in self.absorb:
            if rule.count(">") != 1:
                raise CodesignError(f"engine.absorb rule {rule!r} is not 'X>Y' "
                                    "(e.g. elementwise:add>norm)")

    def launch_mode(self, phase: str) -> str:
        return self.prefill_launch if phase == "prefill" else self.decode_launch


@dataclass(frozen=True)
class PowerConfig:
    """Board power (codesign.gpu.power): idle, plus a dynamic part while kernels run by
    tensor-core and DRAM utilisation, capped at the power limit."""

    tdp_w: float = param(700.0, "board power limit by design (TDP / TGP)", "W",
                         "per preset: gpu.md §1 TDP/TGP column", POSITIVE)
    limit_w: float = param(0.0, "power limit set by the operator (nvidia-smi -pl); 0: the "
                           "TDP. gpt-fast's A100 runs ran at 330 W", "W",
                           "per run (pytorch-labs/gpt-fast README: A100 80GB power limited "
                           "to 330 W)", NON_NEGATIVE)
    idle_w: float = param(70.0, "board power with no kernel running (clocks up, HBM "
                          "refreshing)", "W", "assumed: about 10% of TDP", NON_NEGATIVE)
    active_w: float = param(175.0, "added while kernels occupy every SM, before their work "
                            "(SM clocks, schedulers, L2, NoC); a kernel on a share of the "
                            "SMs adds that share", "W", "assumed: 25% of TDP",
                            NON_NEGATIVE)
    dram_technology: str = param("hbm3", "DRAM technology (energy per bit: "
                                 "codesign.silicon.DRAM_PJ_PER_BIT)", "", "per preset")
    tensor_w: float = param(
        0.0, "added by the tensor cores at full utilisation and the unthrottled clock; 0: "
        "derived, TDP - idle_w - active_w (a dense GEMM at full utilisation reaches the "
        "TDP)", "W", "per preset: fitted where measured (validate.POWER_FITS), else derived",
        NON_NEGATIVE)
    clock_exponent: float = param(
        3.0, "k: the SM-clocked power (active_w, tensor_w) scales as (f / f_max)^k when the "
        "power limiter lowers the SM clock f", "",
        "assumed: CMOS dynamic power a C V^2 f (Mei, Wang & Chu, 'A survey and measurement "
        "study of GPU DVFS on energy conservation', Digital Communications and Networks "
        "2017, doi:10.1016/j.dcan.2016.10.001, §2) with the voltage lowered in proportion "
        "to the clock along the DVFS curve: k = 3 (k = 1 if the voltage stayed fixed)",
        POSITIVE)
    window_ms: float = param(
        100.0, "the power limiter's averaging window: work that runs back to back for "
        "longer is held to the cap on average by lowering the SM clock; shorter bursts run "
        "at the full clock", "ms",
        "assumed inside the H200 data's bounds (gpu-h200 suite): a ~7 ms burst of the "
        "gate_proj GEMM runs at the unthrottled time, the same kernel back to back for 3 s "
        "throttles (1470 MHz of 1980)", POSITIVE)
    min_clock_mhz: float = param(
        345.0, "the lowest SM clock the limiter can set (the floor of the throttled clock)",
        "MHz", "nvidia-smi on the H200 with no CUDA context: 345 MHz (the source of "
        "measured-h200-power-idle-clocked)", POSITIVE)

    @property
    def cap_w(self) -> float:
        return self.limit_w if 0 < self.limit_w < self.tdp_w else self.tdp_w

    @property
    def full_tensor_w(self) -> float:
        """Added by the tensor cores at full utilisation: ``tensor_w``, or where it is 0 what
        a dense GEMM at its peak adds to reach the TDP."""
        if self.tensor_w > 0:
            return self.tensor_w
        return max(self.tdp_w - self.idle_w - self.active_w, 0.0)


@dataclass(frozen=True)
class GPUConfig:
    """An Nvidia-style GPU: SMs, memory, kernel efficiencies and launch costs."""

    sm: SMConfig = section(SMConfig, "streaming multiprocessors")
    memory: MemoryConfig = section(MemoryConfig, "DRAM and L2")
    efficiency: EfficiencyConfig = section(EfficiencyConfig, "kernel efficiencies")
    launch: LaunchConfig = section(LaunchConfig, "kernel launch overhead")
    gemm: GemmConfig = section(GemmConfig, "tiled GEMM (cuBLAS-like)")
    attention: AttentionConfig = section(AttentionConfig, "attention kernels")
    linear_attention: LinearAttentionConfig = section(LinearAttentionConfig, "GDN")
    elementwise: ElementwiseConfig = section(ElementwiseConfig, "streaming")
    quant: QuantConfig = section(QuantConfig, "quantised weight formats")
    engine: EngineConfig = section(EngineConfig, "serving engine (--engine NAME)")
    power: PowerConfig = section(PowerConfig, "board power (codesign.gpu.power)")

    def check(self) -> None:
        from codesign.silicon import dram_pj_per_bit
        dram_pj_per_bit(self.power.dram_technology)  # one line naming the valid ones
        if self.attention.implementation == "fa3" and self.sm.arch != "hopper":
            raise CodesignError(
                f"attention.implementation 'fa3' runs on Hopper only; this GPU is "
                f"sm.arch = {self.sm.arch!r}: choose fa2, cudnn, triton or standard")

    # ---- derived peaks -------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        return self.sm.clock_mhz * 1e6

    def tensor_flops(self, dtype: str) -> float:
        """Dense tensor-core peak (FLOP/s) for an operand dtype."""
        per_clk = {
            "fp8": self.sm.tc_fp8_flops_per_clk or self.sm.tc_fp16_flops_per_clk,
            "int8": self.sm.tc_int8_ops_per_clk or self.sm.tc_fp16_flops_per_clk,
            "fp4": self.sm.tc_fp4_flops_per_clk or self.sm.tc_fp16_flops_per_clk,
            "fp32": self.sm.tc_fp16_flops_per_clk / 2,  # TF32 tensor cores: half FP16 rate
        }.get(dtype, self.sm.tc_fp16_flops_per_clk)
        return self.sm.count * self.clock_hz * per_clk

    @property
    def fp32_flops(self) -> float:
        return self.sm.count * self.clock_hz * self.sm.fp32_flops_per_clk

    @property
    def exp_per_s(self) -> float:
        return self.sm.count * self.clock_hz * self.sm.sfu_exp_per_clk

    @property
    def dram_bps(self) -> float:
        return self.memory.dram_gbps * 1e9

    @property
    def capacity_bytes(self) -> float:
        """DRAM capacity in bytes (datasheet gigabytes are decimal)."""
        return self.memory.capacity_gb * 1e9

    @property
    def l2_bps(self) -> float:
        return self.memory.l2_gbps * 1e9
