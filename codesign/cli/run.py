"""``codesign run``: time a model (or a saved trace) on one or more targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign import targets
from codesign.cli import frozen_heap
from codesign.cli._output import add_format_option, print_json, print_table
from codesign.errors import CodesignError
from codesign.outputs import check_output_file

if TYPE_CHECKING:
    from codesign.result import MemoryUse, Result

EXAMPLES = """examples:
  codesign run qwen3.5-9b --target h100-sxm --phase decode --context 4096
  codesign run trace.parquet --target a100-80gb --target h100-sxm --target h200
  codesign run trace.parquet --target h100-sxm --set attention.implementation=fa2
  codesign run trace.parquet --target h100-sxm --target l4 -o results.parquet --format json
  codesign run qwen3.5-9b --phase generate --prompt 2048 --output 512 -t c950-like -t h100-sxm
  codesign run llama-2-7b --phase decode --context 128 --target a100-80gb --engine gpt-fast

--phase generate: one prefill of --prompt tokens, then decode steps until --output tokens
per sequence (the first comes from the prefill): time to first token (TTFT), time per
output token (mean and at the last step), end-to-end output tokens/s, and where the time
goes. Decode steps are timed at a few contexts and interpolated; bound_pct is the
documented bound on that interpolation's error, as a share of the end-to-end time.
--engine NAME: the serving engine GPU targets run (default vllm; `codesign targets` lists
them); RISC-V targets replay the trace as it is and ignore it.

The first --target is the baseline: speedup = its latency / each target's latency.
memory_gb is what the pass holds resident (weights, KV cache, recurrent state); fits says
whether that fits the target's memory (NO: the latency is of a model the target cannot hold;
"-": the target declares no capacity). --strict-memory refuses such a run before timing.
mj_per_token, power_w (average over the pass), tokens_per_j: the energy model's (RISC-V:
codesign.riscv.energy from the simulated work; GPU: codesign.gpu.power); area_mm2: the
RISC-V cluster's silicon (codesign.riscv.area; nan for GPUs). --format json adds energy_j,
energy_parts and area_parts.
--set applies to every target (see `codesign targets --fields TARGET` for the paths).
-o writes one Result Parquet per target (codesign.Result.load reads it): the given path
for a single target, and PATH with the target's name before the suffix
(results.h100-sxm.parquet) for several. The output paths are checked before any work;
each file is written atomically (temporary file, then rename), after every target has been
timed and the results printed.
"""

SCENARIO_OPTIONS = ("phase", "batch", "seq", "context", "routing", "weight_dtype",
                    "output_weight_dtype")
GENERATE_OPTIONS = ("prompt", "output")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="time a model or a saved trace on targets",
        description="Trace MODEL (or load TRACE.parquet) and time it on each --target: "
                    "latency, tokens/s and the speedup over the first target.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="MODEL|TRACE.parquet",
                   help="a model name (`codesign models`) or config.json path, or a trace "
                        "saved by `codesign trace` (a .parquet file)")
    p.add_argument("--target", "-t", action="append", required=True, metavar="T",
                   help="target name (repeatable; `codesign targets` lists them)")
    p.add_argument("--phase", choices=("prefill", "decode", "generate"),
                   help="default prefill; generate: prefill then decode steps (--prompt, "
                        "--output)")
    p.add_argument("--batch", type=int, metavar="N", help="sequences (default 1)")
    p.add_argument("--seq", type=int, metavar="N", help="prefill prompt tokens (default 2048)")
    p.add_argument("--context", type=int, metavar="N",
                   help="decode: tokens already in the KV cache (default 4096)")
    p.add_argument("--prompt", type=int, metavar="N",
                   help="generate: prompt tokens per sequence (default 2048)")
    p.add_argument("--output", type=int, metavar="N",
                   help="generate: output tokens per sequence (default 512)")
    p.add_argument("--engine", metavar="NAME",
                   help="serving engine of the GPU targets (default vllm; see `codesign "
                        "targets`)")
    p.add_argument("--routing", metavar="P", help="MoE routing policy (balanced, zipf:S[:SEED])")
    p.add_argument("--weight-dtype", metavar="D",
                   help="weight dtype (bf16, fp16, int8, int4, fp8, mxfp4, q4_0, q4_1, q8_0), or "
                        "release (the default): as the released checkpoint stores them (bf16; "
                        "GPT-OSS's routed experts mxfp4)")
    p.add_argument("--output-weight-dtype", metavar="D",
                   help="the output matrix's (lm_head) weight dtype when it differs from "
                        "--weight-dtype: a GGUF's q6_k or q8_0 beside q4_0 weights (llama.cpp's "
                        "quantiser); default: --weight-dtype")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="sets",
                   help="override a config field on every target (repeatable)")
    p.add_argument("--strict-memory", action="store_true",
                   help="refuse (exit 2) when the weights, KV cache and recurrent state "
                        "exceed a target's memory capacity, instead of flagging it")
    p.add_argument("-o", "--results", metavar="results.parquet", dest="save",
                   help="save each target's per-op Result (generate: its request) as Parquet")
    p.add_argument("--timeline", metavar="out.json",
                   help="write the simulated timeline as a Chrome/Perfetto trace (one "
                        "process per target; open in ui.perfetto.dev)")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="simulate the RISC-V targets cold in N processes first (default 1); "
                        "the results are the same, the wall time shorter")
    add_format_option(p)
    p.set_defaults(func=run)


def parse_sets(items: list[str]) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}``; a malformed item is an error."""
    out: dict[str, str] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise CodesignError(f"--set {item!r}: expected PATH=VALUE (e.g. memory.dram_gbps=4000)")
        out[path.strip()] = value.strip()
    return out


