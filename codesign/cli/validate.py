"""``codesign validate``: predictions against published measurements."""

from __future__ import annotations

import argparse
from typing import Any

from codesign.cli._output import add_format_option, print_json, print_table

EXAMPLES = """examples:
  codesign validate                          the built-in GPU suite (gpu.md §2a, GEMMs)
  codesign validate --format json            one object per case, for programs
  codesign validate --cases mine.json        add cases measured with benchmarks/measure_gpu.py
  codesign validate --suite none --cases mine.json   only your own cases
  codesign validate --suite gpu-e2e          end-to-end cases (engines, generation)
  codesign validate --suite all              both suites

A row marked "fit" is in the fitting set of a constant (its engine preset names it); every
other row is a prediction. The last line gives the predicted rows' median and worst error.

exit status: 0 when every case is within its tolerance and every ranking holds, 1 otherwise.
"""


def register(sub: Any) -> None:
    from codesign import validate

    p = sub.add_parser(
        "validate", help="compare predictions with published measurements",
        description="For each measured case: the prediction, the measurement and the "
                    "error; then the mean and worst error.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="gpu", choices=[*validate.suites(), "all", "none"],
                   help="built-in case suite (default: gpu, the kernel cases; gpu-e2e: "
                        "published end-to-end serving measurements; all: both); none: "
                        "only --cases files")
    p.add_argument("--cases", action="append", default=[], metavar="FILE",
                   help="extra case file in the same format (repeatable)")
    add_format_option(p)
    p.set_defaults(func=run)


def _cell(v: Any, metric: str) -> str:
    if isinstance(v, str):
        return v
    if metric == "seconds":
        return f"{v * 1e6:.1f} us"
    if metric in ("ttft_s", "e2e_s"):
        return f"{v * 1e3:.1f} ms"
    if abs(v) < 10:  # ratios, mm^2, area shares, J/token: significant digits
        return f"{v:.3g}"
    return f"{v:.1f}"


def run(args: argparse.Namespace) -> int:
    from codesign import validate

    suite = None if args.suite == "none" else args.suite
    rows = validate.run(suite, args.cases)
    if args.format == "json":
        print_json(rows)
    else:
        table = [{
            "case": r["case"], "target": r["target"], "metric": r["metric"],
            "predicted": _cell(r["predicted"], r["metric"]),
            "measured": _cell(r["measured"], r["metric"]),
            "error": "" if r["error"] is None else f"{r['error'] * 100:+.1f}%",
            "use": "fit" if r["fitted"] else "predict",
            "status": ("info" if r["informational"] else "ok") if r["ok"] else "FAIL",
        } for r in rows]
        print_table(table)
        s = validate.summary(rows)
        print()
        if s["predicted"] < s["cases"]:
            info = f" ({s['informational']} informational left out)" \
                if s["informational"] else ""
            print(f"predicted rows: {s['predicted']}{info}, median |error| "
                  f"{s['predicted_median_abs_error'] * 100:.1f}%, worst "
                  f"{s['predicted_worst_abs_error'] * 100:.1f}%")
        print(f"{s['cases']} cases, {s['failed']} failed; mean |error| "
              f"{s['mean_abs_error'] * 100:.1f}%, worst {s['worst_abs_error'] * 100:.1f}% "
              f"({s['worst_case']})")
    return 1 if any(not r["ok"] for r in rows) else 0
