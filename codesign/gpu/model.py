"""Time a trace on a GPU: each row's kernels (codesign.gpu.kernels), launch overhead, and
the Result. A GPU runs the kernels back to back in one stream, so the pass's latency is the
sum of the rows' ``total_seconds``.

Launch overhead (gpu.md §3d):

- ``graph``: CUDA-graph replay; each kernel costs its GPU time plus ``launch.gap_us``.
- ``eager``: the host issues each kernel (``launch.host_launch_us``, times the host's
  ``launch.host_scale`` as every host time here) into the stream's queue and runs ahead
  of the GPU, which cannot start a kernel before it is issued. An op whose call does
  more host work than a plain launch (a GEMM's cuBLASLt heuristic, an attention's
  backend checks: ``launch.pre_launch_us(kind)``) pays it before its first
  kernel launches. Over a pass the GPU therefore takes ``max(the first call's pre-launch
  work + sum of (GPU time + gap), the host's sum over the calls)``: long kernels let the
  host get ahead and cover later short ones; when the host is the slower side the GPU
  idles, and that idle time (the slack) is shared by the rows in proportion to their
  host time (their ``bound`` becomes "overhead" when it exceeds their kernels' time). A
  single call costs ``max(pre-launch work + GPU time + gap, host)``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from codesign import kinds
from codesign.gpu import fusion
from codesign.gpu import kernels as K
from codesign.gpu.config import GPUConfig
from codesign.result import TRACE_COLUMNS, finish_ops
from workloads.schema import Op


def op_kernels(cfg: GPUConfig, op: Op | dict[str, Any]) -> list[K.Kernel]:
    """The kernels one trace op launches on ``cfg``, with their GPU times (its kind's
    mapping, :mod:`codesign.kinds`)."""
    op = op if isinstance(op, Op) else Op.from_row(op)
    return kinds.get(op.kind).gpu_kernels(cfg, op)


def launched_seconds(cfg: GPUConfig, kernel_seconds: float) -> float:
    """A kernel's time in the stream with the GPU-side gap (host launches: see
    :func:`host_slack`)."""
    return kernel_seconds + cfg.launch.gap_us * 1e-6


def alone_seconds(cfg: GPUConfig, kernel_seconds: float) -> float:
    """A kernel launched on its own: eager, it waits for its host launch when shorter."""
    t = launched_seconds(cfg, kernel_seconds)
    return max(t, cfg.launch.launch_us * 1e-6) if cfg.launch.mode == "eager" else t


def host_seconds(cfg: GPUConfig, df: pd.DataFrame) -> pd.Series:
    """Each row's eager host time per instance: its kernels' launches, and the pre-launch
    work of its op's call when it launches any."""
    pre = df["kind"].map(cfg.launch.pre_launch_us).where(df["kernels"] > 0, 0.0)
    return (df["kernels"] * cfg.launch.launch_us + pre) * 1e-6


def host_slack(cfg: GPUConfig, df: pd.DataFrame) -> pd.DataFrame:
    """Eager launches: add the GPU's idle time behind a slower host to the rows, shared
    by their host time (see the module docstring)."""
    if cfg.launch.mode != "eager" or df.empty:
        return df
    host = host_seconds(cfg, df)
    n = float((host * df["repeat"]).sum())
    launching = df["kernels"] > 0
    first_pre = (cfg.launch.pre_launch_us(str(df.loc[launching, "kind"].iloc[0])) * 1e-6
                 if launching.any() else 0.0)
    slack = max(n - float((df["seconds"] * df["repeat"]).sum()), first_pre)
    if n == 0 or slack <= 0:
        return df
    df = df.copy()
    extra = slack * host / n  # per instance of each row
    df["seconds"] = df["seconds"] + extra
    df["cycles"] = df["seconds"] * cfg.clock_hz
    df.loc[extra > df["kernel_seconds"], "bound"] = "overhead"
    df["util_dram"] = (df["bytes"] / (df["seconds"] * cfg.dram_bps)).where(df["seconds"] > 0, 0.0)
    for util in ("util_tensor", "util_sm"):  # the same work over the longer time
        df[util] = df[util] * (df["seconds"] - extra) / df["seconds"].where(
            df["seconds"] > 0, 1.0)
    return df


