"""``codesign density``: intelligence density, published scores against speed, energy and
memory, for several models on several targets (issue #13)."""

from __future__ import annotations

import argparse
from typing import Any

from codesign.cli._output import add_format_option, format_table, print_json

MODELS = ("qwen3.5-9b", "gpt-oss-120b")
TARGETS = ("c950-like", "c950-like+xattn", "h100-sxm", "b200")
SHOWN = ["model", "target", "phase", "tokens_per_s", "j_per_token", "memory_gb", "fits"]

EXAMPLES = """examples:
  codesign density                                  Qwen3.5-9B vs GPT-OSS-120B, 4 targets
  codesign density qwen3.5-9b gpt-oss-120b -t c950-like+xattn -t h100-sxm --context 32768
  codesign density -o out/density.html              the table, then an HTML report

Each model runs in its release format (GPT-OSS: MXFP4 experts), a prefill of --seq tokens
and a decode step at --context; scores come from workloads/quality.toml (each with its
source; a model without a published score shows NaN).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "density", help="intelligence density: published scores vs tokens/s, J/token, memory",
        description="Time each model's prefill and decode on each target and set its best "
                    "published benchmark score against speed, energy per token and memory.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help=f"registered models or config.json paths (default: {' '.join(MODELS)})")
    p.add_argument("--target", "-t", action="append", metavar="NAME",
                   help=f"target (repeatable; default: {', '.join(TARGETS)})")
    p.add_argument("--seq", type=int, default=2048, help="prefill tokens (default 2048)")
    p.add_argument("--context", type=int, default=4096,
                   help="decode: tokens in the KV cache (default 4096)")
    p.add_argument("--benchmark", default="GPQA Diamond",
                   help="the published score to use (default: GPQA Diamond)")
    p.add_argument("-o", "--report", metavar="report.html",
                   help="also write an HTML report of every result (with its density section)")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import codesign as cd
    from codesign import targets
    from codesign.outputs import check_output_file
    from codesign.report.density import density_table

    names = args.target or list(TARGETS)
    resolved = [targets.resolve(t) for t in names]  # unknown names fail before any work
    if args.report:
        check_output_file(args.report, "-o")
    from workloads.quality import best

    best("", args.benchmark)  # an unknown benchmark fails before any work
    results = []
    for model in args.models or MODELS:
        for phase, length in (("prefill", {"seq": args.seq}),
                              ("decode", {"context": args.context})):
            tr = cd.trace(model, phase=phase, **length)
            results += [t.simulate(tr) for t in resolved]
    table = density_table(results, args.benchmark)
    table["phase"] = [r.trace_meta["scenario"]["phase"] for r in results]
    cols = [*SHOWN, args.benchmark, f"{args.benchmark} per GB"]
    if args.format == "json":
        print_json(table[cols].to_dict(orient="records"))
    else:
        print(format_table(table[cols]))
    if args.report:
        from codesign.report import write_report
        from codesign.report.inputs import Inputs

        rep = write_report(Inputs(results=results, sources=["codesign density"]),
                           args.report, title="Intelligence density")
        if args.format == "table":
            print(f"wrote {args.report}: {len(rep.figures)} figures")
    return 0
