"""``codesign explore``: search a sweep's design space for the best points under constraints."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codesign.cli._output import add_format_option, format_table, print_json

EXAMPLES = """examples:
  codesign explore experiments/explore_edge.toml -o runs/edge --trials 200 --jobs 2
  codesign explore spec.toml -o runs/edge --scheduler tcp://10.0.0.5:8786

An explore spec is a sweep spec (workloads, target axis, [axes], [set]) plus an [explore]
table: trials, sampler (nsga2, tpe, random), population, seed, minimize = [...],
maximize = [...], constraints = ["decode.tokens_per_s >= 20", "fits_memory", ...] and
per_target = true (one search and one front per target, the trials shared out);
codesign/sweep/explore.py documents it. A point proposed again is not timed again and
does not count as a trial. Names are metric columns (qualified by the
workload's phase when there are several workloads) or swept axes.

DIR gets study.journal (Optuna's storage: rerunning the command resumes, and a trial that
was being timed when the search was killed is proposed again, so none is lost), traces/
and parts/ (as a sweep's), trials.parquet, pareto.parquet and results.parquet
(`codesign report DIR` draws it). When no trial satisfies the constraints, the command
says so, shows the closest trials and exits with status 1.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explore", help="multi-objective design-space search under constraints (resumable)",
        description="Search a sweep spec's space with a seeded multi-objective optimiser "
                    "(NSGA-II by default) and report the feasible Pareto front.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC.toml", help="the explore spec")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="results directory; rerunning resumes the search there")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials in all (default: the spec's [explore] trials)")
    p.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="local worker processes per generation (default: every CPU)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="time the trials on a Dask distributed cluster (tcp://host:8786)")
    p.add_argument("--force", action="store_true",
                   help="search in a DIR that holds another spec's results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from codesign.sweep.explore import explore, load_explore

    es = load_explore(args.spec)
    try:
        res = explore(es, args.output, trials=args.trials, jobs=args.jobs,
                      scheduler=args.scheduler, progress=not args.no_progress,
                      force=args.force)
    except KeyboardInterrupt:
        print(f"codesign explore: interrupted; finished trials are saved under "
              f"{args.output}: run the same command again to resume", file=sys.stderr)
        return 130
    objectives = [q.name for q, _ in es.objectives]
    if args.format == "json":
        print_json({"name": es.space.name, "trials": len(res.trials), "timed": res.timed,
                    "rejected": len(res.rejected), "repeats": res.repeats,
                    "per_target": es.per_target,
                    "feasible": int(res.trials["feasible"].sum()) if len(res.trials) else 0,
                    "seconds": res.seconds, "objectives": objectives,
                    "pareto": res.pareto.to_dict(orient="records")})
        return 0 if res.feasible else 1
    n_feasible = int(res.trials["feasible"].sum()) if len(res.trials) else 0
    rejected = f", {len(res.rejected)} more rejected by their config" if res.rejected else ""
    repeats = (f", {res.repeats} proposals of an earlier point not timed again"
               if res.repeats else "")
    front = "each target's Pareto front" if es.per_target else "the Pareto front"
    print(f"explore {es.space.name}: {len(res.trials)} trials timed ({res.timed} now{rejected}"
          f"{repeats}) in {res.seconds:.1f} s; {n_feasible} feasible, {len(res.pareto)} on "
          f"{front} of {', '.join(f'{d} {q.name}' for q, d in es.objectives)}")
    cols = list(dict.fromkeys(["trial", "target", *es.space.axis_paths, *objectives,
                               *(c.quantity.name for c in es.constraints)]))
    if not len(res.trials):
        print("no trial finished: every proposed point was rejected by its config"
              + (f" (e.g. {res.rejected[-1]})" if res.rejected else ""))
    elif not res.feasible:
        print("no trial satisfies the constraints: "
              + "; ".join(str(c) for c in es.constraints)
              + f". The closest trials{' of each target' if es.per_target else ''} "
                "(violation: the sum of each constraint's shortfall relative to its bound):")
        print(format_table(res.closest()[[*cols, "violation"]]))
    else:
        print(format_table(res.pareto[cols]))
    print(f"wrote {args.output}/trials.parquet, pareto.parquet and results.parquet")
    return 0 if res.feasible else 1