def peak_flops(cfg: GPUConfig, kind: str, dtype: str, weight_dtype: str = "") -> float:
    """The peak an op's FLOPs are held against in its roofline bound: the best tensor-core
    rate for the matrix kinds (any dtype; FP4 for MXFP4 weights), the FP32 CUDA-core rate
    otherwise."""
    if kinds.get(kind).matrix:
        fp4 = cfg.tensor_flops("fp4") if weight_dtype == "mxfp4" else 0.0
        return max(cfg.tensor_flops(dtype), cfg.tensor_flops("bf16"), fp4)
    return cfg.fp32_flops


def _timing(cfg: GPUConfig, row: dict[str, Any], ks: list[K.Kernel],
            share: float) -> dict[str, Any]:
    """The Result columns of one trace row that runs ``share`` of kernels ``ks``."""
    kernel_s = sum(k.seconds for k in ks) * share
    seconds = sum(launched_seconds(cfg, k.seconds) for k in ks) * share
    flops = float(row["flops"])
    nbytes = float(row["bytes_read"] + row["bytes_written"])
    peak = peak_flops(cfg, row["kind"], row["dtype"], str(row.get("weight_dtype") or ""))
    roofline = max(flops / peak, nbytes / cfg.dram_bps)
    if not ks:
        bound = "memory"
    elif seconds - kernel_s > kernel_s:
        bound = "overhead"
    else:
        bound = max(ks, key=lambda k: k.seconds).bound
    return {
        **{c: row[c] for c in TRACE_COLUMNS},
        "flops": flops, "bytes": nbytes, "seconds": seconds,
        "cycles": seconds * cfg.clock_hz, "roofline_seconds": roofline, "bound": bound,
        "kernels": len(ks), "kernel_seconds": kernel_s,
        "util_tensor": (flops / (seconds * cfg.tensor_flops("bf16"))
                        if kinds.get(row["kind"]).matrix and seconds > 0 else 0.0),
        "util_dram": nbytes / (seconds * cfg.dram_bps) if seconds > 0 else 0.0,
        "util_sm": sm_busy(ks, seconds / share if share > 0 else 0.0),
    }


def sm_busy(ks: list[K.Kernel], seconds: float) -> float:
    """The SMs' busy fraction over ``seconds`` in which kernels ``ks`` run: each kernel's
    time x the share of the SMs its CTAs occupy (a one-CTA kernel keeps one SM busy)."""
    return sum(k.seconds * k.sm_share for k in ks) / seconds if seconds > 0 else 0.0


def _absorbed_seconds(cfg: GPUConfig, row: dict[str, Any]) -> float:
    """An absorbed op's bytes, streamed inside its host kernel (no launch, no t0)."""
    return float(row["bytes_read"] + row["bytes_written"]) / (
        cfg.dram_bps * cfg.efficiency.dram_stream)


def time_ops(cfg: GPUConfig, ops: pd.DataFrame) -> pd.DataFrame:
    """Per-row timing columns of the Result (see codesign.result), with the engine's
    fusion (:mod:`codesign.gpu.fusion`): a concatenated kernel's time is shared by its
    rows in proportion to their bytes (the first carries the launch count); an absorbed
    row costs its bytes inside its host's kernel."""
    rows = ops.to_dict("records")
    p = fusion.plan(cfg.engine, rows)
    fused: dict[int, list[K.Kernel]] = {}
    out = []
    for i, row in enumerate(rows):
        role = p.role(i)
        if role == "absorbed":
            t = _timing(cfg, row, [], 1.0)
            t["seconds"] = t["kernel_seconds"] = _absorbed_seconds(cfg, row)
            t["cycles"] = t["seconds"] * cfg.clock_hz
            t["kernels"] = 0
            t["util_sm"] = 1.0  # its bytes stream inside its host's kernel, on every SM
            out.append(t)
            continue
        if role == "own":
            out.append(_timing(cfg, row, op_kernels(cfg, row), 1.0))
            continue
        leader = i if role == "leader" else next(k for k, m in p.groups.items() if i in m)
        members = [rows[j] for j in p.groups[leader]]
        total = sum(float(m["bytes_read"] + m["bytes_written"]) for m in members)
        share = (float(row["bytes_read"] + row["bytes_written"]) / total if total > 0
                 else 1.0 / len(members))
        if leader not in fused:
            fused[leader] = op_kernels(cfg, fusion.merged(members))
        t = _timing(cfg, row, fused[leader], share)
        t["kernels"] = len(fused[leader]) if role == "leader" else 0
        out.append(t)
    df = pd.DataFrame(out)
    if df.empty:
        df = pd.DataFrame(columns=[*TRACE_COLUMNS, "flops", "bytes", "seconds", "cycles",
                                   "roofline_seconds", "bound", "kernels", "kernel_seconds",
                                   "util_tensor", "util_dram", "util_sm"])
    return finish_ops(host_slack(cfg, df))


