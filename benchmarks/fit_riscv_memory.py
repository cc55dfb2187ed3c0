"""Fit the SpacemiT K1 preset's memory constants on its fitting set, and print them.

    PYTHONPATH=. python benchmarks/fit_riscv_memory.py

The fitting set is the BPI-F3's single-thread tinymembench (ThomasKaiser/sbc-bench issue
#93: "spacemit k1-x deb1 board", 1600 MHz): memcpy 2620 MB/s and memset 7180 MB/s, on a
buffer far beyond the caches. Every other K1 measurement is a prediction and never enters
this fit.

How the two map to the model (one core: ``cluster.cores = 1``, ``cluster.clusters = 1``):

- memset is a ``fill`` of a 64 MiB buffer: stores only. Stores are posted (they hold no
  miss entry), so what bounds it is DRAM's sustained bandwidth: memset fixes
  ``dram.efficiency`` (bytes written per second = 7.18 GB/s).
- memcpy is a ``copy`` of 64 MiB into another 64 MiB. tinymembench counts bytes copied
  (2620 MB/s); the model's metric counts bytes read + written per second (the ``gbps``
  of ``codesign validate``): 2 x 2.620 = 5.24 GB/s. That is below the DRAM bandwidth
  memset shows, so a single core's loads are bound by the lines it keeps in flight:
  memcpy fixes ``l1d.outstanding_misses`` (Little's law: lines x 64 B / DRAM latency).
  Only outstanding / ``dram.latency_ns`` is determined; the latency is the preset's
  (assumed) value.

Then, with those two held, the fitting set #16 names for decode: llama.cpp's tg128 on the
K1's IME cluster (4 threads, ggml-org/llama.cpp PR #15288) for Qwen2.5-0.5B (10.03 tok/s)
and Qwen2.5-3B (2.23 tok/s), Q4_0. Two constants, two cases, solved exactly:

- ``l2.outstanding_misses``: the lines the cluster's shared L2 keeps in flight to DRAM
  for all its cores (four cores read at most that many x 64 B per DRAM latency: llama.cpp's
  decode implies about 4 GB/s, well under memset's 7.18); it bounds the large model most;
- ``kernel.llamacpp_op_ns``: the fixed cost of each op that llama.cpp runs on its threads
  (ggml_barrier after every graph node, and whatever per-op work the kernels do not
  model); it weighs most on the small model, whose ops are short. Only llama.cpp runs pay
  it; the ideal kernels do not.

For each outstanding-miss count the per-op cost that reproduces 3B is found by bisection,
and the count by bisection on the 0.5B residual. Qwen2.5-1.5B, Qwen3-0.6B and Qwen3.5-2B
tg128 stay predictions (``codesign validate --suite riscv``).

The model moves a store's bytes once (no write-allocate read of the destination): the
fitted efficiency is the sustained write bandwidth the core reaches that way.

Each metric rises monotonically with its constant, so each is found by bisection on the
simulated metric itself (``codesign.validate.predict``: the same prediction the validation
suite makes), efficiency first (memcpy depends on it, memset not on the outstanding
misses), each rounded as the preset holds it. The residuals are of the rounded values.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesign import validate

# (constant, the suite case it is fitted on, search interval, decimals the preset holds);
# the cases (target spacemit-k1 on one core, their rows and measurements) are the riscv
# suite's own, so the fit and `codesign validate --suite riscv` predict the same thing
FITS = (("dram.efficiency", "bpi-f3-memset", (0.05, 1.0), 3),
        ("l1d.outstanding_misses", "bpi-f3-memcpy", (0.25, 64.0), 2))
DECODE = ("k1-qwen2.5-0.5b-q4_0-tg128", "k1-qwen2.5-3b-q4_0-tg128")


@functools.cache
def suite_case(name: str) -> validate.Case:
    return next(c for c in validate.load_cases(validate.suite_file("riscv"))[0]
                if c.name == name)


def predict_case(name: str, overrides: dict[str, float]) -> float:
    """The suite's own case ``name`` (its target, scenario and set), with ``overrides``."""
    case = suite_case(name)
    return validate.predict(dataclasses.replace(
        case, overrides={**case.overrides, **overrides}))


def bisect(f: Callable[[float], float], target: float, lo: float, hi: float,
           rtol: float = 1e-6) -> float:
    """x in [lo, hi] with f(x) = target, f increasing (to ``rtol`` relative)."""
    if not f(lo) <= target <= f(hi):
        raise SystemExit(f"the measurement {target} is outside [{f(lo):.4g}, {f(hi):.4g}] "
                         f"over [{lo}, {hi}]: the model cannot reach it")
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def fit_decode(held: dict[str, float]) -> dict[str, float]:
    """(l2.outstanding_misses, kernel.llamacpp_op_ns) reproducing both DECODE cases."""
    small, large = DECODE
    measured = {n: suite_case(n).measured for n in DECODE}

    def per_op(lines: float) -> float:
        # 3B tokens/s falls as the per-op cost grows: bisect on its negative
        return bisect(lambda ns: -predict_case(large, {**held, "l2.outstanding_misses": lines,
                                                       "kernel.llamacpp_op_ns": ns}),
                      -measured[large], 0.0, 1e6, rtol=1e-4)

    def small_error(lines: float) -> float:
        return predict_case(small, {**held, "l2.outstanding_misses": lines,
                                    "kernel.llamacpp_op_ns": per_op(lines)}) - measured[small]

    # the fewest lines that let 3B reach its measurement at no per-op cost: below them no
    # per-op cost fits it; from there the 0.5B residual falls as the lines (and with them
    # 3B's per-op cost) grow
    lo = bisect(lambda lines: predict_case(large, {**held, "l2.outstanding_misses": lines,
                                                   "kernel.llamacpp_op_ns": 0.0}),
                measured[large], 1.0, 64.0, rtol=1e-4) * (1 + 1e-4)
    hi = 64.0
    while hi - lo > 1e-3 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if small_error(mid) > 0 else (lo, mid)
    lines = round((lo + hi) / 2, 2)
    return {"l2.outstanding_misses": lines, "kernel.llamacpp_op_ns": round(per_op(lines), -2)}


def main() -> None:
    fitted: dict[str, float] = {}
    for const, name, (lo, hi), decimals in FITS:
        exact = bisect(lambda x, c=const, n=name: predict_case(n, {**fitted, c: x}),  # type: ignore[misc]
                       suite_case(name).measured, lo, hi)
        fitted[const] = round(exact, decimals)
        print(f"{const} = {fitted[const]}   (fitted on {name}: {suite_case(name).measured} "
              f"GB/s; unrounded {exact:.6g})")
    print("residuals at the rounded values (predicted / measured - 1):")
    for _, name, _, _ in FITS:
        p, m = predict_case(name, fitted), suite_case(name).measured
        print(f"  {name}: measured {m:.3f} GB/s, predicted {p:.4f} GB/s, error {p / m - 1:+.3%}")
    if "--memory-only" in sys.argv:
        return
    decode = fit_decode(fitted)
    for const, value in decode.items():
        print(f"{const} = {value}   (fitted on {', '.join(DECODE)})")
    for name in DECODE:
        p, m = predict_case(name, {**fitted, **decode}), suite_case(name).measured
        print(f"  {name}: measured {m} tok/s, predicted {p:.4f}, error {p / m - 1:+.3%}")


if __name__ == "__main__":
    main()
