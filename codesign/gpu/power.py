"""Board power and energy of a GPU pass (issue #17).

Each row of the Result runs at a power of its own::

    P = idle_w + busy x active_w + util_tensor x tensor_w + DRAM bytes/s x J/byte

capped at the power limit (``power.limit_w``, else the TDP), where ``busy`` is the share
of the row's time its kernels run (the rest is launch gaps and host time: the board
idles), ``util_tensor`` its tensor-core utilisation and the DRAM term its bytes at the
technology's energy per bit (:data:`codesign.silicon.DRAM_PJ_PER_BIT`). ``tensor_w`` is
what takes a dense GEMM at full utilisation to the TDP (:class:`PowerConfig`). A row's
energy is its power x its seconds; the pass's parts split each row's energy into idle,
active, tensor and DRAM shares (scaled down together where the cap bites).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from codesign.gpu.config import GPUConfig
from codesign.silicon import dram_pj_per_bit

PARTS = ("idle", "active", "tensor", "dram")


def row_power(ops: pd.DataFrame, cfg: GPUConfig) -> pd.DataFrame:
    """Watts of each row by part, after the cap (columns :data:`PARTS`)."""
    p = cfg.power
    sec = ops["seconds"].where(ops["seconds"] > 0)
    kernel = ops["kernel_seconds"] if "kernel_seconds" in ops else ops["seconds"]
    busy = (kernel.fillna(0.0) / sec).clip(0.0, 1.0).fillna(0.0)
    watts = pd.DataFrame({
        "idle": np.full(len(ops), p.idle_w),
        "active": busy * p.active_w,
        "tensor": ops["util_tensor"].fillna(0.0).clip(0.0, 1.0) * p.tensor_w,
        "dram": (ops["bytes"] / sec).fillna(0.0) * 8 * dram_pj_per_bit(p.dram_technology)
        * 1e-12,
    }, index=ops.index)
    total = watts.sum(axis=1)
    scale = (p.cap_w / total.where(total > p.cap_w)).fillna(1.0)
    return watts.mul(scale, axis=0)


def energy(ops: pd.DataFrame, cfg: GPUConfig) -> tuple[pd.DataFrame, dict[str, float]]:
    """The ops with ``energy_j`` (one instance) and ``power_w`` columns, and the pass's
    joules by part."""
    w = row_power(ops, cfg)
    per = w.mul(ops["seconds"], axis=0)
    ops = ops.assign(power_w=w.sum(axis=1), energy_j=per.sum(axis=1))
    parts = {k: float((per[k] * ops["repeat"]).sum()) for k in PARTS}
    return ops, parts
