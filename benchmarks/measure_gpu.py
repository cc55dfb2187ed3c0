"""Time Qwen3.5-9B's kernels on a real CUDA GPU and write them as validation cases.

    python benchmarks/measure_gpu.py --out measured.json        # on a machine with a GPU
    codesign validate --cases measured.json                     # then check the model

Shapes are qwen3.5-9b's (/work/shared/reference/qwen.md §1.2, §4): hidden 4096, 32 layers
(8 full attention, 24 Gated DeltaNet), 16 query / 4 KV heads of dim 256, intermediate
12288, GDN 16 key heads and 32 value heads of dim 128. Kernels: the layer GEMMs at prefill
(2048 tokens) and decode (1 token), attention prefill and decode (PyTorch SDPA, flash
backend = FlashAttention-2), RMSNorm, and the delta rule (flash-linear-attention's kernels
when ``fla`` is installed; otherwise PyTorch's reference recurrent step, marked
informational because the model times fla's fused kernel).

Each kernel is timed with CUDA events: warm-up calls, then the median of ``--repeats``
timed calls. Every case records ``engine = pytorch-eager`` and ``launch.mode = eager`` (one
host launch per call: codesign/presets/engines/pytorch-eager.toml). Without
CUDA the script says so and exits with status 0.

Beside the model's kernels (``--groups``, default all):

- ``sweep``: a bf16 GEMV (M = 1, a square-ish weight of the given bytes) and a copy of
  64 KB, 256 KB ... 1 GB: the memory-bound kernel's t0 + bytes / (eta x BW), eta of the
  GEMV class (``efficiency.gemv``) and of streaming (``efficiency.dram_stream``);
- ``launch``: a chain of ``CHAIN`` dependent tiny kernels (each reads the previous one's
  output), captured in a CUDA graph and replayed, and launched eagerly: the time per
  kernel is its GPU time + ``launch.gap_us`` in a graph, ``max(host launch, that)``
  eagerly (the two rows the gap and the pytorch-eager host launch are fitted on);
- ``sampler``: vLLM-style sampling over a batch x vocabulary of FP32 logits (temperature,
  softmax, top-p by sort, multinomial), informational: it is several kernels, which the
  model times as the engine's sampler (``engine.sampler_passes``, ``sampler_kernels``);
- ``power``: board power from NVML's energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  millijoules since the driver loaded, board power HBM included): two idle windows of
  ``IDLE_S`` (nothing queued after ``SETTLE_S``; one tiny kernel per ``TICK_S``, which
  keeps the clocks up), and seven kernels run back to back for ``POWER_S`` after a warm-up
  of the same length: two compute-bound bf16 GEMMs (``POWER_GEMM``^3 and the gate_proj at
  M = 2048), FlashAttention-2 prefill at 8k, and DRAM-bound a 1 GiB copy, a 1 GiB add of
  two tensors, a 1 GiB SiLU and a 1 GB GEMV (whether a memory-bound kernel's power
  follows its arithmetic: the copy draws less than the GEMV).
  Each writes a ``power_w`` case (the energy suite's probes ``idle_power_w`` and
  ``kernel_power_w``: codesign/energy_cases.py), and each kernel its seconds per call,
  timed right after its window (the limiter's clock still holds): both marked
  ``sustained``. The SM clocks seen and the enforced power limit go into the source.
  Needs ``pynvml`` (nvidia-ml-py).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

FORMAT = "codesign-validation-cases/1"
HIDDEN, INTER, VOCAB = 4096, 12288, 248320
NQ, NKV, HEAD = 16, 4, 256
GDN_K, GDN_V, GDN_D = 16, 32, 128

# device name fragment -> codesign GPU preset
PRESETS = (("H200", "h200"), ("H100", "h100-sxm"), ("A100", "a100-80gb"), ("B200", "b200"),
           ("L4", "l4"), ("4090", "rtx-4090"), ("Orin", "jetson-agx-orin"))

GEMMS = {  # name: (N, K) of the layer's Linear (x @ W^T: [M, K] -> [M, N])
    "q_proj": (2 * NQ * HEAD, HIDDEN), "k_proj": (NKV * HEAD, HIDDEN),
    "o_proj": (HIDDEN, NQ * HEAD), "in_proj_qkv": (2 * GDN_K * GDN_D + GDN_V * GDN_D, HIDDEN),
    "in_proj_z": (GDN_V * GDN_D, HIDDEN), "out_proj": (HIDDEN, GDN_V * GDN_D),
    "gate_proj": (INTER, HIDDEN), "down_proj": (HIDDEN, INTER), "lm_head": (VOCAB, HIDDEN),
}


def time_cuda(torch: Any, fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median seconds of ``fn`` by CUDA events, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


SWEEP_BYTES = tuple(64 * 1024 * 4 ** i for i in range(8))  # 64 KB ... 1 GB
CHAIN = 64  # dependent kernels per launch-chain measurement
SAMPLER_BATCHES = (1, 8, 64)
GROUPS = ("kernels", "sweep", "launch", "sampler", "power")
POWER_GEMM = 8192  # M = N = K of the compute-bound GEMM of the power group
POWER_BYTES = 1 << 30  # bytes of the power group's DRAM-bound kernels' weight or output
POWER_S = 3.0      # seconds each power window lasts (NVML's counter ticks every ~10-100 ms)
IDLE_S = 5.0       # seconds of each idle window
SETTLE_S = 15.0    # seconds with nothing queued before the settled idle window
TICK_S = 0.01      # the clocked idle window's period: one tiny kernel per tick


def gemv_shape(nbytes: int) -> tuple[int, int]:
    """(N, K) of a bf16 weight of ``nbytes`` bytes: K = 4096 (the hidden size of 7-9B
    models) once N reaches 64 rows, K = 256 below."""
    elems = nbytes // 2
    K = 4096 if elems >= 4096 * 64 else 256
    return elems // K, K


def copy_row(nbytes: int) -> dict[str, Any]:
    """A bf16 copy reading and writing ``nbytes`` each (rows of 4096)."""
    elems = nbytes // 2
    return {"kind": "copy", "op": "copy", "dtype": "bf16", "M": max(1, elems // 4096),
            "N": min(4096, elems), "flops": 0, "bytes_read": nbytes, "bytes_written": nbytes}


def elementwise_row(kind: str, op: str, nbytes: int, inputs: int) -> dict[str, Any]:
    """A bf16 elementwise op writing ``nbytes`` (rows of 4096) from ``inputs`` operands as
    large; 1 FLOP per output element (the trace's convention, workloads/costs.py)."""
    elems = nbytes // 2
    return {"kind": kind, "op": op, "dtype": "bf16", "M": max(1, elems // 4096),
            "N": min(4096, elems), "flops": elems, "bytes_read": inputs * nbytes,
            "bytes_written": nbytes}


def chain_row() -> dict[str, Any]:
    """One of the chained tiny kernels: 1024 bf16 elements, x + 1."""
    return {"kind": "elementwise", "op": "add", "dtype": "bf16", "M": 1, "N": 1024,
            "flops": 1024, "bytes_read": 2048, "bytes_written": 2048}


def sampler_row(batch: int, vocab: int) -> dict[str, Any]:
    """The sampler's logits as a softmax row (FP32 read and probabilities written)."""
    n = batch * vocab
    return {"kind": "softmax", "op": "softmax", "dtype": "fp32", "M": batch, "N": vocab,
            "flops": 5 * n, "bytes_read": 4 * n, "bytes_written": 4 * n}


def gemm_row(M: int, N: int, K: int) -> dict[str, Any]:
    return {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16",
            "M": M, "N": N, "K": K, "G": 1, "flops": 2 * M * N * K,
            "bytes_read": 2 * (M * K + K * N), "bytes_written": 2 * M * N}


def attention_row(B: int, Sq: int, Skv: int, causal: bool) -> dict[str, Any]:
    pairs = Sq * Skv if not causal else Sq * (Skv - Sq) + Sq * (Sq + 1) // 2
    return {"kind": "attention", "op": "sdpa", "dtype": "bf16", "B": B, "Hq": NQ, "Hkv": NKV,
            "Sq": Sq, "Skv": Skv, "D": HEAD, "causal": causal,
            "flops": 4 * B * NQ * pairs * HEAD,
            "bytes_read": 2 * B * HEAD * (NQ * Sq + 2 * NKV * Skv),
            "bytes_written": 2 * B * NQ * Sq * HEAD}


class Kernel(NamedTuple):
    """One measured case: its metric's value for ``row`` (run with ``overrides``); a
    ``power_w`` case names the energy suite's probe that predicts it."""

    name: str
    row: dict[str, Any]
    overrides: dict[str, Any]
    value: float
    informational: bool = False
    metric: str = "seconds"
    probe: str = ""
    note: str = ""
    sustained: bool = False  # run back to back for longer than the power limiter's window
    # (codesign/gpu/power.py): the case's scenario (a row) or probe params say so


Measured = list[Kernel]


def measure(torch: Any, warmup: int, repeats: int,
            groups: tuple[str, ...] = GROUPS) -> Measured:
    """(name, row, overrides, seconds, informational) for every kernel of ``groups``."""
    out: Measured = []

    def add(name: str, row: dict[str, Any], fn: Callable[[], Any],
            overrides: dict[str, Any] | None = None, informational: bool = False,
            per_call: int = 1) -> None:
        sec = time_cuda(torch, fn, warmup, repeats) / per_call
        out.append(Kernel(name, row, {**EAGER, **(overrides or {})}, sec, informational))
        print(f"  {name:40s} {sec * 1e6:10.1f} us", flush=True)

    for group, fn in (("kernels", _model_kernels), ("sweep", _sweep), ("launch", _launch),
                      ("sampler", _sampler)):
        if group in groups:
            fn(torch, add)
    if "power" in groups:
        out.extend(_power(torch))
    return out


EAGER = {"engine": "pytorch-eager", "launch.mode": "eager"}


def window(run: Callable[[], Any], sync: Callable[[], Any], read_mj: Callable[[], float],
           seconds: float, clock: Callable[[], float] = time.perf_counter) -> tuple[float, int]:
    """Average watts of ``run`` called back to back for about ``seconds`` (the energy
    counter's millijoules over the wall time between two synchronised points), and how many
    calls that was. ``run`` is called until the wall time passes ``seconds``; a kernel
    launch returns at once, so this queues kernels until the window is full."""
    sync()
    e0, t0 = read_mj(), clock()
    calls = 0
    while clock() - t0 < seconds:
        run()
        calls += 1
        if calls % 64 == 0:
            sync()  # keep the host within 64 launches of the GPU, so the window is its work
    sync()
    e1, t1 = read_mj(), clock()
    return (e1 - e0) * 1e-3 / (t1 - t0), calls


def _power(torch: Any) -> Measured:
    """Board power idle and under a compute-bound GEMM, a copy and a GEMV (NVML)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        print("measure_gpu: power group skipped: pynvml (nvidia-ml-py) is not installed")
        return []
    import torch.nn.functional as F

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
    limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3

    def read_mj() -> float:
        return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(h))

    def sm_mhz() -> int:
        return int(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))

    out: Measured = []
    sync = torch.cuda.synchronize
    tiny = torch.zeros(1024, device="cuda", dtype=torch.bfloat16)
    # settled: nothing queued (the driver lowers the clocks); clocked: one tiny kernel per
    # tick keeps them up while the SMs idle (the board between a server's kernels)
    for name, settle, tick in (("power-idle", SETTLE_S, lambda: None),
                               ("power-idle-clocked", 0.0, lambda: tiny.add_(1))):
        time.sleep(settle)
        clocks = [sm_mhz()]

        def idle(tick: Callable[[], Any] = tick, clocks: list[int] = clocks) -> None:
            tick()
            time.sleep(TICK_S)
            clocks.append(sm_mhz())

        watts, calls = window(idle, sync, read_mj, IDLE_S)
        note = (f"{'nothing queued' if settle else 'one 1024-element add per tick'} for "
                f"{IDLE_S:g} s ({calls} ticks of {TICK_S * 1e3:g} ms)"
                f"{f' after {settle:g} s with nothing queued' if settle else ''}; SM clock "
                f"{min(clocks)}-{max(clocks)} MHz (median {statistics.median(clocks):.0f}); "
                f"P-state {pynvml.nvmlDeviceGetPerformanceState(h)}; enforced limit "
                f"{limit_w:.0f} W")
        out.append(Kernel(name, {}, {}, watts, metric="power_w", probe="idle_power_w",
                          note=note))
        print(f"  {name} {watts:8.1f} W  ({note})", flush=True)

    n, bf16 = POWER_GEMM, torch.bfloat16
    a = torch.randn(n, n, device="cuda", dtype=bf16)
    b = torch.randn(n, n, device="cuda", dtype=bf16)
    big = POWER_BYTES
    gN, gK = gemv_shape(big)
    x, w = torch.randn(1, gK, device="cuda", dtype=bf16), torch.randn(gN, gK, device="cuda",
                                                                       dtype=bf16)
    src = torch.empty(big // 2, device="cuda", dtype=bf16)
    dst, src2 = torch.empty_like(src), torch.empty_like(src)
    gate = GEMMS["gate_proj"]
    xg, wg = (torch.randn(2048, gate[1], device="cuda", dtype=bf16),
              torch.randn(*gate, device="cuda", dtype=bf16))
    q = torch.randn(1, NQ, 8192, HEAD, device="cuda", dtype=bf16)
    k, v = (torch.randn(1, NKV, 8192, HEAD, device="cuda", dtype=bf16) for _ in range(2))
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def attn() -> Any:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    def sustained(fn: Callable[[], Any]) -> tuple[float, int, str]:
        """Watts of ``fn`` called back to back for POWER_S after as long a warm-up (clocks
        and temperature settle), how many calls, and the SM clocks seen and the limit."""
        window(fn, sync, read_mj, POWER_S)  # warm-up
        clocks = [sm_mhz()]

        def run() -> None:
            fn()
            clocks.append(sm_mhz())

        watts, calls = window(run, sync, read_mj, POWER_S)
        return watts, calls, (f"SM clock {min(clocks)}-{max(clocks)} MHz (median "
                              f"{statistics.median(clocks):.0f}); enforced limit "
                              f"{limit_w:.0f} W")

    for name, row, fn, ov in (
            (f"gemm-{n}", gemm_row(n, n, n), lambda: torch.mm(a, b), {}),
            ("gemm-gate_proj-m2048", gemm_row(2048, *gate), lambda: F.linear(xg, wg), {}),
            ("attention-prefill-b1-sq8192-skv8192", attention_row(1, 8192, 8192, True), attn,
             {"attention.implementation": "fa2"}),
            (f"copy-{big >> 10}k", copy_row(big), lambda: dst.copy_(src), {}),
            # memory-bound like the copy, with an SM's arithmetic per element between: a
            # copy draws less than the GEMV (481 against 633 W on the H200), and these
            # say whether elementwise kernels draw like the copy or like the GEMV
            (f"add-{big >> 10}k", elementwise_row("elementwise", "add", big, 2),
             lambda: torch.add(src, src2, out=dst), {}),
            (f"silu-{big >> 10}k", elementwise_row("activation", "silu", big, 1),
             lambda: F.silu(src), {}),
            (f"gemv-{big >> 10}k", gemm_row(1, gN, gK), lambda: F.linear(x, w), {})):
        watts, calls, clocks = sustained(fn)
        # seconds per call by CUDA events, right after the window: the limiter's clock
        # still holds (gate_proj: 343 us here, 273 us in the kernels group's short burst)
        sec = time_cuda(torch, fn, 3, 20)
        note = f"{calls} calls back to back over {POWER_S:g} s after as long a warm-up; {clocks}"
        out.append(Kernel(f"power-{name}", {"row": row}, {**EAGER, **ov}, watts,
                          metric="power_w", probe="kernel_power_w", note=note,
                          sustained=True))
        out.append(Kernel(f"power-{name}-seconds", row, {**EAGER, **ov}, sec,
                          sustained=True))
        print(f"  power-{name} {watts:8.1f} W, {sec * 1e6:10.1f} us/call ({note})", flush=True)
    # one-CTA kernels back to back (the launch chain's graph replayed for POWER_S): one SM
    # busy at a time, the rest idle; what a kernel's active power scales with
    watts, calls, clocks = sustained(_chain_graph(torch, _chain(torch)))
    note = (f"{calls} replays of a CUDA graph of {CHAIN} dependent 1024-element adds back to "
            f"back over {POWER_S:g} s after as long a warm-up; {clocks}")
    out.append(Kernel("power-launch-chain-graph", {"row": chain_row()},
                      {**EAGER, "launch.mode": "graph"}, watts, metric="power_w",
                      probe="kernel_power_w", note=note, sustained=True))
    print(f"  power-launch-chain-graph {watts:8.1f} W ({note})", flush=True)
    pynvml.nvmlShutdown()
    return out


def _model_kernels(torch: Any, add: Callable[..., None]) -> None:
    """qwen3.5-9b's GEMMs, attention, RMSNorm and delta rule."""
    import torch.nn.functional as F

    dev, bf16 = "cuda", torch.bfloat16

    for M in (1, 2048):
        for name, (N, K) in GEMMS.items():
            x = torch.randn(M, K, device=dev, dtype=bf16)
            w = torch.randn(N, K, device=dev, dtype=bf16)
            add(f"gemm-{name}-m{M}", gemm_row(M, N, K), lambda x=x, w=w: F.linear(x, w))
            del x, w

    from torch.nn.attention import SDPBackend, sdpa_kernel

    for B, Sq, Skv, causal in ((1, 2048, 2048, True), (1, 8192, 8192, True),
                               (1, 1, 4096, False), (8, 1, 32768, False)):
        q = torch.randn(B, NQ, Sq, HEAD, device=dev, dtype=bf16)
        k = torch.randn(B, NKV, Skv, HEAD, device=dev, dtype=bf16)
        v = torch.randn(B, NKV, Skv, HEAD, device=dev, dtype=bf16)

        def attn(q=q, k=k, v=v, causal=causal) -> Any:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                      enable_gqa=True)

        phase = "prefill" if Sq > 1 else "decode"
        add(f"attention-{phase}-b{B}-sq{Sq}-skv{Skv}", attention_row(B, Sq, Skv, causal), attn,
            {"attention.implementation": "fa2"})
        del q, k, v

    for M in (1, 2048):
        x = torch.randn(M, HIDDEN, device=dev, dtype=bf16)
        w = torch.ones(HIDDEN, device=dev, dtype=bf16)
        row = {"kind": "norm", "op": "rmsnorm", "dtype": "bf16", "M": M, "N": HIDDEN,
               "flops": 4 * M * HIDDEN, "bytes_read": 2 * M * HIDDEN + 2 * HIDDEN,
               "bytes_written": 2 * M * HIDDEN}
        add(f"rmsnorm-m{M}", row, lambda x=x, w=w: F.rms_norm(x, (HIDDEN,), w, 1e-6))

    _delta_rule(torch, add)


def _sweep(torch: Any, add: Callable[..., None]) -> None:
    """GEMV and copy over 64 KB ... 1 GB: t0 and eta of the memory-bound classes."""
    import torch.nn.functional as F

    dev, bf16 = "cuda", torch.bfloat16
    for nbytes in SWEEP_BYTES:
        N, K = gemv_shape(nbytes)
        x = torch.randn(1, K, device=dev, dtype=bf16)
        w = torch.randn(N, K, device=dev, dtype=bf16)
        add(f"sweep-gemv-{nbytes // 1024}k", gemm_row(1, N, K), lambda x=x, w=w: F.linear(x, w))
        del x, w
        src = torch.empty(nbytes // 2, device=dev, dtype=bf16)
        dst = torch.empty_like(src)
        add(f"sweep-copy-{nbytes // 1024}k", copy_row(nbytes), lambda s=src, d=dst: d.copy_(s))
        del src, dst


def _chain(torch: Any) -> Callable[[], Any]:
    """CHAIN dependent 1024-element adds, launched eagerly (one CTA each)."""
    x = torch.zeros(1024, device="cuda", dtype=torch.bfloat16)

    def chain(x: Any = x) -> Any:
        y = x
        for _ in range(CHAIN):
            y = y + 1  # each kernel reads the previous one's output: dependent launches
        return y

    return chain


def _chain_graph(torch: Any, chain: Callable[[], Any]) -> Callable[[], Any]:
    """``chain`` captured in a CUDA graph: its replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        chain()  # warm the allocator outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        chain()
    return graph.replay


def _launch(torch: Any, add: Callable[..., None]) -> None:
    """CHAIN dependent tiny kernels, replayed from a CUDA graph and launched eagerly."""
    chain = _chain(torch)
    add("launch-chain-eager", chain_row(), chain, per_call=CHAIN)
    add("launch-chain-graph", chain_row(), _chain_graph(torch, chain),
        {"launch.mode": "graph"}, per_call=CHAIN)


def _sampler(torch: Any, add: Callable[..., None]) -> None:
    """Temperature, softmax, top-p by sort and a multinomial draw over VOCAB logits."""
    for batch in SAMPLER_BATCHES:
        logits = torch.randn(batch, VOCAB, device="cuda", dtype=torch.float32)

        def sample(logits: Any = logits) -> Any:
            probs = torch.softmax(logits / 0.7, dim=-1)
            sorted_p, idx = torch.sort(probs, dim=-1, descending=True)
            keep = sorted_p.cumsum(-1) - sorted_p <= 0.8
            sorted_p = sorted_p * keep
            choice = torch.multinomial(sorted_p, 1)
            return idx.gather(-1, choice)

        add(f"sampler-b{batch}-v{VOCAB}", sampler_row(batch, VOCAB), sample,
            informational=True)


def _delta_rule(torch: Any, add: Callable[..., None]) -> None:
    """Gated delta rule, decode (recurrent) and prefill (chunked, 2048 tokens)."""
    dev, H, D = "cuda", GDN_V, GDN_D
    state_bytes = H * D * D * 4
    try:
        from fla.ops.gated_delta_rule import (  # type: ignore[import-not-found]
            chunk_gated_delta_rule,
            fused_recurrent_gated_delta_rule,
        )
    except ImportError:
        chunk_gated_delta_rule = fused_recurrent_gated_delta_rule = None
    for T in (1, 2048):
        q = torch.randn(1, T, H, D, device=dev, dtype=torch.bfloat16)
        k = torch.nn.functional.normalize(torch.randn_like(q), dim=-1)
        v = torch.randn_like(q)
        g = -torch.rand(1, T, H, device=dev, dtype=torch.float32)
        beta = torch.rand(1, T, H, device=dev, dtype=torch.bfloat16)
        s0 = torch.zeros(1, H, D, D, device=dev, dtype=torch.float32)
        row = {"kind": "linear_attention", "dtype": "bf16", "B": 1, "Hq": H, "Sq": T,
               "Skv": 4096, "D": D, "Dv": D,
               "flops": 6 * H * T * D * D, "bytes_read": state_bytes + 3 * H * T * D * 2,
               "bytes_written": state_bytes + H * T * D * 2}
        if T == 1:
            row["op"], row["chunk"] = "recurrent_gated_delta_rule", 0
            if fused_recurrent_gated_delta_rule is not None:
                add("delta-rule-recurrent-fla", row, functools.partial(
                    fused_recurrent_gated_delta_rule, q, k, v, g, beta, initial_state=s0,
                    output_final_state=True))
            else:
                def step(q=q, k=k, v=v, g=g, beta=beta, s0=s0) -> Any:
                    s = s0[0] * g[0, 0].exp()[:, None, None]
                    kv = (s * k[0, 0].float()[:, :, None]).sum(-2)
                    delta = (v[0, 0].float() - kv) * beta[0, 0].float()[:, None]
                    s = s + k[0, 0].float()[:, :, None] * delta[:, None, :]
                    return (s * q[0, 0].float()[:, :, None]).sum(-2), s
                add("delta-rule-recurrent-torch", row, step, informational=True)
        elif chunk_gated_delta_rule is not None:
            row["op"], row["chunk"] = "chunk_gated_delta_rule", 64
            add("delta-rule-chunk-fla", row, functools.partial(
                chunk_gated_delta_rule, q, k, v, g, beta, initial_state=s0,
                output_final_state=True))


def _case(k: Kernel, target: str, device: str, meta: str) -> dict[str, Any]:
    """The validation case of one measurement."""
    case: dict[str, Any] = {"name": f"measured-{target}-{k.name}", "target": target,
                            "set": k.overrides}
    if k.probe:
        case.update(probe=k.probe, params={**k.row, **({"sustained": True} if k.sustained
                                                       else {})})
    else:
        case["row"] = k.row
        if k.sustained:
            case["scenario"] = {"sustained": True}
    note = f"; {k.note}" if k.note else ""
    # the power cases' tolerance is the energy suite's (25%), the kernels' times 15%
    case.update(metric=k.metric, measured=k.value,
                tolerance=0.25 if k.metric == "power_w" else 0.15,
                informational=k.informational,
                source=f"benchmarks/measure_gpu.py on {device}; {meta}{note}")
    return case


def write_cases(path: Path, target: str, device: str, meta: str,
                measured: Measured) -> None:
    doc = {
        "format": FORMAT,
        "description": f"Kernels of qwen3.5-9b measured on {device} by benchmarks/measure_gpu.py",
        "cases": [_case(Kernel(*m), target, device, meta) for m in measured],
        "rankings": [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)  # atomic: an earlier file is never half-overwritten


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="measured_gpu_cases.json", help="case file to write")
    ap.add_argument("--target", help="codesign GPU preset to compare with (default: from "
                                     "the device name)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help=f"comma-separated measurement groups (default all: {', '.join(GROUPS)})")
    args = ap.parse_args(argv)
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        print(f"measure_gpu: unknown group {bad[0]!r}; valid: {', '.join(GROUPS)}",
              file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("measure_gpu: torch is not installed; nothing measured")
        return 0
    if not torch.cuda.is_available():
        print("measure_gpu: no CUDA device (torch.cuda.is_available() is False); "
              "nothing measured")
        return 0
    device = torch.cuda.get_device_name(0)
    target = args.target or next((p for frag, p in PRESETS if frag in device), None)
    if target is None:
        print(f"measure_gpu: no preset matches {device!r}; pass --target", file=sys.stderr)
        return 2
    meta = (f"torch {torch.__version__}, CUDA {torch.version.cuda}, median of {args.repeats} "
            f"after {args.warmup} warm-up calls, {datetime.date.today().isoformat()}")
    print(f"measure_gpu: {device} -> preset {target}")
    measured = measure(torch, args.warmup, args.repeats, groups)
    write_cases(Path(args.out), target, device, meta, measured)
    print(f"measure_gpu: wrote {len(measured)} cases to {args.out}; check them with "
          f"`codesign validate --cases {args.out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
