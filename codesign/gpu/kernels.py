"""How a GPU runs each op: analytical kernel models, one function per kernel family.

Every function returns the op's kernels as a list of :class:`Kernel` (GPU busy time of
each, without launch overhead; the model adds that). A kernel's time is the largest of
its compute, DRAM and L2 terms, plus the DRAM latencies its structure cannot hide:

- compute: the work an SM must do for its share of the CTAs (tile and wave quantisation:
  ``ceil(ctas / SMs)`` CTAs on the busiest SM), at the SM's peak times the main-loop
  efficiency;
- DRAM: bytes over ``min(bandwidth x streaming efficiency, busy SMs x per-SM bandwidth)``;
- L2: operand tiles re-read by the CTAs, over the L2 bandwidth;
- latency: ``round_trips x memory.latency_ns`` per wave of resident CTAs.

The constants come from :mod:`codesign.gpu.config`, each with its source there.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from codesign.gpu.config import AttentionImpl, GPUConfig
from workloads.schema import DTYPE_BYTES

# Streaming ops whose elements each need one special-function evaluation (exp, rsqrt...).
SFU_OPS = frozenset({
    "softmax", "silu", "swiglu", "sigmoid", "softplus", "gelu", "exp", "log", "rsqrt",
    "sqrt", "cos", "sin", "reciprocal", "div", "softmax_topk", "gated_rmsnorm",
})


@dataclass(frozen=True)
class Kernel:
    """One kernel's GPU time and what bounds it."""

    name: str
    seconds: float
    bound: str  # "compute", "memory" or "latency"
    sm_share: float = 1.0  # the share of the SMs its CTAs occupy (at most 1)


def _elem(dtype: str) -> float:
    return DTYPE_BYTES.get(dtype, 2.0)


def t0_seconds(cfg: GPUConfig, ctas: float, efficiency: float | None = None) -> float:
    """The fixed cost of a dependent launch of a kernel of ``ctas`` CTAs: ``launch.t0_us``
    ramps the DRAM stream up to the kernel class's rate (``efficiency`` of the bandwidth,
    default the streaming one) over the SMs and drains it, so a kernel whose CTAs can draw
    only a fraction of that rate (``memory.sm_max_gbps`` each) pays that fraction of it:
    a one-CTA kernel next to none (its first DRAM round trip is on the SMs' timeline,
    ``latency``), a kernel that reaches its class's rate all of it."""
    eta = cfg.efficiency.dram_stream if efficiency is None else efficiency
    busy = max(1.0, min(float(ctas), float(cfg.sm.count)))
    rate = busy * cfg.memory.sm_max_gbps / (cfg.memory.dram_gbps * eta)
    return cfg.launch.t0_us * 1e-6 * min(1.0, rate)


def _pick(cfg: GPUConfig, name: str, compute: float, memory: float,
          latency: float, ctas: float, efficiency: float | None = None) -> Kernel:
    """Combine the terms. The SMs' timeline is their compute plus the DRAM latencies they
    wait out (prologue loads, epilogue stores); the DRAM's timeline is the fixed cost of
    a dependent launch (:func:`t0_seconds`: ramp-up and tail of the ``ctas``' stream at
    the class's ``efficiency``) and then the bytes over the achieved bandwidth, kept busy
    by other CTAs meanwhile. The kernel takes the longer timeline: a memory-bound kernel
    that fills the SMs costs t0 + bytes / (eta x BW)."""
    sm_path = compute + latency
    dram_path = t0_seconds(cfg, ctas, efficiency) + memory
    share = max(1.0, min(float(ctas), float(cfg.sm.count))) / cfg.sm.count
    if dram_path >= sm_path:
        # the DRAM timeline wins: its bytes bound it, or its fixed cost when that is larger
        return Kernel(name, dram_path, "memory" if memory >= dram_path - memory else "latency",
                      share)
    return Kernel(name, sm_path, "latency" if latency > compute else "compute", share)