def load_trace(args: argparse.Namespace) -> Any:
    """The trace: loaded from a Parquet file, or extracted for a model name."""
    from workloads.schema import Trace

    given = {k: getattr(args, k) for k in SCENARIO_OPTIONS if getattr(args, k) is not None}
    for k in GENERATE_OPTIONS:
        if getattr(args, k) is not None:
            raise CodesignError(f"--{k} applies to --phase generate")
    src = args.source
    if src.endswith(".parquet"):
        if given:
            raise CodesignError(
                f"--{next(iter(given)).replace('_', '-')} applies to tracing a model; "
                f"{src!r} is a saved trace with its own scenario")
        return Trace.load(src)
    from codesign import api

    options = {k: v for k, v in given.items() if k not in ("phase", "batch", "seq", "context")}
    try:
        return api.trace(src, phase=given.get("phase", "prefill"), batch=given.get("batch", 1),
                         seq=given.get("seq"), context=given.get("context"), **options)
    except ImportError as exc:
        raise CodesignError(f"cannot trace {src!r}: trace extraction is unavailable ({exc})") \
            from None


def output_paths(path: str, names: list[str]) -> list[Path]:
    """Where -o writes each target's Result."""
    p = Path(path)
    if len(names) == 1:
        return [p]
    suffix = p.suffix or ".parquet"
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return [p.with_name(f"{stem}.{n}{suffix}") for n in names]


def target_overrides(name: str, overrides: dict[str, Any], engine: str | None
                     ) -> dict[str, Any]:
    """The overrides of one target: GPU targets also take the --engine."""
    if not engine:
        return overrides
    from codesign import gpu

    return {**overrides, "engine": engine} if gpu.owns(name) else overrides


def run(args: argparse.Namespace) -> int:
    from codesign.parallel import check_jobs, simulate_all

    check_jobs(args.jobs)
    overrides = parse_sets(args.sets)
    if len(set(args.target)) != len(args.target):
        raise CodesignError("a --target is given twice")
    resolved = [targets.resolve(t, target_overrides(t, overrides, args.engine))
                for t in args.target]  # fail fast on names
    if args.phase == "generate":
        return run_generate(args, overrides)
    saved = [check_output_file(p, "-o") for p in output_paths(args.save, args.target)] \
        if args.save else []
    if args.timeline:
        check_output_file(args.timeline, "--timeline")
    with frozen_heap():  # what loading the trace leaves (torch, transformers) is no garbage
        trace = load_trace(args)
    over = over_capacity(trace, resolved)
    if over and args.strict_memory:
        name, mem = over[0]
        more = f" (and {len(over) - 1} more targets)" if len(over) > 1 else ""
        raise CodesignError(f"--strict-memory: {trace.model} does not fit {name}: "
                            f"{mem.text()}{more}")
    results: list[Result] = simulate_all(trace, resolved, args.jobs)
    # the results are shown before anything is written: a failed write loses no numbers
    print_results(results, args.format)
    for name, mem in over:
        print(f"codesign run: warning: {trace.model} does not fit {name}: {mem.text()}; its "
              "latency is of a model the target cannot hold (--strict-memory refuses)",
              file=sys.stderr)
    for r in results:
        warn_unmodelled(r)
    if saved:
        for r, path in zip(results, saved, strict=True):
            r.save(path)
    if args.timeline:
        from codesign.report.timeline import write_chrome_trace

        write_chrome_trace(results, args.timeline)
    if args.format == "table":
        for path in saved:
            print(f"wrote {path}")
    return 0


def over_capacity(trace: Any, resolved: list[Any]) -> list[tuple[str, MemoryUse]]:
    """The targets whose memory cannot hold the traced pass, with what it needs."""
    from codesign.result import memory_use

    out = []
    for t in resolved:
        mem = memory_use(trace.meta, targets.capacity_bytes(t))
        if mem is not None and mem.fits is False:
            out.append((t.name, mem))
    return out


def _fits(s: dict[str, Any]) -> str:
    return {True: "yes", False: "NO"}.get(s["fits_memory"], "-")


# An op without a kernel is timed at its roofline bound (sim.missing_kernels = "roofline");
# a run says so when such ops hold at least this share of a target's busy time (the masks'
# integer and boolean ops every model has stay below it).
UNMODELLED_WARN_SHARE = 0.01


