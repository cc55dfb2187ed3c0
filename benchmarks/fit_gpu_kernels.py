"""Fit the GPU model's kernel-level constants on the rows ``codesign.validate.KERNEL_FITS``
names (the gpu-h200 suite's launch and host-cost groups).

    PYTHONPATH=. python benchmarks/fit_gpu_kernels.py         # prints the fitted values

Each group fits its constants on its rows only, by the Gauss-Newton on the log errors of
benchmarks/fit_gpu_e2e.py, in the order KERNEL_FITS lists them (a later group sees the
values earlier ones fitted: the per-family host costs sit on the chain's host launch).
The values it prints are the ones the presets hold (codesign/presets/engines/
pytorch-eager.toml, codesign/gpu/config.py), each marked "fitted" with its rows. The
FlashAttention-3 paper's series (suite gpu) were fitted by hand at their 16k plateau and
are not refitted here; every other row of the suites is a prediction.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_gpu_e2e import fit, report

from codesign import validate

SUITE = "gpu-h200"
# starting points of the iterations; a group's rows are its fitting set
START = {"launch.gap_us": 0.5, "launch.host_launch_us": 10.0, "launch.host_gemm_us": 5.0,
         "launch.host_norm_us": 5.0, "launch.host_attention_us": 20.0}


def main() -> int:
    cases = {c.name: c for c in validate.load_cases(validate.suite_file(SUITE))[0]}
    carried: dict[str, float] = {}
    for suite, names, rows in validate.KERNEL_FITS:
        if suite != SUITE:
            continue
        group = [cases[r] for r in rows]
        assert all(c.fitted for c in group), f"{rows}: only rows marked fitted may be fitted"
        group = [dataclasses.replace(c, overrides={**c.overrides, **carried}) for c in group]
        values = fit(group, {n: START[n] for n in names}, iters=6)
        report(values, group, rows)
        carried.update(values)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