def dram_seconds(cfg: GPUConfig, nbytes: float, ctas: float,
                 efficiency: float | None = None) -> float:
    """Time to stream ``nbytes`` from/to DRAM with ``ctas`` CTAs spread over the SMs, at
    ``efficiency`` of the bandwidth (the kernel class's eta; default the streaming one)."""
    if nbytes <= 0:
        return 0.0
    eta = cfg.efficiency.dram_stream if efficiency is None else efficiency
    busy = max(1.0, min(float(ctas), float(cfg.sm.count)))
    bw = min(cfg.dram_bps * eta, busy * cfg.memory.sm_max_gbps * 1e9)
    return nbytes / bw


def latency_seconds(cfg: GPUConfig, round_trips: float) -> float:
    return round_trips * cfg.memory.latency_ns * 1e-9


# ---- GEMM ------------------------------------------------------------------------------

def _tile_dims(tile: str) -> tuple[int, int]:
    m, n = tile.lower().split("x")
    return int(m), int(n)


def weight_stream(cfg: GPUConfig, K: int, N: int, G: int, weight_dtype: str
                  ) -> tuple[float, float]:
    """The bytes of a G x K x N weight in ``weight_dtype`` (elements, group scales and
    zeros) and the fraction of DRAM bandwidth a GEMV streams them at (the GEMV class's,
    whatever the format: dequantising costs instructions on the SMs, :func:`gemm`)."""
    nbytes = G * (K * N * _elem(weight_dtype) + cfg.quant.side_bytes(weight_dtype, K, N))
    return nbytes, cfg.efficiency.gemv