def warn_unmodelled(r: Result) -> None:
    share = r.unmodelled_share()
    if share < UNMODELLED_WARN_SHARE:
        return
    un = r.unmodelled()
    top = un.groupby("note")["total_seconds"].sum().sort_values(ascending=False)
    print(f"codesign run: warning: {r.target}: {share:.1%} of the busy time is ops timed at "
          f"their roofline bound, not simulated ({len(un)} op rows); the largest: "
          f"{top.index[0]}", file=sys.stderr)


def print_results(results: list[Result], fmt: str) -> None:
    """Each target's summary, with its speedup over the first target."""
    base = results[0].latency_s
    rows = []
    for r in results:
        s = r.summary()
        s["speedup"] = base / r.latency_s if r.latency_s > 0 else 0.0
        rows.append(s)
    if fmt == "json":
        print_json(rows)
        return
    first = rows[0]
    print(f"{first['model']}  {first['phase']}  batch={first['batch']}  "
          f"seq={first['seq']}  context={first['context']}")
    print_table([{
        "target": s["target"], "family": s["family"], "engine": s["engine"] or "-",
        "latency_ms": s["latency_s"] * 1e3, "tokens_per_s": s["tokens_per_s"],
        "speedup": s["speedup"],
        "memory_gb": s["memory_gb"] if s["memory_gb"] is not None else float("nan"),
        "fits": _fits(s),
        "top_kind": next(iter(s["seconds_by_kind"]), ""),
        **_energy_columns(s),
    } for s in rows])


def _energy_columns(s: dict[str, Any]) -> dict[str, Any]:
    """mJ per token, average W, tokens/J and mm^2 (nan where the target models none)."""
    def nan(v: float | None) -> float:
        return float("nan") if v is None else v
    return {"mj_per_token": nan(s["j_per_token"] and s["j_per_token"] * 1e3),
            "power_w": nan(s["power_w"]), "tokens_per_j": nan(s["tokens_per_j"]),
            "area_mm2": nan(s["area_mm2"])}


def run_generate(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """``--phase generate``: one request end to end on every target."""
    from codesign.generation import generate

    src = args.source
    if src.endswith(".parquet"):
        raise CodesignError(f"--phase generate traces a model; {src!r} is a saved trace")
    for flag, value in (("--seq", args.seq), ("--context", args.context),
                        ("--timeline", args.timeline)):
        if value is not None:
            raise CodesignError(f"{flag} does not apply to --phase generate (use --prompt "
                                "and --output; --timeline saves single passes)")
    saved = [check_output_file(p, "-o") for p in output_paths(args.save, args.target)] \
        if args.save else []
    options = {k: getattr(args, k) for k in ("routing", "weight_dtype", "output_weight_dtype")
               if getattr(args, k) is not None}
    prompt = 2048 if args.prompt is None else args.prompt
    output = 512 if args.output is None else args.output
    try:
        results = [generate(src, t, prompt=prompt, output=output, batch=args.batch or 1,
                            engine=args.engine, overrides=overrides, **options)
                   for t in args.target]
    except ImportError as exc:
        raise CodesignError(f"cannot trace {src!r}: trace extraction is unavailable ({exc})") \
            from None
    print_generate(results, args.format)
    for r, path in zip(results, saved, strict=False):
        r.save(path)
        if args.format == "table":
            print(f"wrote {path}")
    return 0


def print_generate(results: list[Any], fmt: str) -> None:
    """Each target's request: TTFT, TPOT, tokens/s, speedup over the first, breakdown."""
    rows = [r.summary() for r in results]
    base = rows[0]["e2e_s"]
    for s in rows:
        s["speedup"] = base / s["e2e_s"] if s["e2e_s"] > 0 else 0.0
    if fmt == "json":
        print_json(rows)
        return
    first = rows[0]
    print(f"{first['model']}  generate  batch={first['batch']}  prompt={first['prompt']}  "
          f"output={first['output']}")
    print_table([{
        "target": s["target"], "engine": s["engine"] or "-",
        "ttft_ms": s["ttft_s"] * 1e3, "tpot_ms": s["tpot_mean_s"] * 1e3,
        "tpot_last_ms": s["tpot_last_s"] * 1e3, "e2e_s": s["e2e_s"],
        "tokens_per_s": s["output_tokens_per_s"], "speedup": s["speedup"],
        "bound_pct": 100 * s["interpolation_bound_s"] / s["e2e_s"] if s["e2e_s"] else 0.0,
        "fits": _fits(s),
        **_energy_columns(s),
    } for s in rows])
    print("\nwhere the time goes (seconds over the request, share of end to end):")
    for s in rows:
        parts = [f"{k} {v:.4g} ({100 * v / s['e2e_s']:.0f}%)"
                 for k, v in list(s["seconds_by_kind"].items())[:6]]
        print(f"  {s['target']}: " + ", ".join(parts))
