"""Time a trace on a GPU: each row's kernels (codesign.gpu.kernels), launch overhead, and
the Result. A GPU runs the kernels back to back in one stream, so the pass's latency is the
sum of the rows' ``total_seconds``.

Launch overhead per kernel (gpu.md §3d):

- ``graph``: CUDA-graph replay; each kernel costs its GPU time plus ``launch.gap_us``.
- ``eager``: the host launches each kernel; the GPU cannot start a kernel before the host
  has issued it, so a kernel costs ``max(GPU time + gap, host_launch_us)`` (short kernels
  are launch-bound, long ones hide the host behind the GPU).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from codesign import kinds
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
    """A kernel's time in the stream, launch overhead included."""
    gap = cfg.launch.gap_us * 1e-6
    if cfg.launch.mode == "eager":
        return max(kernel_seconds + gap, cfg.launch.host_launch_us * 1e-6)
    return kernel_seconds + gap


def peak_flops(cfg: GPUConfig, kind: str, dtype: str) -> float:
    """The peak an op's FLOPs are held against in its roofline bound: the best tensor-core
    rate for the matrix kinds (any dtype), the FP32 CUDA-core rate otherwise."""
    if kinds.get(kind).matrix:
        return max(cfg.tensor_flops(dtype), cfg.tensor_flops("bf16"))
    return cfg.fp32_flops


def time_ops(cfg: GPUConfig, ops: pd.DataFrame) -> pd.DataFrame:
    """Per-row timing columns of the Result (see codesign.result)."""
    rows = []
    tc_peak = cfg.tensor_flops("bf16")
    for row in ops.to_dict("records"):
        ks = op_kernels(cfg, Op.from_row(row))
        kernel_s = sum(k.seconds for k in ks)
        seconds = sum(launched_seconds(cfg, k.seconds) for k in ks)
        flops = float(row["flops"])
        nbytes = float(row["bytes_read"] + row["bytes_written"])
        roofline = max(flops / peak_flops(cfg, row["kind"], row["dtype"]),
                       nbytes / cfg.dram_bps)
        if seconds - kernel_s > kernel_s:
            bound = "overhead"
        else:
            main = max(ks, key=lambda k: k.seconds)
            bound = main.bound
        rows.append({
            **{c: row[c] for c in TRACE_COLUMNS},
            "flops": flops,
            "bytes": nbytes,
            "seconds": seconds,
            "cycles": seconds * cfg.clock_hz,
            "roofline_seconds": roofline,
            "bound": bound,
            "kernels": len(ks),
            "kernel_seconds": kernel_s,
            "util_tensor": (flops / (seconds * tc_peak)
                            if kinds.get(row["kind"]).matrix and seconds > 0 else 0.0),
            "util_dram": nbytes / (seconds * cfg.dram_bps) if seconds > 0 else 0.0,
        })
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=[*TRACE_COLUMNS, "flops", "bytes", "seconds", "cycles",
                                   "roofline_seconds", "bound", "kernels", "kernel_seconds",
                                   "util_tensor", "util_dram"])
    return finish_ops(df)
