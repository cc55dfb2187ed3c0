"""Board power and energy of a GPU pass (issue #17), and the power limiter's throttling.

Each row of the Result demands a power of its own::

    P = idle_w + (busy x active_w + util_tensor x tensor_w) x (f / f_max)^k
        + DRAM bytes/s x J/byte

where ``busy`` is the SMs' busy share of the row's time (``util_sm``: each kernel's time
x the share of the SMs its CTAs occupy; in launch gaps, host time and on SMs without a
CTA the board idles: an SM draws its dynamic power only while it holds work, as in Hong
& Kim's per-SM GPU power model, "An integrated GPU power and performance model", ISCA
2010), ``util_tensor`` its tensor-core utilisation (of the peak at the clock it runs at),
the DRAM term its bytes at the technology's energy per bit
(:data:`codesign.silicon.DRAM_PJ_PER_BIT`), ``tensor_w`` the preset's
(:attr:`PowerConfig.full_tensor_w`) and ``f / f_max`` the SM clock over the unthrottled
one (``power.clock_exponent`` k: dynamic CMOS power a C V^2 f with the voltage following
the clock; the HBM's power does not follow the SM clock).

The cap (``power.limit_w``, else the TDP) holds as an average over the limiter's window
(``power.window_ms``):

- **a burst** (a pass shorter than the window, run on its own: a kernel timed for a few
  milliseconds) runs at the full clock; each row's power is its demand capped at the
  limit (scaled down, the kernel's time unchanged);
- **sustained work** (a pass at least as long as the window, or one its scenario marks
  ``sustained``: run back to back, as a server's steps or a kernel timed in a loop for
  seconds) runs at the clock where its mean demand over the pass meets the cap, when it
  would exceed it at the full clock: :func:`clock_ratio`. The pass is re-timed at that
  clock (:func:`at_clock`: the kernel model stretches each kernel's SM time by
  f_max / f, its DRAM time not at all), and its rows draw their demand at that clock (the
  limiter holds the average, not each row). A transformer pass is its layers repeated,
  so every window of it has the pass's mix: one clock for the pass.

A row's energy is its power x its seconds; the pass's parts split each row's energy into
idle, active, tensor and DRAM shares.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from codesign import config as C
from codesign.gpu.config import GPUConfig
from codesign.silicon import dram_pj_per_bit

PARTS = ("idle", "active", "tensor", "dram")
CLOCKED = ("active", "tensor")  # the parts that scale with the SM clock
CLOCK_TOL_MHZ = 1.0  # the throttled clock's resolution (the bisection's stopping width)


def demand(ops: pd.DataFrame, cfg: GPUConfig, ratio: float = 1.0) -> pd.DataFrame:
    """Watts each row demands by part (columns :data:`PARTS`), before any cap, on ops timed
    at ``ratio`` of the unthrottled SM clock."""
    p = cfg.power
    sec = ops["seconds"].where(ops["seconds"] > 0)
    busy = ops["util_sm"].fillna(0.0).clip(0.0, 1.0)  # the SMs its kernels occupy, over its time
    clocked = ratio ** p.clock_exponent
    return pd.DataFrame({
        "idle": np.full(len(ops), p.idle_w),
        "active": busy * p.active_w * clocked,
        "tensor": ops["util_tensor"].fillna(0.0).clip(0.0, 1.0) * p.full_tensor_w * clocked,
        "dram": (ops["bytes"] / sec).fillna(0.0) * 8 * dram_pj_per_bit(p.dram_technology)
        * 1e-12,
    }, index=ops.index)


def row_power(ops: pd.DataFrame, cfg: GPUConfig) -> pd.DataFrame:
    """A burst's watts of each row by part: its demand at the full clock, capped row by
    row (columns :data:`PARTS`)."""
    watts = demand(ops, cfg)
    total = watts.sum(axis=1)
    scale = (cfg.power.cap_w / total.where(total > cfg.power.cap_w)).fillna(1.0)
    return watts.mul(scale, axis=0)


def mean_power(ops: pd.DataFrame, watts: pd.DataFrame) -> float:
    """The pass's average of the rows' ``watts`` over its time (each row x its repeats)."""
    t = ops["seconds"] * ops["repeat"]
    total = float(t.sum())
    return float((watts.sum(axis=1) * t).sum()) / total if total > 0 else 0.0


def is_sustained(cfg: GPUConfig, seconds: float) -> bool:
    """Whether work running back to back for ``seconds`` outlasts the limiter's window."""
    return seconds * 1e3 >= cfg.power.window_ms


def at_clock(cfg: GPUConfig, ratio: float) -> GPUConfig:
    """``cfg`` with its SM clock at ``ratio`` of the unthrottled one (the kernel model times
    the SM side of every kernel at that clock)."""
    return C.override(cfg, {"sm.clock_mhz": cfg.sm.clock_mhz * ratio})


def clock_ratio(cfg: GPUConfig, ops: pd.DataFrame,
                timed: Callable[[GPUConfig], pd.DataFrame]) -> float:
    """The SM clock, as a ratio of ``cfg``'s, at which sustained work runs: 1 when the mean
    demand of ``ops`` (the work timed on ``cfg``) is within the cap; else the highest clock
    whose mean demand (the work re-timed there by ``timed``) is within it, to
    :data:`CLOCK_TOL_MHZ` (bisection); the floor ``power.min_clock_mhz`` when even it is
    over."""
    cap = cfg.power.cap_w
    if mean_power(ops, demand(ops, cfg)) <= cap:
        return 1.0
    f_max = cfg.sm.clock_mhz
    lo, hi = min(cfg.power.min_clock_mhz / f_max, 1.0), 1.0

    def over(r: float) -> bool:
        at = timed(at_clock(cfg, r))
        return mean_power(at, demand(at, cfg, r)) > cap

    if over(lo):
        return lo
    while (hi - lo) * f_max > CLOCK_TOL_MHZ:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if over(mid) else (mid, hi)
    return lo


def energy(ops: pd.DataFrame, cfg: GPUConfig, ratio: float | None = None
           ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The ops with ``energy_j`` (one instance) and ``power_w`` columns, and the pass's
    joules by part. ``ratio`` None: a burst (:func:`row_power`); a number: sustained work
    timed at that ratio of the unthrottled clock (:func:`clock_ratio`), each row at its
    demand."""
    w = row_power(ops, cfg) if ratio is None else demand(ops, cfg, ratio)
    per = w.mul(ops["seconds"], axis=0)
    ops = ops.assign(power_w=w.sum(axis=1), energy_j=per.sum(axis=1))
    parts = {k: float((per[k] * ops["repeat"]).sum()) for k in PARTS}
    return ops, parts