def gemm(cfg: GPUConfig, M: int, N: int, K: int, G: int = 1, dtype: str = "bf16",
         weight_dtype: str = "", min_flops: float = 0.0, min_bytes: float = 0.0,
         name: str = "gemm") -> Kernel:
    """cuBLAS-like tiled GEMM ``G x [M,K] @ [K,N]``: the best tile and split-K over the
    candidates (the heuristic picks the fastest), with tile and wave quantisation.

    ``weight_dtype`` (int8/int4/fp8 weight-only quantisation) shrinks the B operand's
    bytes and adds its group scales and zeros (``cfg.quant``); the math runs at the
    activation dtype's rate (dequantised into its MMA), except MXFP4 weights on a GPU with
    FP4 tensor cores (Blackwell), which multiply natively at the FP4 rate (gpt-oss on
    B200; on Hopper they are dequantised to BF16). FP32 activations run on CUDA cores.
    The weights stream at the GEMV class's efficiency (``efficiency.gemv``), the
    activations at the streaming one. A quantised weight is dequantised in registers by
    every CTA that reads its tile: ``quant.ops_per_weight`` CUDA-core instructions per
    weight, beside the CTA's MMAs (other units: the longer of the two binds). Where the
    GPU's CUDA-core rate per byte of bandwidth is low (A100) that binds a GEMV.
    """
    G = max(G, 1)
    if min(M, N, K) <= 0:
        nbytes = max(min_bytes, 0.0)
        return _pick(cfg, name, 0.0, dram_seconds(cfg, nbytes, 1),
                     latency_seconds(cfg, cfg.gemm.round_trips), 1)
    a = _elem(dtype)
    w = _elem(weight_dtype) if weight_dtype else a
    mma = "fp4" if weight_dtype == "mxfp4" and cfg.sm.tc_fp4_flops_per_clk else dtype
    if dtype == "fp32":
        rate_sm = cfg.clock_hz * cfg.sm.fp32_flops_per_clk * cfg.efficiency.fp32_mainloop
    else:
        rate_sm = (cfg.tensor_flops(mma) / cfg.sm.count) * cfg.efficiency.gemm_mainloop
    smem_bw = cfg.sm.smem_bytes_per_clk * cfg.clock_hz
    # dequantisation: instructions per weight at the SM's FP32 instruction rate (an FMA
    # is 2 FLOP and one instruction); none for weights the tensor cores take natively
    native = dtype != "fp32" and mma == "fp4"
    dequant_s = 0.0 if native else (cfg.quant.ops_per_weight(weight_dtype) / (
        cfg.clock_hz * cfg.sm.fp32_flops_per_clk / 2 * cfg.efficiency.fp32_mainloop))
    # a weight operand streams at the GEMV class's rate; an activation B operand
    # (batched attention GEMMs) at the streaming one
    weights, weight_eta = (weight_stream(cfg, K, N, G, weight_dtype) if weight_dtype
                           else (float(G * K * N * _elem(dtype)), cfg.efficiency.dram_stream))
    kt = cfg.gemm.k_tile
    best: Kernel | None = None
    for tile in cfg.gemm.tiles:
        tm, tn = _tile_dims(tile)
        stage = (tm + tn) * kt * a
        if 2 * stage > cfg.sm.smem_kb * 1024:  # no double buffering: the tile does not fit
            continue
        tiles_mn = math.ceil(M / tm) * math.ceil(N / tn) * G
        split = 1
        while split <= cfg.gemm.max_split_k:
            k_per = math.ceil(math.ceil(K / split) / kt) * kt
            ctas = tiles_mn * split
            # as many stages as shared memory holds (and the K loop can use), then as many
            # resident CTAs as fit: their prologues and epilogues overlap each other
            stages = max(2, min(cfg.gemm.stages, k_per // kt,
                                int(cfg.sm.smem_kb * 1024 // stage)))
            occ = max(1, min(cfg.sm.max_ctas, int(cfg.sm.smem_kb * 1024 // (stages * stage))))
            # tiles under 64 rows cannot use the 64-row warpgroup MMA: mma.sync instead
            rate = rate_sm * (cfg.sm.mma_sync_fraction
                              if tm < 64 and cfg.sm.async_mma and dtype != "fp32" else 1.0)
            t_mma = 2.0 * tm * tn * k_per / rate
            t_smem = (tm + tn) * k_per * a / smem_bw  # operand reads from shared memory
            t_dequant = min(tn, N) * k_per * dequant_s  # the CTA's weight tile
            t_cta = max(t_mma, t_smem, t_dequant)
            per_sm = math.ceil(ctas / cfg.sm.count)  # busiest SM's CTAs (wave quantisation)
            compute = max(per_sm * t_cta, min_flops / (rate * cfg.sm.count))
            partial = 2.0 * G * M * N * 4 * split if split > 1 else 0.0  # FP32 partials
            act = max(G * (M * K * a + M * N * a), min_bytes - weights) + partial
            # operand panels each CTA reads through L2 (rows past M / N are zero-filled)
            l2 = ctas * (min(tm, M) * a + min(tn, N) * w) * k_per
            waves = math.ceil(ctas / (cfg.sm.count * occ))
            k = _pick(cfg, name, compute,
                      max(dram_seconds(cfg, act, ctas)
                          + dram_seconds(cfg, weights, ctas, weight_eta),
                          l2 / (cfg.l2_bps * cfg.efficiency.l2_stream)),
                      latency_seconds(cfg, cfg.gemm.round_trips) * waves, ctas,
                      weight_eta if weights > act else None)
            if best is None or k.seconds < best.seconds:
                best = k
            if K / (split * 2) < kt:
                break
            split *= 2
    if best is None:  # no tile fits in shared memory: cannot happen with sane presets
        raise ValueError(f"no GEMM tile fits {cfg.sm.smem_kb} KiB of shared memory")
    return best


# ---- attention ---------------------------------------------------------------------------

def _score_seconds(cfg: GPUConfig, impl: AttentionImpl, D: int, Dv: int,
                   dtype: str) -> float:
    """SM-seconds one attention score costs in a fused kernel's main loop."""
    native = 1.0 if (impl.async_mma and cfg.sm.async_mma) else cfg.sm.mma_sync_fraction
    rate_sm = (cfg.tensor_flops(dtype) / cfg.sm.count) * cfg.efficiency.gemm_mainloop \
        * impl.mma_efficiency * native * impl.hdim_efficiency(max(D, Dv))
    t_mma = 2.0 * (D + Dv) / rate_sm
    t_softmax = _softmax_seconds(cfg)
    return t_mma + t_softmax - impl.softmax_overlap * min(t_mma, t_softmax)


def _softmax_seconds(cfg: GPUConfig) -> float:
    """SM-seconds of one element of an online softmax: an exp on the SFU and
    ``attention.softmax_fp32_ops`` FP32 instructions (rescale, running max and sum). An
    attention sink (GPT-OSS) is one such element per query row and head, with no MMA."""
    # FP32 instruction rate = FLOP rate / 2 (an FMA is 2 FLOP, every instruction one issue)
    return 1.0 / (cfg.clock_hz * cfg.sm.sfu_exp_per_clk) + \
        cfg.attention.softmax_fp32_ops / (cfg.clock_hz * cfg.sm.fp32_flops_per_clk / 2)


def _kv_iterations(Sq: int, Skv: int, bm: int, bn: int, causal: bool,
                   window: int = 0) -> np.ndarray:
    """Main-loop iterations of each query tile (causal tiles stop at the diagonal; with a
    sliding ``window`` they also start at the first KV tile the tile's first query sees,
    as FlashAttention-2's ``window_size`` does)."""
    n_q = math.ceil(Sq / bm)
    if not causal:
        return np.full(n_q, math.ceil(Skv / bn), dtype=np.int64)
    q0 = np.arange(n_q, dtype=np.int64) * bm  # each tile's first query
    ends = np.minimum(q0 + bm, Sq) + (Skv - Sq)
    last = -(-np.maximum(ends, 1) // bn)
    first = np.maximum(q0 + (Skv - Sq) - window + 1, 0) // bn if window > 0 else 0
    return np.maximum(1, last - first)


def flash_attention(cfg: GPUConfig, B: int, Hq: int, Hkv: int, Sq: int, Skv: int, D: int,
                    causal: bool, dtype: str = "bf16", impl_name: str | None = None,
                    min_flops: float = 0.0, min_bytes: float = 0.0,
                    window: int = 0, sinks: bool = False) -> list[Kernel]:
    """FlashAttention-style fused prefill: one CTA per (batch, head, query tile) streams
    K/V tiles; S never leaves the SM. Dv = D (the trace carries one head dim). A sliding
    ``window`` (> 0) skips the KV tiles before it, and keys before every query's window
    (a prefill behind a longer cache) are never read. Attention ``sinks`` (GPT-OSS) are one
    more term per query row in the softmax denominator, folded into the epilogue's
    normalisation as FlashAttention-3's and vLLM's sink kernels do: each CTA adds one
    softmax element per row (:func:`_softmax_seconds`) and the Hq sink logits are read.

    The tile is the library's own for this head dim and GPU (FA2, FA3:
    :mod:`codesign.gpu.attention_tiles`), and ``occ`` of its CTAs share an SM, as many as
    its shared memory and registers let (FA2 on H100: two at every head dim; FA3: one).
    The main-loop cost per iteration is the SM's (its units' rates, FA2's MMA and softmax
    serialised): the FA3 paper's FA2 series, which runs two CTAs per SM, sits at that
    serial rate (suite gpu, attn-fa2-h100-hdim128-*), so co-resident CTAs add no rate and
    divide it: each of the occ advances at 1/occ of it. The grid is list-scheduled over
    SMs x occ slots, each at that 1/occ rate, also for a CTA left alone on its SM in the
    tail: the library sizes the tile so that occ CTAs fill the SM, one alone does not (FA2:
    "64 x 64 (96KB smem) since then we can get 2 CTAs per SM"; its 4 warps put one warp
    on each scheduler, whose softmax shuffles and barriers then stall the tensor cores).
    That is a lower bound on the lone CTA's rate (processor sharing, the lone CTA at the
    full rate, is the other bound; it is not monotone in the SM count). A grid too small
    to give every SM occ CTAs is spread one SM at a time by the block scheduler, so its
    SMs each share among ceil(CTAs / SMs) (a grid of at most one CTA per SM runs each at
    the full rate). The prologue and epilogue round trips are exposed once per wave of
    SMs x occ CTAs."""
    impl = cfg.attention.impl(impl_name)
    e = _elem(dtype)
    Hkv = max(Hkv, 1)
    tile, occ = impl.tile(cfg.sm, D, causal, window)
    bm, bn = tile.block_m, tile.block_n
    iters = _kv_iterations(Sq, Skv, bm, bn, causal, window)
    ctas = B * Hq * len(iters)
    # the block scheduler spreads a grid over the SMs first: one that fills fewer than
    # occ per SM shares each SM among ceil(CTAs / SMs)
    occ = min(occ, math.ceil(ctas / cfg.sm.count))
    slots = cfg.sm.count * occ  # CTAs resident at once over the GPU
    # the SM's time per main-loop iteration; each of its occ resident CTAs advances at
    # 1/occ of that rate, so a slot (one resident CTA) takes occ x t_iter per iteration
    t_iter = bm * bn * _score_seconds(cfg, impl, D, D, dtype)
    total_iters = float(iters.sum()) * B * Hq
    compute = busiest_sm_iterations(iters, B * Hq, slots, impl.longest_first) * occ * t_iter
    waves = math.ceil(ctas / slots)
    if sinks:  # the epilogue's sink term, block_m rows per CTA, at the slot's rate
        compute += waves * occ * bm * _softmax_seconds(cfg)
    peak = cfg.tensor_flops(dtype) * cfg.efficiency.gemm_mainloop
    compute = max(compute, min_flops / peak)
    keys = window_keys(Sq, Skv, window) if causal else Skv
    dram = max(e * (2 * B * Hq * Sq * D + 2 * B * Hkv * keys * D + (Hq if sinks else 0)),
               min_bytes)
    l2 = total_iters * bn * 2 * D * e  # every CTA streams its K and V tiles
    return [_pick(cfg, "flash_attention", compute,
                  max(dram_seconds(cfg, dram, ctas),
                      l2 / (cfg.l2_bps * cfg.efficiency.l2_stream)),
                  latency_seconds(cfg, cfg.attention.round_trips) * waves, ctas)]


# Grids up to this many CTAs are list-scheduled CTA by CTA; past it (over 240 waves on
# 132 SMs) each SM's share is whole CTAs of average length, within one CTA of the schedule
LIST_SCHEDULE_MAX_CTAS = 1 << 15


def busiest_sm_iterations(iters: np.ndarray, repeats: int, sms: int,
                          longest_first: bool = False) -> float:
    """Main-loop iterations of the busiest slot when ``repeats`` copies of the query tiles'
    ``iters`` (one per (batch, head)) are dispatched each to the first of ``sms`` slots
    that frees (greedy list scheduling; a slot is one resident CTA: the SMs times the CTAs
    each holds, :func:`flash_attention`): in grid order, query tile fastest
    (FlashAttention-2's grid is (m_block, batch, head): the hardware block scheduler's
    order), or ``longest_first`` (an LPT tile scheduler: FlashAttention-3's causal one).
    Causal tiles differ in length, so in grid order a long tile dispatched late runs on
    while the other SMs idle: at batch 1, 16 heads and 2k tokens (256 CTAs on 132 SMs)
    the busiest SM runs 1.6x the average share."""
    ctas = len(iters) * repeats
    if ctas > LIST_SCHEDULE_MAX_CTAS:
        return max(math.ceil(ctas / sms) * float(iters.mean()), float(iters.max()))
    order = np.repeat(np.sort(iters)[::-1], repeats) if longest_first else \
        np.tile(iters, repeats)
    free = [0] * min(sms, ctas)  # each SM's finish time, a heap
    for work in order.tolist():
        heapq.heapreplace(free, free[0] + work)
    return float(max(free))


def window_keys(Sq: int, Skv: int, window: int) -> int:
    """Keys some query of a causal row sees: with a sliding ``window`` > 0 the last
    Sq + window - 1 (the first query's window and the new tokens), else all Skv."""
    return min(Skv, Sq + window - 1) if window > 0 else Skv


def decode_attention(cfg: GPUConfig, B: int, Hq: int, Hkv: int, Sq: int, Skv: int, D: int,
                     dtype: str = "bf16", impl_name: str | None = None,
                     min_flops: float = 0.0, min_bytes: float = 0.0,
                     window: int = 0, sinks: bool = False) -> list[Kernel]:
    """Split-KV (flash-decoding) attention for few new queries: CTAs over (batch, KV head,
    KV chunk) stream the cache once; a second kernel combines the chunks' partial outputs.
    A sliding ``window`` > 0 streams only the keys inside it (:func:`window_keys`).
    ``sinks`` (GPT-OSS): one more softmax element per query row and head, in the combine
    kernel when there is one (it merges the chunks' denominators), else in the main
    kernel's epilogue; the Hq sink logits are read."""
    impl = cfg.attention.impl(impl_name)
    e = _elem(dtype)
    Hkv = max(Hkv, 1)
    Skv = window_keys(Sq, Skv, window)
    bn = cfg.attention.decode_block_n
    splits = max(1, math.ceil(Skv / bn))
    ctas = B * Hkv * splits
    rows = Sq * max(1, Hq // Hkv)  # query rows sharing one KV head (GQA group)
    padded = math.ceil(rows / 16) * 16  # MMA tiles are 16 rows tall (mma.sync m16)
    t_cta = padded * bn * _score_seconds(cfg, impl, D, D, dtype)
    if sinks and splits == 1:
        t_cta += rows * _softmax_seconds(cfg)
    compute = math.ceil(ctas / cfg.sm.count) * t_cta
    compute = max(compute, min_flops / (cfg.tensor_flops(dtype) * cfg.efficiency.gemm_mainloop))
    partial = B * Hq * Sq * splits * (D + 2) * 4.0 if splits > 1 else 0.0
    kv = e * 2 * B * Hkv * Skv * D  # the KV-cache-read class: efficiency.kv_read
    sink_bytes = Hq * e if sinks else 0.0
    rest = max(e * 2 * B * Hq * Sq * D, min_bytes - kv) + partial + sink_bytes
    memory = dram_seconds(cfg, kv, ctas, cfg.efficiency.kv_read) + \
        dram_seconds(cfg, rest, ctas)
    main = _pick(cfg, "splitkv_attention", compute, memory,
                 latency_seconds(cfg, cfg.attention.round_trips), ctas,
                 cfg.efficiency.kv_read if kv > rest else None)
    if splits == 1:
        return [main]
    # a sink: one exp and softmax_fp32_ops FP32 instructions (2 FLOP each at the FMA rate
    # stream() divides by) per query row and head
    sink_rows = float(B * Hq * Sq) if sinks else 0.0
    combine = stream(cfg, "splitkv_combine", partial + B * Hq * Sq * D * e + sink_bytes,
                     B * Hq * Sq * D * splits + sink_rows * 2 * cfg.attention.softmax_fp32_ops,
                     ctas=B * Hq * Sq, exps=sink_rows)
    return [main, combine]


def standard_attention(cfg: GPUConfig, B: int, Hq: int, Hkv: int, Sq: int, Skv: int,
                       D: int, causal: bool, dtype: str = "bf16",
                       sinks: bool = False) -> list[Kernel]:
    """Eager PyTorch attention (the FlashAttention benchmark's ``attention_pytorch``):
    layout copies of q, k, v; a batched GEMM writing the S x S scores to DRAM; a softmax
    kernel over them (plus a masking pass when causal); a batched GEMM with V. A sliding
    window is one more masked region of the same full score matrix (no work saved).
    ``sinks``: GPT-OSS's eager_attention_forward (transformers modeling_gpt_oss.py)
    concatenates the sink column to the scores (a copy), subtracts the row max (a
    reduction and an elementwise pass) and runs the softmax over Skv + 1 columns."""
    e = _elem(dtype)
    Hkv = max(Hkv, 1)
    kernels = [
        stream(cfg, "copy_q", 2.0 * B * Hq * Sq * D * e, 0, ctas=None),
        stream(cfg, "copy_k", e * B * (Hkv + Hq) * Skv * D, 0, ctas=None),
        stream(cfg, "copy_v", e * B * (Hkv + Hq) * Skv * D, 0, ctas=None),
        gemm(cfg, Sq, Skv, D, B * Hq, dtype, name="bmm_qk"),
    ]
    scores = float(B) * Hq * Sq * Skv
    if causal:
        kernels.append(stream(cfg, "mask", 2.0 * scores * e, scores, ctas=None))
    if sinks:
        scores += float(B) * Hq * Sq  # the sink column
        kernels += [stream(cfg, "cat_sinks", 2.0 * scores * e, 0, ctas=None),
                    stream(cfg, "row_max", scores * e, scores, ctas=None),
                    stream(cfg, "sub_max", 2.0 * scores * e, scores, ctas=None)]
    softmax_bw = cfg.dram_bps * cfg.attention.eager_softmax_efficiency
    sm_mem = max(2.0 * scores * e / softmax_bw, dram_seconds(cfg, 2.0 * scores * e, scores))
    rows = float(B) * Hq * Sq
    sm_compute = scores / cfg.exp_per_s + scores * cfg.attention.softmax_fp32_ops / (
        cfg.fp32_flops / 2 * cfg.efficiency.fp32_mainloop) + \
        rows * cfg.attention.eager_softmax_row_ns * 1e-9 / cfg.sm.count
    kernels.append(_pick(cfg, "softmax", sm_compute, sm_mem,
                         latency_seconds(cfg, cfg.elementwise.round_trips), rows))
    kernels.append(gemm(cfg, Sq, D, Skv, B * Hq, dtype, name="bmm_pv"))
    return kernels


# ---- Gated DeltaNet ----------------------------------------------------------------------

def chunked_delta_rule(cfg: GPUConfig, B: int, H: int, Sq: int, D: int, Dv: int, chunk: int,
                       dtype: str = "bf16", min_flops: float = 0.0,
                       min_bytes: float = 0.0) -> list[Kernel]:
    """Chunked gated delta rule as flash-linear-attention runs it: parallel intra-chunk
    GEMMs (batched over every chunk of every head), one sequential pass over the chunks
    that carries the D x Dv state, and the output GEMMs. Inputs bf16 (fla's tl.dot)."""
    cd = "bf16" if dtype == "fp32" else dtype  # fla keeps q, k, v in bf16 on the GPU
    e = _elem(cd)
    C = chunk
    nC = math.ceil(Sq / C)
    G = B * H * nC
    tokens = B * H * Sq
    bv = min(cfg.linear_attention.state_block_v, Dv)
    kernels = [
        # l2norm of q and k, gate cumsum within chunks: one streaming pass
        stream(cfg, "prep", tokens * (2 * D * e * 2 + 8.0), tokens * 2 * D * 3, ctas=None),
        gemm(cfg, C, C, D, G, cd, name="kkt"),             # A = (beta k) k^T, decayed
        gemm(cfg, C, C, C, G, cd, name="solve_tril"),      # (I + A)^-1 by blocked substitution
        gemm(cfg, C, D + Dv, C, G, cd, name="wy"),         # w = A k_beta, u = A v_beta
    ]
    # sequential state pass: per CTA (sequence, head, BV value columns), nC dependent steps
    ctas = B * H * math.ceil(Dv / bv)
    rate_sm = cfg.tensor_flops(cd) / cfg.sm.count * cfg.efficiency.gemm_mainloop
    step_flops = 2.0 * C * D * bv * 2  # v_new = u - w S ; S += k^T v_new
    step_smem = (2 * C * D + C * bv) * e  # w, k, u tiles through shared memory
    t_step = max(step_flops / rate_sm, step_smem / (cfg.sm.smem_bytes_per_clk * cfg.clock_hz))
    t_step += latency_seconds(cfg, cfg.linear_attention.state_round_trips)
    state_bytes = B * H * nC * D * Dv * e + B * H * Sq * (2 * D + Dv) * e  # h per chunk out
    kernels.append(_pick(cfg, "state_pass", math.ceil(ctas / cfg.sm.count) * nC * t_step,
                         dram_seconds(cfg, state_bytes, ctas),
                         latency_seconds(cfg, cfg.gemm.round_trips), ctas))
    # output: o = q S + (q k^T * decay) v_new, batched over chunks
    out = gemm(cfg, C, Dv, D + C, G, cd, name="output",
               min_flops=min_flops / 2, min_bytes=min_bytes)
    kernels.append(out)
    return kernels


def recurrent_delta_rule(cfg: GPUConfig, B: int, H: int, Sq: int, D: int, Dv: int,
                         min_flops: float = 0.0, min_bytes: float = 0.0) -> list[Kernel]:
    """Token-by-token gated delta rule (decode): the FP32 D x Dv state of each head is
    read, decayed, updated with k (x) delta and written back, once per step."""
    bv = min(cfg.linear_attention.state_block_v, Dv)
    ctas = B * H * math.ceil(Dv / bv)
    state = B * H * D * Dv * 4.0
    nbytes = max(2 * state + B * H * Sq * (2 * D + 2 * Dv + 2) * 2.0, min_bytes)
    flops = max(B * H * Sq * D * Dv * 8.0, min_flops)  # decay, k.S, outer product, q.S
    rate = cfg.fp32_flops * cfg.efficiency.fp32_mainloop
    per_sm = math.ceil(ctas / cfg.sm.count) / max(ctas, 1)
    compute = max(flops * per_sm * cfg.sm.count / rate, flops / rate)
    return [_pick(cfg, "recurrent_delta_rule", compute, dram_seconds(cfg, nbytes, ctas),
                  latency_seconds(cfg, cfg.elementwise.round_trips) * max(Sq, 1), ctas)]


# ---- memory-bound kernels ------------------------------------------------------------------

def stream(cfg: GPUConfig, name: str, nbytes: float, flops: float, ctas: float | None,
           exps: float = 0.0) -> Kernel:
    """A streaming kernel: bytes over DRAM, FP32 math and special functions on the SMs."""
    if ctas is None:
        ctas = max(1.0, nbytes / 2.0 / cfg.elementwise.elems_per_cta)
    busy = max(1.0, min(float(ctas), float(cfg.sm.count)))
    frac = busy / cfg.sm.count
    compute = flops / (cfg.fp32_flops * cfg.efficiency.fp32_mainloop * frac) + \
        exps / (cfg.exp_per_s * frac)
    return _pick(cfg, name, compute, dram_seconds(cfg, nbytes, ctas),
                 latency_seconds(cfg, cfg.elementwise.round_trips), ctas)


def streaming_op(cfg: GPUConfig, kind: str, op: str, M: int, N: int, dtype: str,
                 flops: float, nbytes: float) -> list[Kernel]:
    """Norm, RoPE, activation, elementwise, softmax, reduction, copy, embedding: one fused
    kernel that moves the trace's bytes (or M x N in and out when the trace has none)."""
    elems = float(max(M, 0)) * max(N, 0)
    if nbytes <= 0:
        nbytes = 2.0 * elems * _elem(dtype)
    ctas = max(1.0, elems / cfg.elementwise.elems_per_cta)
    exps = elems if op in SFU_OPS else (float(max(M, 0)) if kind == "norm" else 0.0)
    return [stream(cfg, f"{kind}_{op}", nbytes, flops, ctas, exps=exps)]


def conv1d(cfg: GPUConfig, B: int, N: int, Sq: int, W: int, dtype: str,
           flops: float, nbytes: float) -> list[Kernel]:
    """Causal depthwise conv1d (causal-conv1d): reads the window, writes the outputs."""
    e = _elem(dtype)
    own = e * (B * (Sq + max(W - 1, 0)) * N + B * Sq * N) + N * W * e
    elems = float(B) * N * Sq
    return [stream(cfg, "causal_conv1d", max(own, nbytes), max(flops, 2.0 * W * elems),
                   max(1.0, elems / cfg.elementwise.elems_per_cta), exps=elems)]


def router(cfg: GPUConfig, M: int, N: int, topk: int, dtype: str, flops: float,
           nbytes: float) -> list[Kernel]:
    """MoE router: softmax over N expert logits, top-k, renormalise (fused kernels)."""
    e = _elem(dtype)
    own = M * N * e + M * max(topk, 1) * 8.0
    elems = float(M) * N
    k = stream(cfg, "router", max(own, nbytes), max(flops, elems * (4 + max(topk, 1))),
               max(1.0, float(M) / 4), exps=elems)
    n = cfg.elementwise.router_kernels
    return [Kernel(k.name, k.seconds / n, k.bound, k.sm_share) for _ in range(n)]
