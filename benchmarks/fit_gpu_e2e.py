"""Fit the GPU model's end-to-end constants on the gpu-e2e rows marked ``fitted``.

    PYTHONPATH=. python benchmarks/fit_gpu_e2e.py            # prints the fitted values

Each group of ``codesign.validate.E2E_FITS`` fits its constants on its rows only, by
Gauss-Newton on the log errors (least squares of log(predicted / measured)). The first
group fits the GPU's ``launch.t0_us``, carried into every later group; each other group's
rows belong to one engine (``efficiency.gemv``: the RTX 4090's, on a llama.cpp row), and
an engine's later groups see the values its earlier groups fitted. The values it prints
are the ones the presets hold (codesign/presets/gpu/*.toml, codesign/presets/engines/
*.toml, codesign/gpu/config.py), each marked "fitted" with its rows. Every other row of
the suite is a prediction and never enters a fit.

Then each host profile of ``codesign.validate.HOST_FITS`` fits its ``launch.host_scale`` on
its one row (the values the case file's ``"hosts"`` hold).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesign import validate

# starting points of the Gauss-Newton iterations (the fitting sets: validate.E2E_FITS); the
# instructions per weight start where they bind on the A100 (past ~4.6 per byte of weight),
# else the rows do not move with them
START = {"launch.t0_us": 5.0, "engine.step_us": 200.0, "quant.int8_ops": 8.0,
         "quant.int4_ops": 4.0, "engine.prefill_step_us": 1000.0,
         "efficiency.kv_read": 0.8, "efficiency.gemv": 0.83, "launch.host_launch_us": 45.0,
         "launch.host_scale": 1.0}
GPU_WIDE = ("launch.t0_us",)
UPPER = {"efficiency.kv_read": 1.0, "efficiency.gemv": 1.0}


def residuals(cases: list[validate.Case], values: dict[str, float]) -> np.ndarray:
    out = []
    for c in cases:
        case = dataclasses.replace(c, overrides={**c.overrides, **values})
        out.append(math.log(validate.predict(case) / c.measured))
    return np.array(out)


def fit(cases: list[validate.Case], start: dict[str, float], iters: int = 4
        ) -> dict[str, float]:
    names = list(start)
    p = np.array([start[n] for n in names], dtype=float)
    for _ in range(iters):
        r = residuals(cases, dict(zip(names, p, strict=True)))
        J = np.empty((len(cases), len(names)))
        for j in range(len(names)):
            q = p.copy()
            q[j] *= 0.95  # a step down: efficiencies may sit at their bound 1
            J[:, j] = (residuals(cases, dict(zip(names, q, strict=True))) - r) / (q[j] - p[j])
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        p = np.clip(p + step, 1e-6, [UPPER.get(n, np.inf) for n in names])
    return dict(zip(names, (float(x) for x in p), strict=True))


def report(values: dict[str, float], group: list[validate.Case], rows: tuple[str, ...],
           prefix: str = "") -> None:
    """Print fitted ``values`` with the errors they leave on their ``rows``."""
    errs = residuals(group, values)
    print(f"{prefix}{', '.join(f'{k} = {v:.4g}' for k, v in values.items())}   on "
          f"{', '.join(rows)}: errors "
          f"{', '.join(f'{math.expm1(e) * 100:+.1f}%' for e in errs)}")


def main() -> int:
    cases, _ = validate.load_cases(validate.suite_file("gpu-e2e"))
    by_name = {c.name: c for c in cases}
    carried: dict[str | None, dict[str, float]] = {}  # engine -> values fitted so far
    gpu_wide: dict[str, float] = {}  # launch.t0_us: the GPU's, carried into every group
    for names, rows in validate.E2E_FITS:
        start = {n: START[n] for n in names}
        group = [by_name[r] for r in rows]
        assert all(c.fitted for c in group), f"{rows}: only rows marked fitted may be fitted"
        engine = group[0].engine
        group = [dataclasses.replace(c, overrides={**c.overrides, **gpu_wide,
                                                   **carried.get(engine, {})})
                 for c in group]
        values = fit(group, start)
        report(values, group, rows)
        carried.setdefault(engine, {}).update(values)
        gpu_wide.update({k: v for k, v in values.items() if k in GPU_WIDE})
    suites = {s: {c.name: c for c in validate.load_cases(validate.suite_file(s))[0]}
              for s in {s for s, _, _ in validate.HOST_FITS}}
    for suite, host, rows in validate.HOST_FITS:
        group = [suites[suite][r] for r in rows]
        assert all(c.fitted and c.host == host for c in group), \
            f"{rows}: only rows marked fitted, of host {host}, may be fitted"
        report(fit(group, {"launch.host_scale": START["launch.host_scale"]}), group, rows,
               f"{suite} host {host}: ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
