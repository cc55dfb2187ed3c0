"""Fit the energy/area constants on the energy-suite cases marked ``fitted``.

    PYTHONPATH=. python benchmarks/fit_energy.py        # prints the fitted values

Each constant enters its case's metric linearly (area: a sum of parts; energy: a sum of
parts, efficiency its inverse; GPU power: idle + busy x active_w + tensor utilisation x
(TDP - idle - active_w) + DRAM, below the cap), so two evaluations solve it exactly.
Spatz's matmul efficiency and its FPUs' power share fit the FMA and clock energies together
(:func:`fit_joint`: two linear conditions in two constants). Order matters: the lane area
is fitted first (the C910 core and the leakage in the Spatz
energy use it); a fitted default carries into later fits on targets that have it.
The values printed are the ones codesign/riscv/config.py, the c950-like, h100-sxm and h200
presets hold;
every other case of the suite is a prediction and never enters a fit.

After the fits it prints, for each GPU serving-step case, the step's timeline bound: the share h
of the modelled step its host row takes (the GPU idles there), and the highest average
power any kernel power model capped at the limit can reach on that timeline,
(1 - h) x cap + h x idle, beside the power the case needs (a power case: its measured
watts; a J/token case: measured J/token x batch / the modelled step). A case needing more
than its bound is out of the power model's reach: its error is in the step's time.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesign import targets, validate
from codesign.errors import CodesignError

# (constant, case it is fitted on, metric is inverse in the constant's linear quantity,
# the constant is a config default carried into later fits; False: one preset's value,
# carried into later fits on the same target only)
FITS = (("area.fma_mm2_per_64b", "spatz-cluster-area", False, True),
        ("area.scalar_core_mm2", "c910-core-area", False, False),
        ("power.active_w", "mlenergy-llama3.1-8b-h100-b16-power", False, False),
        # the H200's board power on our own measurements (benchmarks/measure_gpu.py
        # --groups power): idle with the clocks up, then active_w on the 1 GB GEMV
        *((const, rows[0], False, False) for _, (const,), rows in validate.POWER_FITS))
SUITES = ("energy", "gpu-h200")
# Spatz's DP matmul gives two figures, its efficiency and its FPUs' share of the power:
# they fit the FMA energy (the share) and the clock energy per cycle (the rest) jointly
JOINT = ("energy.fma_pj_per_bit", "spatz-fpu-power-share",
         "energy.clock_pj_per_mm2_cycle", "spatz-dp-gflops-per-w")


def _accepts(target: str, const: str, value: float) -> bool:
    """Whether ``target``'s config has ``const`` (RISC-V constants do not carry into a GPU
    case)."""
    try:
        targets.resolve(target, {const: value})
    except CodesignError:
        return False
    return True


def main() -> None:
    cases = {c.name: c for suite in SUITES
             for c in validate.load_cases(validate.suite_file(suite))[0]}
    fitted: list[tuple[str, str, float]] = []  # (constant, target or "" for all, value)
    for const, name, inverse, carry in FITS:
        case = cases[name]
        carried = {k: v for k, tgt, v in fitted
                   if tgt in ("", case.target) and _accepts(case.target, k, v)}

        def at(x: float, case: validate.Case = case, const: str = const,
               inverse: bool = inverse, carried: dict[str, float] = carried) -> float:
            c = validate.Case(**{**case.__dict__,
                                 "overrides": {**case.overrides, **carried, const: x}})
            v = validate.predict(c)
            return 1.0 / v if inverse else v

        y1, y2 = at(1.0), at(2.0)
        target = 1.0 / case.measured if inverse else case.measured
        value = 1.0 + (target - y1) / (y2 - y1)
        fitted.append((const, "" if carry else case.target, value))
        print(f"{const} = {value:.4g}   (fitted on {name}: {case.measured})")
        if name == "c910-core-area":  # the joint fit's defaults carry into every later fit
            fitted.extend((k, "", v) for k, v in fit_joint(cases, {
                k: v for k, tgt, v in fitted if tgt == ""}).items())
    print()
    for case in cases.values():
        if case.probe in ("power_w", "j_per_token"):
            timeline_bound(case)


def fit_joint(cases: dict[str, validate.Case], fitted: dict[str, float]) -> dict[str, float]:
    """Solve :data:`JOINT`: the cluster energy is a x + c + d y in the FMA constant x and
    the clock constant y (per unit of the FLOPs F: a/F = s1/G1, c/F = (1 - s1)/G1 from
    x = 1, y = 0, where the share is s1 and the efficiency G1; d/F = 1/G2 - 1/G1 from
    y = 1); the measured share S and efficiency G give x = S G1 / (G s1) and
    y = ((1 - S)/G - c/F) / (d/F)."""
    fma, share_case, clock, eff_case = JOINT
    share, eff = cases[share_case], cases[eff_case]

    def at(case: validate.Case, y: float) -> float:
        c = validate.Case(**{**case.__dict__, "overrides": {
            **case.overrides, **fitted, fma: 1.0, clock: y}})
        return validate.predict(c)
    s1, g1, g2 = at(share, 0.0), at(eff, 0.0), at(eff, 1.0)
    a, c, d = s1 / g1, (1 - s1) / g1, 1 / g2 - 1 / g1
    x = share.measured / eff.measured / a
    y = ((1 - share.measured) / eff.measured - c) / d
    print(f"{fma} = {x:.4g}   (fitted on {share_case}: {share.measured})")
    print(f"{clock} = {y:.4g}   (fitted on {eff_case}: {eff.measured})")
    return {fma: x, clock: y}


def timeline_bound(case: validate.Case) -> None:
    """Print ``case``'s host share, its timeline's power bound and the power it needs
    (over the steps the steady state averages)."""
    from codesign import energy_cases
    p = case.params
    res = energy_cases.serving_step(case.target, case.overrides, p["model"], p["batch"],
                                    p["context"], p.get("engine"), p.get("prompt", 0),
                                    p.get("output", 0))
    host = 0.0
    for w, step in res.steps:
        ops = step.ops
        host += w * float((ops["seconds"] * ops["repeat"])[ops["kind"] == "host"].sum())
    h = host / res.seconds
    pw = targets.resolve(case.target, case.overrides).config.power
    bound = (1 - h) * pw.cap_w + h * pw.idle_w
    need = (case.measured if case.probe == "power_w"
            else case.measured * p["batch"] / res.seconds)
    print(f"{case.name}: step {res.seconds * 1e3:.2f} ms, host share {h:.1%}, "
          f"bound {bound:.0f} W, needs {need:.0f} W, predicted {res.power_w:.0f} W"
          + ("   (beyond the bound)" if need > bound else ""))


if __name__ == "__main__":
    main()