def visible_host_seconds(host: float, overlap: float, gpu: float) -> float:
    """The part of a step's ``host`` seconds the GPU waits for: the share not overlapped
    (``1 - overlap``), plus the overlapped share's excess over the step's ``gpu`` seconds
    (async scheduling prepares step n+1 while step n's kernels run: the GPU waits only
    when the host is the slower side)."""
    return host * (1.0 - overlap) + max(host * overlap - gpu, 0.0)


def engine_rows(cfg: GPUConfig, phase: str, batch: int, vocab: int, first_id: int,
                gpu_seconds: float = 0.0) -> pd.DataFrame:
    """The engine's work of one step beside the model's kernels: the host's step
    (``engine.step_us + engine.step_us_per_seq x batch``, plus ``engine.prefill_step_us``
    in a prefill) and the sampler (``engine.sampler_kernels`` streaming kernels making
    ``engine.sampler_passes`` passes over the batch x vocabulary FP32 logits).

    The host row is the time the GPU idles for the host: the share
    ``1 - engine.host_overlap`` of the host's step, plus whatever of the overlapped share
    outlasts the step's GPU time (``gpu_seconds``, the model's kernels, and the sampler):
    see :func:`visible_host_seconds`."""
    e = cfg.engine
    base = {"layer": -1, "layers": "", "layer_type": "engine", "module": f"engine.{e.name}",
            "repeat": 1, "flops": 0.0, "roofline_seconds": 0.0, "util_tensor": 0.0}
    host = (e.step_us + e.step_us_per_seq * batch
            + (e.prefill_step_us if phase == "prefill" else 0.0)
            ) * cfg.launch.host_scale * 1e-6
    logits = float(batch) * vocab * 4.0 * e.sampler_passes
    ks = [K.stream(cfg, "sampler", logits / e.sampler_kernels, 0.0, ctas=float(batch))
          for _ in range(e.sampler_kernels)]
    sampler = sum(alone_seconds(cfg, k.seconds) for k in ks)
    host = visible_host_seconds(host, e.host_overlap, gpu_seconds + sampler)
    rows = [
        {**base, "op_id": first_id, "kind": "host", "op": "engine_step", "name": "step",
         "bytes": 0.0, "seconds": host, "bound": "overhead", "kernels": 0,
         "kernel_seconds": 0.0, "util_dram": 0.0, "util_sm": 0.0},
        {**base, "op_id": first_id + 1, "kind": "softmax", "op": "sampler",
         "name": "sampler", "bytes": logits, "seconds": sampler,
         "roofline_seconds": logits / cfg.dram_bps,
         "bound": "overhead" if sampler > 2 * sum(k.seconds for k in ks) else "memory",
         "kernels": len(ks), "kernel_seconds": sum(k.seconds for k in ks),
         "util_dram": logits / (sampler * cfg.dram_bps) if sampler > 0 else 0.0,
         "util_sm": sm_busy(ks, sampler)},
    ]
    df = pd.DataFrame(rows)
    df["cycles"] = df["seconds"] * cfg.clock_hz
    return finish_ops(df)
