"""The speed goals of issue #12 (its table, measured on the 2-core machine) and how each
benchmark reports against them: the measured value, the goal, their ratio, OK or MISSED;
a script exits 1 when any goal it measures is missed (``--no-fail``: always 0, for an
informational run)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    label: str
    goal: float
    unit: str
    at_least: bool  # a rate to reach; else a time not to exceed


GOALS = {
    "run_warm": Goal("whole process, `run qwen3.5-9b` decode 4096, 2 targets, warm", 1.0,
                     "CPU-s", False),
    "run_cold": Goal("same, cold (empty caches)", 5.0, "CPU-s", False),
    "point_warm": Goal("in-process warm point (9B decode, 2 targets)", 0.02, "CPU-s", False),
    "sweep_warm": Goal("sweep, 200 points, warm, --jobs 2", 150.0, "points/s", True),
    "sweep_cold": Goal("sweep, 200 points, cold", 40.0, "points/s", True),
    "sim_rate": Goal("simulated instructions per host second (cold, SimPy)", 300_000.0,
                     "instr/CPU-s", True),
    "prefill_cold": Goal("cold 397B prefill 2048, 2 targets, simulation only", 2.0, "CPU-s",
                         False),
    "help": Goal("`codesign --help`", 0.3, "CPU-s", False),
}


def verdict(key: str, value: float) -> bool:
    """Print one goal's line; whether it is met."""
    g = GOALS[key]
    ok = value >= g.goal if g.at_least else value <= g.goal
    sign = ">=" if g.at_least else "<="
    print(f"{g.label}: {value:,.3g} {g.unit}, goal {sign} {g.goal:,.3g} {g.unit}, "
          f"ratio to goal {value / g.goal:.2f}: {'OK' if ok else 'MISSED'}", flush=True)
    return ok


def add_no_fail(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--no-fail", action="store_true",
                    help="exit 0 even when a goal is missed (report only)")


def exit_code(ok: bool, args: argparse.Namespace) -> int:
    return 0 if ok or args.no_fail else 1
