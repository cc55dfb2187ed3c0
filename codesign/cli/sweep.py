"""``codesign sweep``: run a design-space sweep spec (TOML) into a results directory."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codesign.cli._output import add_format_option, format_table, print_json
from codesign.sweep.spec import MAX_ROWS

EXAMPLES = """examples:
  codesign sweep experiments/sweep_vlen_dlen.toml -o runs/vlen_dlen --jobs 2
  codesign sweep experiments/sweep_context.toml -o runs/context --scheduler tcp://10.0.0.5:8786
  codesign sweep spec.toml --check             validate the spec and count the points only

The spec format (workloads, target, [axes], [set], [sampling], [derived]) is described in
codesign/sweep/spec.py; experiments/*.toml are real examples. Every error in a spec names
its line and the valid choices, before any work starts.

DIR gets traces/ (one trace per workload, extracted once), parts/ (a Parquet dataset: one
part file per finished batch, written atomically) and results.parquet (every row with the
derived metrics, written at the end). Running the same command again skips the finished
points, so an interrupted sweep resumes where it stopped. A finished row counts only if
its target's resolved config and its workload's trace (model config, scenario, versions)
are unchanged: after a preset or model change, the changed rows are timed again. A DIR
that holds another spec's results is refused unless --force. One sweep at a time writes a
DIR (DIR/.lock names its pid while it runs). A spec of more than --max-rows rows is refused
before any point is built; worker processes end with the sweep that started them.
"""

SHOWN_ROWS = 20


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="run a design-space sweep spec (resumable, parallel)",
        description="Time every point of a sweep spec (workloads x targets x config axes) "
                    "and write one row per (point, workload) to DIR as Parquet.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep spec")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="results directory (required unless --check); reruns resume")
    p.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="local worker processes (default: every CPU; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster (tcp://host:8786) instead")
    p.add_argument("--chunk", type=int, metavar="N",
                   help="points per batch and part file (default: about 8 batches per worker)")
    p.add_argument("--force", action="store_true",
                   help="run in a DIR that holds another spec's results (its matching "
                        "finished rows are reused; its results.parquet is replaced)")
    p.add_argument("--max-rows", type=int, metavar="N", default=MAX_ROWS,
                   help=f"refuse a spec of more than N rows (points x workloads; default "
                        f"{MAX_ROWS:,}), before building any point")
    p.add_argument("--check", action="store_true",
                   help="validate the spec, print its size, and run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from codesign.errors import CodesignError
    from codesign.sweep import load_spec, run_with_info

    spec = load_spec(args.spec, max_rows=args.max_rows)
    size = {"name": spec.name, "workloads": len(spec.workloads), "points": len(spec.points),
            "rows": len(spec.points) * len(spec.workloads), "skipped_invalid": spec.skipped,
            "axes": ["target", *spec.axis_paths], "derived": [d.name for d in spec.derived]}
    if args.check:
        if args.format == "json":
            print_json(size)
        else:
            print(f"{spec.source}: ok: {size['points']} points x {size['workloads']} "
                  f"workloads = {size['rows']} rows"
                  + (f" ({spec.skipped} invalid combinations skipped)" if spec.skipped else ""))
        return 0
    if not args.output:
        raise CodesignError("-o DIR is required (where the results and resume state go)")
    try:
        df, info = run_with_info(spec, out=args.output, jobs=args.jobs,
                                 scheduler=args.scheduler, chunk=args.chunk,
                                 progress=not args.no_progress, force=args.force,
                                 max_rows=args.max_rows)
    except KeyboardInterrupt:
        print(f"codesign sweep: interrupted; finished points are saved under {args.output}: "
              "run the same command again to resume", file=sys.stderr)
        return 130
    if args.format == "json":
        print_json({**size, "output": args.output, "resumed": info.resumed,
                    "computed": info.computed, "stale": info.stale, "seconds": info.seconds})
        return 0
    from codesign.sweep.spec import PHASE_LENGTHS

    lengths = [c for ph, cols in PHASE_LENGTHS.items() if (df["phase"] == ph).any()
               for c in cols]
    cols = ["model", "phase", "batch", *lengths, "target", *spec.axis_paths]
    shown = df[cols].copy()
    shown["latency_ms"] = df["latency_s"] * 1e3
    for d in spec.derived:
        shown[d.name] = df[d.name]
    print(f"sweep {spec.name}: {info.rows} rows ({info.computed} timed, {info.resumed} "
          f"already done) in {info.seconds:.1f} s")
    if info.stale:
        print(f"{info.stale} finished rows were computed from another config or model and "
              "were timed again")
    print(format_table(shown.head(SHOWN_ROWS)))
    if len(shown) > SHOWN_ROWS:
        print(f"... {len(shown) - SHOWN_ROWS} more rows")
    print(f"wrote {args.output}/results.parquet")
    return 0
