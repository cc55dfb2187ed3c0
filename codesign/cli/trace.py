"""``codesign trace``: extract a model's forward pass as semantic ops."""

from __future__ import annotations

import argparse

from codesign.cli._output import add_format_option, print_json, print_table
from codesign.errors import CodesignError
from codesign.outputs import check_output_file
from workloads.schema import PHASES, RELEASE_FORMAT, WEIGHT_OPTIONS, Trace


def add_scenario_options(p: argparse.ArgumentParser) -> None:
    """--phase/--batch/--seq/--context/--routing/--weight-dtype (shared with `run`)."""
    p.add_argument("--phase", choices=PHASES, default="prefill",
                   help="prefill (a prompt of --seq tokens) or decode (one new token "
                        "against --context cached tokens); default prefill")
    p.add_argument("--batch", type=int, default=1, help="sequences in the batch (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seq", type=int, help="prefill: prompt tokens per sequence (default 2048)")
    g.add_argument("--context", type=int,
                   help="decode: tokens already in the KV cache / recurrent state (default 4096)")
    p.add_argument("--routing", default="balanced",
                   help="MoE routing policy: balanced (default) or zipf:S[:SEED]")
    p.add_argument("--weight-dtype", choices=WEIGHT_OPTIONS, default=RELEASE_FORMAT,
                   help="dtype of the linear-layer weights (changes weight bytes); default "
                        "release: as the released checkpoint stores them (bf16; GPT-OSS's "
                        "experts mxfp4)")


def scenario_kwargs(args: argparse.Namespace) -> dict:
    return dict(phase=args.phase, batch=args.batch, seq=args.seq, context=args.context,
                routing=args.routing, weight_dtype=args.weight_dtype)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace", help="extract the operator trace of a forward pass",
        description="Run the transformers modeling code of MODEL shape-only (fake tensors, "
                    "no weights) and print its semantic ops by kind, GFLOP and GB moved.",
        epilog="examples:\n"
               "  codesign trace qwen3.5-9b --phase prefill --seq 2048\n"
               "  codesign trace qwen3.5-35b-a3b --phase decode --context 4096 "
               "--routing zipf:1.0 -o decode.parquet\n"
               "  codesign trace path/to/config.json --phase decode --batch 8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a name from `codesign models`, or a config.json path")
    add_scenario_options(p)
    p.add_argument("-o", "--output", help="save the trace as Parquet to this path")
    add_format_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from codesign.api import trace

    if args.output:
        check_output_file(args.output, "-o")  # before the (slow) extraction
    tr = trace(args.model, **scenario_kwargs(args))
    s = tr.summary()
    if args.format == "json":
        print_json({**s, "output": args.output})
        _save(tr, args.output)
        return 0
    sc = s["scenario"]
    length = f"seq={sc['seq']}" if sc["phase"] == "prefill" else f"context={sc['context']}"
    print(f"{s['model']} {sc['phase']} batch={sc['batch']} {length} "
          f"weights={sc['weight_dtype']} routing={sc['routing']}: {s['rows']} rows")
    rows = [{"kind": k, "ops": v["ops"], "gflop": v["gflop"], "gb": v["gb"]}
            for k, v in s["by_kind"].items()]
    rows.append({"kind": "total", "ops": sum(r["ops"] for r in rows),
                 "gflop": s["total_gflop"], "gb": s["total_gb"]})
    print_table(rows, floatfmt="{:.3f}")
    if _save(tr, args.output):
        print(f"saved {args.output}")
    return 0


def _save(tr: Trace, path: str | None) -> bool:
    """Save the trace if asked (after its summary is shown); a failed write is one line."""
    if not path:
        return False
    try:
        tr.save(path)
    except OSError as exc:
        raise CodesignError(f"cannot write {path!r} ({exc.strerror or exc})") from None
    return True
