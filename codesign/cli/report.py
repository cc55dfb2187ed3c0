"""``codesign report``: one self-contained HTML page of figures from results and sweeps."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codesign.errors import CodesignError
from codesign.outputs import check_output_file

EXAMPLES = """examples:
  codesign run qwen3.5-9b --phase decode --context 4096 \\
      --target c950-like --target c950-like+xattn --target h100-sxm -o results.parquet
  codesign report results.*.parquet --baseline c950-like -o report.html
  codesign report results.c950-like.parquet results.h100-sxm.parquet -o report.html
  codesign sweep spec.toml -o sweep/
  codesign report sweep/ --cost "vector.dlen*cluster.cores" -o sweep.html

The baseline is the first result given unless --baseline names one; a shell glob sorts the
names (results.c950-like+xattn.parquet before results.c950-like.parquet), so with a glob
name the baseline: codesign report results.*.parquet --baseline c950-like -o report.html.
RESULTS are Result files written by `codesign run -o` and sweep outputs of `codesign sweep`
(a Parquet file or its output directory). Results of the same scenario are compared: the
speedup of each target over the baseline (the first, or --baseline), the latency breakdown
by op kind, a roofline and a per-layer timeline per target. --cost adds a Pareto front of
latency against an expression of config paths or sweep axes (+ - * / ** and log2, sqrt, min,
max), or `area` where an area model filled one. A sweep's section leads with its derived
speedups ([derived] of its spec) and its latency against the swept axis (context, seq,
batch, else a config axis): a line per target and config point, preset reference rows
kept; two config axes that vary add heatmaps of the speedup. A sweep that has not
finished (or is still running) is reported with a note and a line on stderr. Figures the
inputs cannot support are left out with a note in the page.
The page inlines plotly.js (about 5 MB), so it opens offline.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="plot results and sweeps into one HTML report",
        description="Write one self-contained HTML page of figures (speedup, latency "
                    "breakdown, roofline, Pareto front, heatmaps, timeline) from RESULTS.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="Result Parquet files (`codesign run -o`) or sweep outputs")
    p.add_argument("-o", "--output", required=True, metavar="report.html",
                   help="the HTML file to write")
    p.add_argument("--baseline", metavar="T",
                   help="target the speedups are relative to (default: the first result's)")
    p.add_argument("--cost", metavar="EXPR",
                   help="cost axis of the Pareto front: an expression over config paths or "
                        "sweep axes, e.g. 'vector.dlen*cluster.cores', or 'area'")
    p.add_argument("--title", metavar="TEXT", help="page title")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from codesign.report.page import write_report

    if not args.output.endswith((".html", ".htm")):
        raise CodesignError(f"-o {args.output!r}: the report is HTML; name it *.html")
    check_output_file(args.output, "-o")  # before loading and plotting the results
    report = write_report(args.results, args.output, baseline=args.baseline, cost=args.cost,
                          title=args.title)
    print(f"wrote {args.output}: {len(report.figures)} figures"
          + (f", {len(report.notes)} notes (figures left out and why, warnings: see "
             "the page)" if report.notes else ""))
    for note in report.incomplete:
        print(f"codesign report: warning: {note.rstrip('.')}", file=sys.stderr)
    if report.baselines and args.baseline is None:
        # a shell glob sorts names: results.c950-like+xattn.parquet comes before
        # results.c950-like.parquet, so say which target the speedups are relative to
        print(f"baseline: {', '.join(report.baselines)} (the first result given; "
              "--baseline T to choose)")
    return 0
